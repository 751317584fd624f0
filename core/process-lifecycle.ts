/**
 * One lifecycle for the services' processes (ingress, connector, Mailjet destination):
 * - start: parts open in order, each registering how it closes; a start that fails closes what it had
 *   opened, in reverse, before the error goes on, so a caller that handles the error (a test, an
 *   embedding, `start` stopping the parts it already ran) is left with nothing open;
 * - stop, once however often asked: the process's own graceful steps (stop intake, finish what is in
 *   flight, commit) under one deadline, then everything opened closed in reverse (a consumer before the
 *   client it uses).
 */
import { deadline as startDeadline } from './deadline.ts';
import type { Logger } from './logger.ts';

export interface ShutdownDeadline {
  /** True when `work` finished before the deadline; false past it, or when it failed (logged as `what`). */
  within(work: Promise<unknown>, what: string): Promise<boolean>;
}

export interface ProcessLifecycle {
  /**
   * Aborted when a stop runs out of time: the parts made at start (a stage waiting on Segment or
   * Mailjet, a producer's send) take it, so waiting stops then and what was not committed comes again
   * after the restart.
   */
  deadline: AbortSignal;
  /** How something just opened closes: at the end of the stop, or at once if the start fails later. */
  closes(what: string, close: () => Promise<unknown>): void;
  /** Runs the start; if it throws, what was opened so far is closed (in reverse) and the error goes on. */
  start<T>(steps: () => Promise<T>): Promise<T>;
  /**
   * The stop: `drain` under one deadline of `timeoutMs`, then everything opened closed. Resolves
   * `drain`'s verdict (true: everything in flight finished), false once the deadline passed.
   */
  stop(timeoutMs: number, drain: (deadline: ShutdownDeadline) => Promise<boolean>): Promise<boolean>;
}

export function createProcessLifecycle(log: Logger): ProcessLifecycle {
  const opened: { what: string; close: () => Promise<unknown> }[] = [];
  const passed = new AbortController();
  let stopping: Promise<boolean> | undefined;
  const closeAll = async () => {
    for (let part = opened.pop(); part; part = opened.pop()) {
      await part.close().catch((err: unknown) => log.warn({ err }, `closing ${part?.what} failed`));
    }
  };
  return {
    deadline: passed.signal,
    closes(what, close) {
      opened.push({ what, close });
    },
    async start(steps) {
      try {
        return await steps();
      } catch (err) {
        await closeAll();
        throw err;
      }
    },
    stop(timeoutMs, drain) {
      stopping ??= (async () => {
        const time = startDeadline(timeoutMs, 'shutdown deadline');
        const expired = new Promise<false>((resolve) => {
          time.signal.addEventListener(
            'abort',
            () => {
              passed.abort(time.signal.reason);
              resolve(false);
            },
            { once: true },
          );
        });
        const within = (work: Promise<unknown>, what: string) =>
          Promise.race([
            work.then(
              () => true,
              (err: unknown) => {
                log.error({ err }, `${what} failed`);
                return false;
              },
            ),
            expired,
          ]);
        try {
          const clean = await drain({ within });
          return clean && !time.expired();
        } finally {
          time.release();
          await closeAll();
        }
      })();
      return stopping;
    },
  };
}
