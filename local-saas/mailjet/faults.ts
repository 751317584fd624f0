/**
 * Fault injection for the local Mailjet server: the failures a client of Mailjet's REST API must survive
 * (header-less HTML 429s, 5xx, slow answers, a steady per-key rate limit, bulk jobs that fail), switched
 * on by a test or over HTTP. A faulted request is answered before it is authenticated or read, so it
 * stores nothing: to the client it is exactly a request Mailjet did not take. Slow answers come in two
 * kinds: `latencyMs` waits before the request is handled (a client that gives up first stored nothing),
 * `answerLatencyMs` after (the write is stored even when the client gave up waiting, as Mailjet does).
 */
import { type Static, Type } from '@sinclair/typebox';
import { type FaultClock, RateWindows, takeOne, validateFaultSettings, waitLatency } from '../fault-kit.ts';

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
    answerLatencyMs: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 600_000,
        description:
          'Added after every API request is handled, before its answer: a client that times out meanwhile finds its write stored.',
      }),
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
  answerLatencyMs: number;
  maxRequestsPerSecond: number | null;
  failJobsNext: { count: number };
}

/** The answer to give instead of handling a request: 429 (always Mailjet's HTML page) or a JSON 5xx. */
export interface Fault {
  status: number;
  reason: string;
}

export type FaultInjectorOptions = FaultClock;

export function parseFaultSettings(input: unknown): FaultSettings {
  return validateFaultSettings(faultSettingsSchema, input);
}

export class FaultInjector {
  readonly #clock: FaultClock;
  /** One window per API key: Mailjet limits each key on its own. */
  readonly #windows: RateWindows;
  #state: FaultState = initialState();

  constructor(options: FaultInjectorOptions = {}) {
    this.#clock = options;
    this.#windows = new RateWindows(options);
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
    if (valid.answerLatencyMs !== undefined) state.answerLatencyMs = valid.answerLatencyMs;
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
    await waitLatency(this.#clock, this.#state.latencyMs);
  }

  /** Waits the configured answer latency, if any: the request is handled, its answer not sent yet. */
  async delayAnswer(): Promise<void> {
    await waitLatency(this.#clock, this.#state.answerLatencyMs);
  }

  /**
   * Decides the fate of one API request: a fault to answer, or undefined to handle it. One-shot faults
   * come first (a test that queues "two 429s" gets exactly two), then the steady rate limit of the
   * request's API key (`''` when it sent none). Only requests that pass count towards a window.
   */
  take(apiKey: string): Fault | undefined {
    const { rateLimitNext, failNext, maxRequestsPerSecond } = this.#state;
    if (takeOne(rateLimitNext)) return { status: 429, reason: 'Injected fault: rate limited.' };
    if (takeOne(failNext)) {
      return { status: failNext.status, reason: `Injected fault: status ${failNext.status}.` };
    }
    if (maxRequestsPerSecond !== null && this.#windows.admit(apiKey, maxRequestsPerSecond) !== undefined) {
      return { status: 429, reason: `Rate limit of ${maxRequestsPerSecond} requests per second exceeded.` };
    }
    return undefined;
  }

  /** True when the bulk job being created must fail (uses up one `failJobsNext`). */
  takeJobFailure(): boolean {
    return takeOne(this.#state.failJobsNext);
  }
}

function initialState(): FaultState {
  return {
    rateLimitNext: { count: 0 },
    failNext: { count: 0, status: 500 },
    latencyMs: 0,
    answerLatencyMs: 0,
    maxRequestsPerSecond: null,
    failJobsNext: { count: 0 },
  };
}
