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
