/**
 * Fault injection for the local Mailjet server: the failures a client of Mailjet's REST API must survive
 * (header-less HTML 429s, 5xx, slow answers, a steady per-key rate limit, bulk jobs that fail), switched
 * on by a test or over HTTP. A faulted request is answered before it is authenticated or read, so it
 * stores nothing: to the client it is exactly a request Mailjet did not take.
 */
import { setTimeout as sleepMs } from 'node:timers/promises';
import { type Static, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

const countOnly = (description: string) =>
  Type.Object({ count: Type.Integer({ minimum: 0, description }) }, { additionalProperties: false });

export const faultSettingsSchema = Type.Object(
  {
    rateLimitNext: Type.Optional(countOnly('How many of the next API requests answer 429.')),
    failNext: Type.Optional(
      Type.Object(
        {
          count: Type.Integer({ minimum: 0, description: 'How many of the next API requests answer a 5xx.' }),
          status: Type.Optional(
            Type.Integer({ minimum: 500, maximum: 599, description: 'The status to answer (default 500).' }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    latencyMs: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 600_000, description: 'Added before every API request.' }),
    ),
    maxRequestsPerSecond: Type.Optional(
      Type.Union([Type.Integer({ minimum: 1 }), Type.Null()], {
        description: 'Requests per second and API key above which 429 is answered; null switches it off.',
      }),
    ),
    failJobsNext: Type.Optional(
      countOnly('How many of the next bulk jobs end in Status "Error" without storing anything.'),
    ),
  },
  { additionalProperties: false },
);

/** What POST /_local/faults and `FaultInjector.set` take. Absent fields keep their current value. */
export type FaultSettings = Static<typeof faultSettingsSchema>;

/** The faults in force right now, as GET/POST /_local/faults report them. */
export interface FaultState {
  rateLimitNext: { count: number };
  failNext: { count: number; status: number };
  latencyMs: number;
  maxRequestsPerSecond: number | null;
  failJobsNext: { count: number };
}

/** The answer to give instead of handling a request: 429 (always Mailjet's HTML page) or a JSON 5xx. */
export interface Fault {
  status: number;
  reason: string;
}

export interface FaultInjectorOptions {
  /** Clock for the steady rate limit's one-second windows; tests pass their own. */
  now?: () => number;
  /** How latency is waited for; tests pass one they release themselves, so nothing depends on speed. */
  sleep?: (ms: number) => Promise<unknown>;
}

/** Fails with a message listing every problem, so a wrong admin request says exactly what to fix. */
export function parseFaultSettings(input: unknown): FaultSettings {
  const problems = [...Value.Errors(faultSettingsSchema, input)].map(
    (error) => `${error.path || '(body)'}: ${error.message}`,
  );
  if (problems.length > 0) throw new TypeError(`Invalid fault settings: ${problems.join('; ')}`);
  return input as FaultSettings;
}

export class FaultInjector {
  readonly #now: () => number;
  readonly #sleep: (ms: number) => Promise<unknown>;
  #state: FaultState = initialState();
  /** One window per API key: Mailjet limits each key on its own. */
  #windows = new Map<string, { start: number; count: number }>();

  constructor(options: FaultInjectorOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#sleep = options.sleep ?? sleepMs;
  }

  /** Merges the given settings into the current ones; validates first, so a bad call changes nothing. */
  set(settings: FaultSettings): FaultState {
    const valid = parseFaultSettings(settings);
    const state = this.#state;
    if (valid.rateLimitNext) state.rateLimitNext = { count: valid.rateLimitNext.count };
    if (valid.failNext) {
      state.failNext = { count: valid.failNext.count, status: valid.failNext.status ?? 500 };
    }
    if (valid.latencyMs !== undefined) state.latencyMs = valid.latencyMs;
    if (valid.maxRequestsPerSecond !== undefined) {
      state.maxRequestsPerSecond = valid.maxRequestsPerSecond;
      this.#windows.clear();
    }
    if (valid.failJobsNext) state.failJobsNext = { count: valid.failJobsNext.count };
    return this.state();
  }

  clear(): void {
    this.#state = initialState();
    this.#windows.clear();
  }

  state(): FaultState {
    return structuredClone(this.#state);
  }

  /** Waits the configured latency, if any. */
  async delay(): Promise<void> {
    if (this.#state.latencyMs > 0) await this.#sleep(this.#state.latencyMs);
  }

  /**
   * Decides the fate of one API request: a fault to answer, or undefined to handle it. One-shot faults
   * come first (a test that queues "two 429s" gets exactly two), then the steady rate limit of the
   * request's API key (`''` when it sent none). Only requests that pass count towards a window.
   */
  take(apiKey: string): Fault | undefined {
    const { rateLimitNext, failNext, maxRequestsPerSecond } = this.#state;
    if (rateLimitNext.count > 0) {
      rateLimitNext.count -= 1;
      return { status: 429, reason: 'Injected fault: rate limited.' };
    }
    if (failNext.count > 0) {
      failNext.count -= 1;
      return { status: failNext.status, reason: `Injected fault: status ${failNext.status}.` };
    }
    if (maxRequestsPerSecond !== null) {
      const now = this.#now();
      let window = this.#windows.get(apiKey);
      if (!window || now - window.start >= 1000) {
        window = { start: now, count: 0 };
        this.#windows.set(apiKey, window);
      }
      if (window.count >= maxRequestsPerSecond) {
        return { status: 429, reason: `Rate limit of ${maxRequestsPerSecond} requests per second exceeded.` };
      }
      window.count += 1;
    }
    return undefined;
  }

  /** True when the bulk job being created must fail (uses up one `failJobsNext`). */
  takeJobFailure(): boolean {
    const { failJobsNext } = this.#state;
    if (failJobsNext.count === 0) return false;
    failJobsNext.count -= 1;
    return true;
  }
}

function initialState(): FaultState {
  return {
    rateLimitNext: { count: 0 },
    failNext: { count: 0, status: 500 },
    latencyMs: 0,
    maxRequestsPerSecond: null,
    failJobsNext: { count: 0 },
  };
}
