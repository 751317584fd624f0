/**
 * The `--rate` cap: a token bucket holding at most one second of events, refilled continuously. A batch
 * takes as many tokens as it has events before it is handled; batches are cut to at most `capacity`
 * events, so one never waits for more tokens than the bucket can hold.
 */
import { setTimeout as sleepMs } from 'node:timers/promises';

export interface TokenBucket {
  /** Largest amount one `take` may ask for. */
  capacity: number;
  /** Resolves once `count` tokens were taken; rejects with the signal's reason when it aborts. */
  take(count: number, signal?: AbortSignal): Promise<void>;
}

export function createTokenBucket(
  ratePerSecond: number,
  clock: {
    now?: () => number;
    sleep?: (ms: number, signal?: AbortSignal) => Promise<unknown>;
  } = {},
): TokenBucket {
  const now = clock.now ?? (() => performance.now());
  const sleep = clock.sleep ?? ((ms: number, signal?: AbortSignal) => sleepMs(ms, undefined, { signal }));
  const capacity = Math.max(1, Math.floor(ratePerSecond));
  let tokens = capacity;
  let refilledAt = now();
  // Partitions handled concurrently queue here one after the other: first come, first served.
  let queue: Promise<void> = Promise.resolve();

  const refill = () => {
    const at = now();
    tokens = Math.min(capacity, tokens + ((at - refilledAt) / 1000) * ratePerSecond);
    refilledAt = at;
  };

  return {
    capacity,
    take(count, signal) {
      const wanted = Math.min(count, capacity);
      const turn = queue.then(async () => {
        refill();
        while (tokens < wanted) {
          signal?.throwIfAborted();
          await sleep(((wanted - tokens) / ratePerSecond) * 1000, signal);
          refill();
        }
        tokens -= wanted;
      });
      queue = turn.catch(() => {});
      return turn;
    },
  };
}
