/**
 * A local server that speaks Segment's HTTP Tracking API (`POST /v1/batch`, `/v1/track`, …) so the
 * connector, demos and users' own tests can run without reaching Segment. It reproduces the parts of
 * Segment's behaviour a client must cope with: write-key auth, the documented size and count limits,
 * per-event validation, messageId dedupe figures, and injected faults. It never listens: server.ts does.
 */
import { Buffer } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import type { Logger } from '../../core/logger.ts';
import { adminRoutes } from './admin.ts';
import type { FaultInjector } from './faults.ts';
import {
  type CallType,
  callTypes,
  type RecordedEvent,
  type Rejection,
  type SegmentRecorder,
} from './recorder.ts';

/**
 * Segment's documented limits. Sizes are in KiB, as analytics-node counts them (its 480 KB batch guard is
 * 480 × 1024 bytes of UTF-8 JSON), so a client that respects its own guard always fits here.
 */
export const segmentLimits = {
  batchRequestBytes: 500 * 1024,
  singleRequestBytes: 32 * 1024,
  eventBytes: 32 * 1024,
  eventsPerBatch: 2500,
  messageIdChars: 100,
} as const;

export interface SegmentAppOptions {
  /** Write keys this server accepts; any other key is refused with 401. */
  writeKeys: string[];
  /** Where accepted and rejected events go; the caller keeps it to read the figures. */
  recorder: SegmentRecorder;
  faults: FaultInjector;
  /** Request logging; off by default so tests and demos stay quiet. */
  logger?: Logger | false;
}

/** Segment's error bodies look like `{"success":false,"message":"…"}`; `code` is ours, for tests. */
interface ErrorBody {
  success: false;
  code: string;
  message: string;
}

type JsonObject = Record<string, unknown>;

export function buildSegmentApp(options: SegmentAppOptions): FastifyInstance {
  if (options.writeKeys.length === 0 || options.writeKeys.some((key) => key === '')) {
    throw new TypeError('buildSegmentApp needs at least one non-empty write key.');
  }
  const writeKeys = new Set(options.writeKeys);
  const { recorder, faults } = options;
  const app = (
    options.logger
      ? Fastify({ loggerInstance: options.logger.child({ component: 'local-segment' }) })
      : Fastify({ logger: false })
  ) as FastifyInstance;

  app.register(async (api) => {
    // Our own JSON parser, reading raw bytes: the size limits are on bytes, and invalid JSON must get
    // Segment's 400 body rather than fastify's. Encapsulated, so the admin routes keep the default one.
    api.removeContentTypeParser('application/json');
    api.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
      done(null, body);
    });

    api.addHook('onRequest', async () => {
      recorder.requestReceived();
      await faults.delay();
    });
    // After the body is read (so the socket stays usable) but before auth or events are looked at.
    api.addHook('preHandler', async (_request, reply) => {
      const fault = faults.take();
      if (fault) {
        return reply
          .code(fault.status)
          .headers(fault.headers)
          .send(errorBody('injected_fault', fault.message));
      }
    });
    // onSend, not onResponse: it runs before the client sees the answer, so a test that reads the stats
    // right after its request finds the response counted.
    api.addHook('onSend', async (_request, reply) => {
      recorder.responded(reply.statusCode);
    });

    // Each route's fastify body limit is Segment's own, so fastify stops reading at exactly the right size;
    // its 413 becomes the 400 Segment documents for oversize requests.
    api.setErrorHandler((error: FastifyError, request, reply) => {
      if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
        const limit = request.routeOptions.bodyLimit ?? segmentLimits.batchRequestBytes;
        return reply
          .code(400)
          .send(errorBody('request_too_large', `Request body exceeds the limit of ${limit / 1024} KB.`));
      }
      if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return unsupportedMediaType(reply);
      const status = error.statusCode && error.statusCode < 500 ? error.statusCode : 500;
      if (status === 500) request.log.error({ err: error }, 'local Segment server failed');
      return reply
        .code(status)
        .send(errorBody(status === 500 ? 'internal_error' : 'bad_request', error.message));
    });

    api.post('/v1/batch', { bodyLimit: segmentLimits.batchRequestBytes }, async (request, reply) =>
      handle(request.body, request.headers.authorization, undefined, reply),
    );
    for (const type of callTypes) {
      api.post(`/v1/${type}`, { bodyLimit: segmentLimits.singleRequestBytes }, async (request, reply) =>
        handle(request.body, request.headers.authorization, type, reply),
      );
    }
  });

  app.register(adminRoutes, { prefix: '/_local', recorder, faults });

  /** One API request: parse, authenticate, check limits, then accept or reject each event. */
  function handle(
    body: unknown,
    authorization: string | undefined,
    single: CallType | undefined,
    reply: FastifyReply,
  ) {
    if (!Buffer.isBuffer(body)) return unsupportedMediaType(reply);
    let payload: unknown;
    try {
      payload = JSON.parse(body.toString('utf8'));
    } catch (err) {
      return reply.code(400).send(errorBody('invalid_json', `Invalid JSON: ${(err as Error).message}`));
    }
    if (!isObject(payload)) {
      return reply.code(400).send(errorBody('invalid_json', 'The body must be a JSON object.'));
    }

    const auth = authenticate(authorization, payload.writeKey, writeKeys);
    if (auth) return reply.code(401).send(errorBody('invalid_write_key', auth));

    const refusal = faults.refusal(single ? [payload] : Array.isArray(payload.batch) ? payload.batch : []);
    if (refusal) return reply.code(refusal.status).send(errorBody('injected_fault', refusal.message));

    const receivedAt = new Date().toISOString();
    if (single) {
      admit({ ...payload, type: single }, {}, receivedAt);
      return { success: true };
    }

    const { batch, context, integrations, sentAt } = payload;
    if (!Array.isArray(batch)) {
      // Segment does not document this case; a batch request without a batch is malformed, and 400 is
      // what it answers to malformed bodies.
      return reply.code(400).send(errorBody('invalid_batch', 'The body needs a "batch" array of events.'));
    }
    const oversize = batch.findIndex((event) => jsonBytes(event) > segmentLimits.eventBytes);
    if (oversize >= 0) {
      return reply
        .code(400)
        .send(
          errorBody(
            'event_too_large',
            `Event ${oversize} of the batch exceeds ${segmentLimits.eventBytes / 1024} KB.`,
          ),
        );
    }
    if (batch.length > segmentLimits.eventsPerBatch) {
      // Segment answers 200 and drops the events. Its doc ("rejects the event when the number of batched
      // events exceeds the limit") does not say whether the first 2,500 survive; we drop them all, the
      // reading under which a client that relies on it loses data here too, not only in production.
      const message = `The batch holds ${batch.length} events; Segment accepts at most ${segmentLimits.eventsPerBatch}.`;
      for (const event of batch) recorder.reject({ reason: 'too_many_events', message, receivedAt, event });
      return { success: true };
    }
    const envelope = { context, integrations, sentAt };
    for (const event of batch) admit(event, envelope, receivedAt);
    return { success: true };
  }

  /**
   * Records one event as accepted or rejected. A rejected event still gets 200: Segment's doc says it
   * "returns a 200 response for all API requests except errors caused by large payloads and JSON errors",
   * and reports problems such as `no_user_anon_id` per event, out of band. So a client cannot see the
   * rejection in the HTTP answer; only the stats here show it (the connector must never send such events).
   */
  function admit(
    raw: unknown,
    envelope: { context?: unknown; integrations?: unknown; sentAt?: unknown },
    receivedAt: string,
  ) {
    const problem = checkEvent(raw);
    if (problem) {
      recorder.reject({ ...problem, receivedAt, event: raw });
      return;
    }
    const { writeKey: _credential, ...event } = raw as JsonObject;
    const recorded: RecordedEvent = {
      ...event,
      type: event.type as CallType,
      // Segment assigns an id to events that come without one, so each counts as distinct.
      messageId: typeof event.messageId === 'string' ? event.messageId : `local-${randomUUID()}`,
      receivedAt,
    };
    // The batch's own context and integrations "will be merged with any context inside each of the items".
    if (isObject(envelope.context) || isObject(event.context)) {
      recorded.context = { ...asObject(envelope.context), ...asObject(event.context) };
    }
    if (isObject(envelope.integrations) || isObject(event.integrations)) {
      recorded.integrations = { ...asObject(envelope.integrations), ...asObject(event.integrations) };
    }
    if (recorded.sentAt === undefined && envelope.sentAt !== undefined) recorded.sentAt = envelope.sentAt;
    recorder.accept(recorded);
  }

  return app;
}

/**
 * Returns why the request is refused, or undefined when its write key is one of ours. As Segment
 * documents: HTTP Basic with the write key as username and an empty password (`base64("key:")`), or
 * `writeKey` in the JSON body. When a non-empty Authorization header is present it decides alone.
 *
 * Where this differs from Segment, on purpose:
 * - Segment's edge is stateless and answers 200 `{"success":true}` to most unknown keys, silently
 *   dropping the events (400 `{"success":false,"message":"An invalid write key was provided"}` only for
 *   empty or malformed ones). We answer 401, so a wrong key in a local setup fails loudly;
 *   analytics-node does not retry a 401 and reports the batch as failed.
 * - Basic credentials without the colon "might work due to backward compatibility" at Segment, which warns
 *   it "won't always be the case": we refuse them, so clients are held to the documented form.
 * - OAuth bearer tokens (Segment's third option, in beta) are not supported.
 */
function authenticate(authorization: string | undefined, bodyKey: unknown, writeKeys: Set<string>) {
  if (authorization !== undefined && authorization.trim() !== '') {
    const [scheme, token = ''] = authorization.trim().split(/\s+/, 2);
    if (scheme?.toLowerCase() !== 'basic') {
      return 'Only HTTP Basic auth (write key as username, empty password) or writeKey in the body is supported.';
    }
    const decoded = Buffer.from(token, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return 'Basic credentials must be base64("<writeKey>:"), with the colon.';
    return writeKeys.has(decoded.slice(0, colon)) ? undefined : 'An invalid write key was provided.';
  }
  if (typeof bodyKey !== 'string' || bodyKey === '') {
    return 'No write key: send Authorization: Basic base64("<writeKey>:") or "writeKey" in the body.';
  }
  return writeKeys.has(bodyKey) ? undefined : 'An invalid write key was provided.';
}

/** The per-event checks Segment documents: a known `type`, an `event` name for track, a user identity. */
function checkEvent(raw: unknown): Pick<Rejection, 'reason' | 'message'> | undefined {
  if (!isObject(raw)) return { reason: 'invalid_event', message: 'An event must be a JSON object.' };
  const { type, event, userId, anonymousId, messageId } = raw;
  if (type === undefined) return { reason: 'missing_type', message: 'Each call must have a "type".' };
  if (!callTypes.includes(type as CallType)) {
    return { reason: 'invalid_type', message: `Unknown type ${JSON.stringify(type)}.` };
  }
  if (type === 'track' && typeof event !== 'string') {
    return { reason: 'missing_event', message: 'A track call needs an "event" name (a string).' };
  }
  if (!isIdentity(userId) && !isIdentity(anonymousId)) {
    return { reason: 'no_user_anon_id', message: 'Each call needs a "userId" or an "anonymousId".' };
  }
  // Segment limits messageId to 100 characters but does not say what happens past that; refusing makes a
  // client bug visible here instead of as broken dedupe in production.
  if (
    messageId !== undefined &&
    (typeof messageId !== 'string' || messageId.length > segmentLimits.messageIdChars)
  ) {
    return {
      reason: 'invalid_message_id',
      message: `"messageId" must be a string of at most ${segmentLimits.messageIdChars} characters.`,
    };
  }
  return undefined;
}

function isIdentity(value: unknown): boolean {
  return (typeof value === 'string' && value !== '') || (typeof value === 'number' && Number.isFinite(value));
}

function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8');
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function asObject(value: unknown): JsonObject {
  return isObject(value) ? value : {};
}

function errorBody(code: string, message: string): ErrorBody {
  return { success: false, code, message };
}

function unsupportedMediaType(reply: FastifyReply) {
  return reply
    .code(415)
    .send(errorBody('unsupported_media_type', 'Segment requires "Content-Type: application/json".'));
}
