/**
 * What the fault injectors of the local SaaS servers share: settings validated with every problem named,
 * one-shot counters, latency through an injectable sleep, and the steady rate limit's one-second windows
 * through an injectable clock (so tests never depend on speed).
 */
import { setTimeout as sleepMs } from 'node:timers/promises';
import type { Static, TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

export interface FaultClock {
  /** Clock for the steady rate limit's one-second windows; tests pass their own. */
  now?: () => number;
  /** How latency is waited for; tests pass one they release themselves. */
  sleep?: (ms: number) => Promise<unknown>;
}

/** Fails with a message listing every problem, so a wrong admin request says exactly what to fix. */
export function validateFaultSettings<T extends TSchema>(schema: T, input: unknown): Static<T> {
  const problems = [...Value.Errors(schema, input)].map(
    (error) => `${error.path || '(body)'}: ${error.message}`,
  );
  if (problems.length > 0) throw new TypeError(`Invalid fault settings: ${problems.join('; ')}`);
  return input as Static<T>;
}

/** Uses up one of a "next N requests" fault; false once none is left. */
export function takeOne(counter: { count: number }): boolean {
  if (counter.count === 0) return false;
  counter.count -= 1;
  return true;
}

export function waitLatency(clock: FaultClock, latencyMs: number): Promise<unknown> | undefined {
  return latencyMs > 0 ? (clock.sleep ?? sleepMs)(latencyMs) : undefined;
}

/** Fixed one-second windows per key (an API key, or one shared key); only admitted requests count. */
export class RateWindows {
  readonly #now: () => number;
  readonly #windows = new Map<string, { start: number; count: number }>();

  constructor(clock: FaultClock = {}) {
    this.#now = clock.now ?? Date.now;
  }

  /** Undefined when the request is admitted; else the milliseconds until its key's window ends. */
  admit(key: string, maxPerSecond: number): number | undefined {
    const now = this.#now();
    let window = this.#windows.get(key);
    if (!window || now - window.start >= 1000) {
      window = { start: now, count: 0 };
      this.#windows.set(key, window);
    }
    if (window.count >= maxPerSecond) return window.start + 1000 - now;
    window.count += 1;
    return undefined;
  }

  clear(): void {
    this.#windows.clear();
  }
}
