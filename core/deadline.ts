/**
 * A deadline for one piece of work: a signal that aborts after `ms`, released as soon as the work
 * settled. Not AbortSignal.timeout: its signal and timer stay alive for the whole delay whatever
 * happens, so an intake answering thousands of requests a second with a 10 s ack timeout keeps tens of
 * thousands of them alive, in heap and RSS, and as work for the garbage collector.
 */
export interface Deadline {
  signal: AbortSignal;
  /** True once the time ran out (as opposed to an abort of a signal it was combined with). */
  expired(): boolean;
  /** Stops the timer; call it once the work settled, success or not. */
  release(): void;
}

export function deadline(ms: number, message = `No answer within ${ms} ms.`): Deadline {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException(message, 'TimeoutError')), ms);
  return {
    signal: controller.signal,
    expired: () => controller.signal.aborted,
    release: () => clearTimeout(timer),
  };
}

/**
 * `work`'s outcome, or `late()`'s if `ms` passed first (what it returns, or throws). The timer is cleared
 * as soon as `work` settled, not kept for the whole delay as a race with a plain sleep would; a later
 * rejection of `work` is handled (by the race), never left unhandled.
 */
export async function settleWithin<T>(work: Promise<T>, ms: number, late: () => T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<T>((resolve, reject) => {
    timer = setTimeout(() => {
      try {
        resolve(late());
      } catch (err) {
        reject(err);
      }
    }, ms);
  });
  try {
    return await Promise.race([work, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
