/**
 * A rate cap (replay's `--rate`, the destination's MAILJET_MAX_REQUESTS_PER_SECOND): a token bucket
 * holding at most one second of tokens, refilled continuously. A replay batch takes as many tokens as it
 * has events before it is handled; a Mailjet request takes one. A full bucket lets one second of events
 * through at once (the burst), then events pass at the rate; an idle bucket never saves up more than
 * that one second, so a pause is not followed by a burst above it.
 */
import { setTimeout as sleepMs } from 'node:timers/promises';

/** Where the bucket reads the time and waits: the real clock, or a test's. */
export interface TokenBucketClock {
  /** Milliseconds, monotonic. */
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<unknown>;
}

export interface TokenBucket {
  /** Most events the bucket lets through at once: one second of them, at least one. */
  capacity: number;
  /**
   * Resolves once `count` tokens were taken; rejects with the signal's reason when it aborts. A count
   * above the capacity is taken in pieces of at most the capacity, so it waits as long as the rate says.
   */
  take(count: number, signal?: AbortSignal): Promise<void>;
}

export const realClock: TokenBucketClock = {
  now: () => performance.now(),
  sleep: (ms, signal) => sleepMs(ms, undefined, { signal }),
};

export function createTokenBucket(ratePerSecond: number, clock: TokenBucketClock = realClock): TokenBucket {
  const capacity = Math.max(1, Math.floor(ratePerSecond));
  let tokens = capacity;
  let refilledAt = clock.now();
  // Partitions handled concurrently queue here one after the other: first come, first served.
  let queue: Promise<void> = Promise.resolve();

  const refill = () => {
    const at = clock.now();
    tokens = Math.min(capacity, tokens + ((at - refilledAt) / 1000) * ratePerSecond);
    refilledAt = at;
  };

  return {
    capacity,
    take(count, signal) {
      const turn = queue.then(async () => {
        for (let left = count; left > 0; ) {
          const wanted = Math.min(left, capacity);
          refill();
          // The refill after a wait can fall short by a rounding error; that is not worth another wait.
          while (tokens < wanted - 1e-9) {
            signal?.throwIfAborted();
            await clock.sleep(((wanted - tokens) / ratePerSecond) * 1000, signal);
            refill();
          }
          tokens = Math.max(0, tokens - wanted);
          left -= wanted;
        }
      });
      queue = turn.catch(() => {});
      return turn;
    },
  };
}
