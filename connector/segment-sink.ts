/**
 * The Segment sink: delivers track calls to Segment's `POST /v1/batch`, and resolves only once every
 * call of a `deliver` was accepted by Segment or finally rejected. The consumer commits offsets after
 * that and never before, so nothing is lost, and it does not fetch while it waits, so memory stays flat
 * while Segment is down (back-pressure instead of buffering).
 *
 * Why our own small client and not @segment/analytics-node: analytics-node queues events in its own
 * memory and sends them on its own schedule, so a Segment outage grows that queue; it gives up after
 * `maxRetries` or `maxTotalBackoffDuration` and then only reports failures per event; it fails a whole
 * batch on 400 without finding the bad event; and it has no "this batch, delivered" promise to commit
 * offsets on. Here a `deliver` call owns its events until the outcome is known, retries until Segment
 * takes them (or the caller aborts), and bisects a refused batch down to the event Segment refuses.
 */
import { Buffer } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleepMs } from 'node:timers/promises';
import { deadline } from '../core/deadline.ts';
import { ConnectorError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { answerExcerpt, fullJitterDelay } from '../core/saas-http.ts';

/** A Segment call as the mapping builds it: plain JSON with a deterministic `messageId`. */
export interface SegmentEvent {
  [field: string]: unknown;
  messageId: string;
}

export type SegmentRejectionCode = 'SEGMENT_EVENT_TOO_LARGE' | 'SEGMENT_REJECTED' | 'UNMAPPABLE_EVENT';

export interface DeliveryReport {
  /** Events Segment answered 2xx to. */
  delivered: number;
  /** Events that will never be accepted as they are; the caller dead-letters them. */
  rejected: { event: SegmentEvent; code: SegmentRejectionCode; message: string }[];
}

export interface SegmentSink {
  /**
   * Sends `events` in order, in as few requests as Segment's limits allow, one request at a time.
   * Resolves when each event is delivered or rejected. Rejects with `signal.reason` when aborted, with
   * SEGMENT_AUTH_FAILED on 401/403, or with SEGMENT_UNAVAILABLE once `retry.maxElapsedMs` has passed;
   * then some events may already be in Segment, and redelivering them is harmless (messageId dedupe).
   * Calls for different partitions may run concurrently.
   */
  deliver(events: SegmentEvent[], signal?: AbortSignal): Promise<DeliveryReport>;
}

export interface SegmentSinkOptions {
  /** Base URL; `/v1/batch` is appended. EU workspaces: https://events.eu1.segmentapis.com. */
  endpoint?: string;
  /** Write key of a Segment HTTP API source. Sent only in the Authorization header. */
  writeKey: string;
  /** Events per request, at most 2,500: Segment answers 200 to larger batches and drops the events. */
  maxBatchEvents?: number;
  /** UTF-8 bytes of a whole request body, envelope included. */
  maxBatchBytes?: number;
  /** UTF-8 bytes of one event's JSON; larger events are rejected without being sent. */
  maxEventBytes?: number;
  /** One HTTP attempt, answer body included; past it the attempt counts as a network error. */
  requestTimeoutMs?: number;
  retry?: {
    /** Cap of the first backoff; it doubles per failed attempt of the same request. */
    initialDelayMs?: number;
    /** Cap of the backoff after failures (5xx, timeouts, network errors). */
    maxDelayMs?: number;
    /**
     * Cap of a 429's Retry-After, which is honoured up to this (as analytics-node does, 5 minutes): the
     * rate limit is Segment's to set, the backoff cap is ours.
     */
    maxRetryAfterMs?: number;
    /** Give up with SEGMENT_UNAVAILABLE once a request has failed for this long. */
    maxElapsedMs?: number;
  };
  logger: Logger;
  /** Called after every HTTP attempt, for metrics: the status (or 'error'), events sent, duration. */
  onRequest?: (status: number | 'error', events: number, seconds: number) => void;
  fetch?: typeof fetch;
  /** How backoff waits; must reject (or return early) when `signal` aborts. Tests record the delays. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<unknown>;
  /** Jitter source in [0, 1); tests pass their own. */
  random?: () => number;
  /** Clock for `maxElapsedMs`; tests pass one their `sleep` advances. */
  now?: () => number;
}

export const segmentEndpoints = {
  default: 'https://api.segment.io',
  eu: 'https://events.eu1.segmentapis.com',
} as const;

const segmentMaxBatchEvents = 2500;
/**
 * Segment documents 500 KB per batch request without saying whether a KB is 1,000 or 1,024 bytes.
 * 480 × 1024 = 491,520 fits either reading; it is analytics-node's guard too, proven in production.
 * Unlike analytics-node we count the envelope (`{"batch":[…],"sentAt":"…"}`) in it, exactly.
 */
const defaultMaxBatchBytes = 480 * 1024;
const defaultMaxEventBytes = 32 * 1024;
const answerExcerptChars = 1024;
const userAgent = 'mailjet-connector (segment-sink)';

// The body is `{"batch":[` + events joined by commas + `],"sentAt":"` + ISO time + `"}`. An ISO time from
// Date#toISOString is always 24 ASCII characters, so a body's size is known before sentAt is.
const envelopeBytes = Buffer.byteLength('{"batch":[],"sentAt":""}') + '2000-01-01T00:00:00.000Z'.length;

/** Events to send in one request and their JSON, serialised once and reused on every attempt. */
interface Chunk {
  events: SegmentEvent[];
  json: string[];
}

type Answer = { status: number; body: string; retryAfter: string | null } | { error: unknown };

export function createSegmentSink(options: SegmentSinkOptions): SegmentSink {
  const {
    writeKey,
    logger,
    onRequest,
    maxBatchEvents = segmentMaxBatchEvents,
    maxBatchBytes = defaultMaxBatchBytes,
    maxEventBytes = defaultMaxEventBytes,
    requestTimeoutMs = 10_000,
    fetch: fetchFn = globalThis.fetch,
    sleep = (ms: number, signal?: AbortSignal) => sleepMs(ms, undefined, { signal }),
    random = Math.random,
    now = Date.now,
  } = options;
  const {
    initialDelayMs = 500,
    maxDelayMs = 60_000,
    maxRetryAfterMs = 300_000,
    maxElapsedMs = Number.POSITIVE_INFINITY,
  } = options.retry ?? {};
  if (typeof writeKey !== 'string' || writeKey === '') {
    throw new TypeError('createSegmentSink needs a non-empty writeKey.');
  }
  if (!Number.isInteger(maxBatchEvents) || maxBatchEvents < 1 || maxBatchEvents > segmentMaxBatchEvents) {
    throw new RangeError(`maxBatchEvents must be an integer from 1 to ${segmentMaxBatchEvents}.`);
  }
  if (!(maxEventBytes > 0) || envelopeBytes + maxEventBytes > maxBatchBytes) {
    throw new RangeError('maxBatchBytes must leave room for the envelope and one event of maxEventBytes.');
  }
  const endpoint = (options.endpoint ?? segmentEndpoints.default).replace(/\/+$/, '');
  const url = new URL(`${endpoint}/v1/batch`).href;
  const headers = {
    authorization: `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`,
    'content-type': 'application/json',
    'user-agent': userAgent,
  };
  const log = logger.child({ component: 'segment-sink' });

  /** Splits events into requests within both limits, in order; oversize events are reported instead. */
  function* chunks(events: SegmentEvent[], report: DeliveryReport): Generator<Chunk> {
    let chunk: Chunk = { events: [], json: [] };
    let bytes = envelopeBytes - 1;
    for (const event of events) {
      let json: string;
      try {
        json = JSON.stringify(event);
      } catch (err) {
        // V8's JSON.stringify recurses: a field nested thousands of levels deep overflows the call
        // stack. Such an event can never be sent, and must not take its batch (and the consumer) down.
        report.rejected.push({
          event,
          code: 'UNMAPPABLE_EVENT',
          message: `The Segment call cannot be written as JSON (a field nested too deep?): ${(err as Error).name}: ${(err as Error).message}`,
        });
        continue;
      }
      const size = Buffer.byteLength(json);
      if (size > maxEventBytes) {
        report.rejected.push({
          event,
          code: 'SEGMENT_EVENT_TOO_LARGE',
          message: `The event is ${size} bytes of JSON; Segment accepts at most ${maxEventBytes}.`,
        });
        continue;
      }
      // Every event after the first adds a comma.
      if (chunk.events.length === maxBatchEvents || bytes + 1 + size > maxBatchBytes) {
        yield chunk;
        chunk = { events: [], json: [] };
        bytes = envelopeBytes - 1;
      }
      bytes += 1 + size;
      chunk.events.push(event);
      chunk.json.push(json);
    }
    if (chunk.events.length > 0) yield chunk;
  }

  /** One HTTP attempt. Only the caller's abort escapes as an exception; everything else is an answer. */
  async function post(chunk: Chunk, signal: AbortSignal | undefined): Promise<Answer> {
    const body = `{"batch":[${chunk.json.join(',')}],"sentAt":"${new Date().toISOString()}"}`;
    const timeout = deadline(requestTimeoutMs);
    const started = performance.now();
    let answer: Answer;
    try {
      const response = await fetchFn(url, {
        method: 'POST',
        headers,
        body,
        signal: signal ? AbortSignal.any([signal, timeout.signal]) : timeout.signal,
      });
      // Read every answer to the end, so the connection can be reused; Segment's are a few bytes.
      const text = await response.text();
      answer = { status: response.status, body: text, retryAfter: response.headers.get('retry-after') };
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      answer = {
        error: timeout.expired()
          ? new Error(`No answer within ${requestTimeoutMs} ms.`, { cause: err })
          : err,
      };
    } finally {
      timeout.release();
    }
    onRequest?.('status' in answer ? answer.status : 'error', chunk.events.length, seconds(started));
    return answer;
  }

  /** Sends one chunk until Segment takes it, bisecting it when Segment refuses it. */
  async function send(chunk: Chunk, signal: AbortSignal | undefined, report: DeliveryReport): Promise<void> {
    let failures = 0;
    let firstFailureAt = 0;
    for (;;) {
      signal?.throwIfAborted();
      const answer = await post(chunk, signal);
      const count = chunk.events.length;
      let delayMs: number;
      if ('error' in answer) {
        delayMs = backoff(failures);
        log.warn({ err: answer.error, events: count, delayMs }, 'Segment not reached; retrying');
      } else {
        const { status } = answer;
        const verdict = classify(status);
        if (verdict === 'delivered') {
          report.delivered += count;
          return;
        }
        if (verdict === 'auth') {
          throw new ConnectorError(
            'SEGMENT_AUTH_FAILED',
            `Segment (${url}) answered ${status} to the write key: ${excerpt(answer.body)}`,
          );
        }
        if (verdict === 'refused') {
          if (count === 1) {
            const [event] = chunk.events as [SegmentEvent];
            const message = `Segment answered ${status} to this event alone: ${excerpt(answer.body)}`;
            log.warn({ status, messageId: event.messageId, answer: excerpt(answer.body) }, 'event rejected');
            report.rejected.push({ event, code: 'SEGMENT_REJECTED', message });
            return;
          }
          // Segment says only that the request was refused, not which event made it so. Halving finds
          // each bad event in about 2 × log2(n) requests while the good ones still go through, in order.
          const middle = Math.ceil(count / 2);
          await send(slice(chunk, 0, middle), signal, report);
          await send(slice(chunk, middle, count), signal, report);
          return;
        }
        const retryAfterMs = verdict === 'rate-limited' ? parseRetryAfter(answer.retryAfter) : undefined;
        delayMs = retryAfterMs === undefined ? backoff(failures) : Math.min(retryAfterMs, maxRetryAfterMs);
        const context = { status, events: count, delayMs, answer: excerpt(answer.body) };
        if (verdict === 'wrong-endpoint') {
          log.error(context, `${url} does not take Segment batches; check the Segment endpoint. Retrying`);
        } else {
          log.warn(context, 'Segment did not take the batch; retrying');
        }
      }
      if (failures === 0) firstFailureAt = now();
      failures += 1;
      if (now() + delayMs - firstFailureAt > maxElapsedMs) {
        throw new ConnectorError(
          'SEGMENT_UNAVAILABLE',
          `Segment (${url}) did not take a batch of ${count} events in ${failures} attempts over ${now() - firstFailureAt} ms.`,
        );
      }
      try {
        await sleep(delayMs, signal);
      } catch (err) {
        throw signal?.aborted ? signal.reason : err;
      }
    }
  }

  function backoff(failures: number): number {
    return fullJitterDelay(failures, { initialDelayMs, maxDelayMs }, random);
  }

  return {
    async deliver(events, signal) {
      signal?.throwIfAborted();
      const report: DeliveryReport = { delivered: 0, rejected: [] };
      for (const chunk of chunks(events, report)) await send(chunk, signal, report);
      return report;
    },
  };
}

/**
 * What an answer means for the request:
 * - 2xx: delivered. (Segment also answers 200 to events it drops out of band, e.g. without a user id;
 *   the mapping must never build those, and batches never exceed 2,500 events.)
 * - 401, 403: the write key. Retrying or bisecting cannot help, and must not loop forever.
 * - 429: rate limited; wait Retry-After (capped at maxRetryAfterMs), or back off when it is absent.
 * - 404, 405, 501, 505, and 3xx that fetch did not follow: the URL does not speak Segment's API.
 *   analytics-node fails the batch at once on 501/505; we retry them like a 5xx instead. Failing would
 *   reject (dead-letter) every event of the stream while the endpoint is misconfigured, and bisecting a
 *   404 would spend two requests per event on it. Waiting holds the stream back, logs an error naming
 *   the URL, and once the endpoint is corrected everything is delivered.
 * - 408 (the server timed out reading) and the other 5xx: transient; back off and retry.
 * - 400 and the other 4xx (413, 422, …): Segment refuses this request's content ("malformed or over a
 *   limit"), so some event in it is at fault: bisect.
 */
function classify(
  status: number,
): 'delivered' | 'auth' | 'rate-limited' | 'wrong-endpoint' | 'retry' | 'refused' {
  if (status >= 200 && status < 300) return 'delivered';
  if (status === 401 || status === 403) return 'auth';
  if (status === 429) return 'rate-limited';
  if ((status >= 300 && status < 400) || [404, 405, 501, 505].includes(status)) return 'wrong-endpoint';
  if (status >= 400 && status < 500 && status !== 408) return 'refused';
  return 'retry';
}

/** Retry-After in seconds or as an HTTP date; undefined when absent or unreadable (then: backoff). */
function parseRetryAfter(value: string | null): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function slice(chunk: Chunk, start: number, end: number): Chunk {
  return {
    events: chunk.events.slice(start, end),
    json: chunk.json.slice(start, end),
  };
}

function excerpt(body: string): string {
  return answerExcerpt(body, answerExcerptChars);
}

function seconds(startedMs: number): number {
  return (performance.now() - startedMs) / 1000;
}
