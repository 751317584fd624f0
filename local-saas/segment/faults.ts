/**
 * Fault injection for the local Segment server: the failures a client of Segment's HTTP API must survive
 * (429 with Retry-After, 5xx, slow answers, a steady rate limit, chosen events refused with 400),
 * switched on by a test or over HTTP.
 * A faulted request is answered before it is authenticated or its events are read, so it never records
 * events: to the client it is exactly a request Segment did not take.
 */
import { type Static, Type } from '@sinclair/typebox';
import { type FaultClock, RateWindows, takeOne, validateFaultSettings, waitLatency } from '../fault-kit.ts';

export const faultSettingsSchema = Type.Object(
  {
    rateLimitNext: Type.Optional(
      Type.Object(
        {
          count: Type.Integer({ minimum: 0, description: 'How many of the next requests answer 429.' }),
          retryAfterSeconds: Type.Optional(
            Type.Integer({
              minimum: 0,
              maximum: 3600,
              description: 'Value of the Retry-After and X-RateLimit-Reset headers (default 1).',
            }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    failNext: Type.Optional(
      Type.Object(
        {
          count: Type.Integer({ minimum: 0, description: 'How many of the next requests answer a 5xx.' }),
          status: Type.Optional(
            Type.Integer({ minimum: 500, maximum: 599, description: 'The status to answer (default 503).' }),
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
        description: 'Requests per second above which 429 is answered; null switches it off.',
      }),
    ),
    refuseEvents: Type.Optional(
      Type.Union(
        [
          Type.Object(
            {
              property: Type.String({
                minLength: 1,
                description: 'Name of the event property to look at, e.g. "message_id".',
              }),
              values: Type.Array(Type.String(), {
                description: 'Values of that property that make Segment refuse the event.',
              }),
            },
            { additionalProperties: false },
          ),
          Type.Null(),
        ],
        {
          description:
            'A request holding an event whose properties[property] is one of values answers 400, as Segment answers a request it will never take; null switches it off.',
        },
      ),
    ),
  },
  { additionalProperties: false },
);

/** What POST /_local/faults and `FaultInjector.set` take. Absent fields keep their current value. */
export type FaultSettings = Static<typeof faultSettingsSchema>;

/** The faults in force right now, as GET/POST /_local/faults report them. */
export interface FaultState {
  rateLimitNext: { count: number; retryAfterSeconds: number };
  failNext: { count: number; status: number };
  latencyMs: number;
  maxRequestsPerSecond: number | null;
  refuseEvents: { property: string; values: string[] } | null;
}

/** The answer to give instead of handling a request. */
export interface Fault {
  status: number;
  headers: Record<string, string>;
  message: string;
}

export type FaultInjectorOptions = FaultClock;

export function parseFaultSettings(input: unknown): FaultSettings {
  return validateFaultSettings(faultSettingsSchema, input);
}

export class FaultInjector {
  readonly #clock: FaultClock;
  readonly #windows: RateWindows;
  #state: FaultState = initialState();
  /** refuseEvents.values, looked up once per event. */
  #refused = new Set<string>();

  constructor(options: FaultInjectorOptions = {}) {
    this.#clock = options;
    this.#windows = new RateWindows(options);
  }

  /** Merges the given settings into the current ones; validates first, so a bad call changes nothing. */
  set(settings: FaultSettings): FaultState {
    const valid = parseFaultSettings(settings);
    const state = this.#state;
    if (valid.rateLimitNext) {
      state.rateLimitNext = {
        count: valid.rateLimitNext.count,
        retryAfterSeconds: valid.rateLimitNext.retryAfterSeconds ?? 1,
      };
    }
    if (valid.failNext) {
      state.failNext = { count: valid.failNext.count, status: valid.failNext.status ?? 503 };
    }
    if (valid.latencyMs !== undefined) state.latencyMs = valid.latencyMs;
    if (valid.maxRequestsPerSecond !== undefined) state.maxRequestsPerSecond = valid.maxRequestsPerSecond;
    if (valid.refuseEvents !== undefined) {
      state.refuseEvents = valid.refuseEvents && { ...valid.refuseEvents };
      this.#refused = new Set(valid.refuseEvents?.values);
    }
    return this.state();
  }

  clear(): void {
    this.#state = initialState();
    this.#refused.clear();
    this.#windows.clear();
  }

  state(): FaultState {
    return structuredClone(this.#state);
  }

  /** Waits the configured latency, if any. */
  async delay(): Promise<void> {
    await waitLatency(this.#clock, this.#state.latencyMs);
  }

  /**
   * Decides the fate of one request: a fault to answer, or undefined to handle it. One-shot faults come
   * first (a test that queues "two 429s" gets exactly two), then the steady rate limit. Only requests
   * that pass count towards the rate limit's window, as only those reach Segment's pipeline.
   */
  take(): Fault | undefined {
    const { rateLimitNext, failNext, maxRequestsPerSecond } = this.#state;
    if (takeOne(rateLimitNext)) {
      return rateLimited(rateLimitNext.retryAfterSeconds, 'Injected fault: rate limited.');
    }
    if (takeOne(failNext)) {
      return { status: failNext.status, headers: {}, message: `Injected fault: status ${failNext.status}.` };
    }
    if (maxRequestsPerSecond !== null) {
      const waitMs = this.#windows.admit('', maxRequestsPerSecond);
      if (waitMs !== undefined) {
        const seconds = Math.max(1, Math.ceil(waitMs / 1000));
        return rateLimited(seconds, `Rate limit of ${maxRequestsPerSecond} requests per second exceeded.`);
      }
    }
    return undefined;
  }

  /**
   * The fault for a request holding `events`, once it is read and authenticated: 400 when one of them is
   * an event chosen to be refused. The whole request is refused, as Segment does, so a client must find
   * the event itself (the connector bisects) and set it aside.
   */
  refusal(events: readonly unknown[]): Fault | undefined {
    const rule = this.#state.refuseEvents;
    if (!rule) return undefined;
    const index = events.findIndex((event) => {
      const value = (event as { properties?: Record<string, unknown> } | null)?.properties?.[rule.property];
      return typeof value === 'string' && this.#refused.has(value);
    });
    if (index < 0) return undefined;
    return {
      status: 400,
      headers: {},
      message: `Injected fault: event ${index} is refused (properties.${rule.property} is chosen).`,
    };
  }
}

/**
 * Segment's HTTP API doc says a 429 carries `Retry-After` and `X-RateLimit-Reset`, both holding "the
 * number of seconds after which you can retry", so both get the same number of seconds (not an epoch).
 */
function rateLimited(seconds: number, message: string): Fault {
  return {
    status: 429,
    headers: { 'retry-after': String(seconds), 'x-ratelimit-reset': String(seconds) },
    message,
  };
}

function initialState(): FaultState {
  return {
    rateLimitNext: { count: 0, retryAfterSeconds: 1 },
    failNext: { count: 0, status: 503 },
    latencyMs: 0,
    maxRequestsPerSecond: null,
    refuseEvents: null,
  };
}
