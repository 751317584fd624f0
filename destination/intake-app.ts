/**
 * The Mailjet destination's intake as a fastify app that never listens (the process file does): the
 * routes Segment sends identify calls to, health checks and metrics. Tests build it and inject requests.
 * A request is answered 200 only once Kafka acked every call it carried; otherwise 503 with
 * Retry-After, and Segment sends it again (webhooks for 4 hours).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { logDeadLetters } from '../core/dead-letter.ts';
import { ConnectorError } from '../core/errors.ts';
import {
  addOperationRoutes,
  allowOnlyPost,
  createInFlight,
  createIntakeServer,
  type Readiness,
  refuse,
  refuseShuttingDown,
  type TrustProxy,
} from '../core/http-answers.ts';
import type { Logger } from '../core/logger.ts';
import { type ReadOptions, readIdentifyBody } from './identify-body.ts';
import type { IdentifyPublisher } from './identify-publisher.ts';
import {
  type AuthResult,
  createIntakeAuthenticator,
  type IntakeAuthHeaders,
  type IntakeCredentials,
} from './intake-auth.ts';
import type { DestinationMetrics } from './metrics.ts';

export const INTAKE_ROUTES = {
  /** Segment's HTTP API identify endpoint: one call, `type` implied. */
  identify: '/v1/identify',
  /** Segment's HTTP API batch endpoint: `{ batch: [...] }`. */
  batch: '/v1/batch',
  /** A Segment webhook destination (Classic or Actions): one call or an array of calls. */
  webhook: '/webhooks/segment',
} as const;

export interface IntakeAppOptions {
  credentials: IntakeCredentials | undefined;
  bodyLimitBytes: number;
  /** Bytes of bodies being received or handled above which new ones are shed (see createIntakeServer). */
  maxBytesInFlight: number;
  /** Proxies whose X-Forwarded-For is believed (DESTINATION_TRUST_PROXY). */
  trustProxy: TrustProxy;
  /** Retry-After of 503 answers. Segment's webhooks retry on their own schedule; HTTP clients read it. */
  retryAfterSeconds?: number;
  /** Undefined in a worker-only process (DESTINATION_ROLE=worker): the identify routes answer 404. */
  publisher: IdentifyPublisher | undefined;
  readiness: () => Promise<Readiness>;
  metrics: DestinationMetrics;
  logger: Logger;
}

export interface IntakeApp {
  app: FastifyInstance;
  /** From now on identify requests get 503 + Retry-After and readiness fails; in-flight requests go on. */
  stopIntake(): void;
  /** Resolves when no identify request is being handled. */
  idle(): Promise<void>;
}

export const DEFAULT_RETRY_AFTER_SECONDS = 5;

const routeReading: Record<string, ReadOptions> = {
  [INTAKE_ROUTES.identify]: { impliedType: 'identify' },
  [INTAKE_ROUTES.batch]: {},
  [INTAKE_ROUTES.webhook]: {},
};

export function buildIntakeApp(options: IntakeAppOptions): IntakeApp {
  const { metrics, publisher } = options;
  const authenticate = createIntakeAuthenticator(options.credentials);
  const retryAfter = String(options.retryAfterSeconds ?? DEFAULT_RETRY_AFTER_SECONDS);
  const inFlight = createInFlight();
  let intakeOpen = true;
  // Requests whose headers authenticated them; the others are checked over their body (withBody).
  const authenticated = new WeakSet<FastifyRequest>();

  const app = createIntakeServer({
    logger: options.logger,
    component: 'intake',
    bodyLimitBytes: options.bodyLimitBytes,
    maxBytesInFlight: options.maxBytesInFlight,
    retryAfterSeconds: options.retryAfterSeconds ?? DEFAULT_RETRY_AFTER_SECONDS,
    trustProxy: options.trustProxy,
    onShed: () => metrics.shed.inc({ reason: 'bytes_in_flight' }),
    messages: {
      unsupportedMediaType,
      bodyTooLarge: `The body is larger than DESTINATION_BODY_LIMIT_BYTES=${options.bodyLimitBytes}; raise it, or lower the webhook destination's batch size.`,
      tooManyBytesInFlight: `Bodies being received or stored already hold DESTINATION_MAX_BYTES_IN_FLIGHT=${options.maxBytesInFlight} bytes; retry later.`,
    },
  });

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url;
    if (route !== undefined && route in routeReading) {
      metrics.requests.inc({ route, status: String(reply.statusCode) });
    }
  });

  const refuseCredentials = (
    request: FastifyRequest,
    reply: FastifyReply,
    auth: Exclude<AuthResult, 'ok'>,
    headers: IntakeAuthHeaders,
  ) => {
    request.log.warn({ auth, ip: request.ip }, 'identify request refused: bad credentials');
    reply.header('WWW-Authenticate', 'Basic realm="mailjet-connector", charset="UTF-8"');
    const message =
      auth === 'missing'
        ? credentialsRequired
        : headers.signature !== undefined
          ? invalidSignature
          : invalidCredentials;
    return refuse(reply, 401, message);
  };

  // Before the body is read: a stopping process should not take in megabytes it will not store, and
  // credentials in the headers are checked before a byte of the body is taken in.
  const checkIntakeAndAuth = async (request: FastifyRequest, reply: FastifyReply) => {
    if (!intakeOpen) {
      return refuseShuttingDown(reply, { name: 'Mailjet destination', retryAfter, shed: metrics.shed });
    }
    const headers = authHeaders(request);
    const auth = authenticate.beforeBody(headers);
    if (auth === 'ok') authenticated.add(request);
    else if (auth !== 'body') return refuseCredentials(request, reply, auth, headers);
  };

  const handle = async (publisher: IdentifyPublisher, request: FastifyRequest, reply: FastifyReply) =>
    inFlight.track(async () => {
      const body = request.body;
      if (!Buffer.isBuffer(body)) return refuse(reply, 415, unsupportedMediaType);
      // Signed (X-Signature) or carrying its write key: authenticated over its bytes, before parsing.
      if (!authenticated.has(request)) {
        const headers = authHeaders(request);
        const auth = authenticate.withBody(headers, body);
        if (auth !== 'ok') return refuseCredentials(request, reply, auth, headers);
      }
      const read = readIdentifyBody(body, routeReading[request.routeOptions.url ?? ''] ?? {});
      const { rejected, ignored } = read;
      try {
        const published = await publisher.publish(read, { requestId: request.id, receivedAt: Date.now() });
        metrics.calls.inc({ outcome: 'stored' }, published.stored);
        metrics.calls.inc({ outcome: 'ignored' }, ignored);
        metrics.calls.inc({ outcome: 'dead_lettered' }, published.deadLettered);
        metrics.identitiesPublished.inc(published.identities);
        logDeadLetters(request.log, rejected);
        // Segment's HTTP API answers {"success":true}; the counts tell a sender of our own what happened.
        return { success: true, stored: published.stored, ignored, deadLettered: published.deadLettered };
      } catch (err) {
        if (err instanceof ConnectorError && err.retriable) {
          if (err.code === 'DESTINATION_OVERLOADED') metrics.shed.inc({ reason: 'overloaded' });
          request.log.warn({ code: err.code, calls: read.accepted.length }, err.message);
          reply.header('Retry-After', retryAfter);
          return refuse(reply, 503, `${err.message.split('\n')[0]}. Retry later; nothing was lost.`);
        }
        throw err;
      } finally {
        metrics.pendingCalls.set(publisher.pending());
      }
    });

  for (const url of Object.values(INTAKE_ROUTES)) {
    if (publisher)
      app.post(url, { onRequest: checkIntakeAndAuth }, (request, reply) => handle(publisher, request, reply));
    else app.post(url, async (_request, reply) => refuse(reply, 404, workerOnly));
    allowOnlyPost(app, url, 'Identify calls are sent with POST.');
  }

  addOperationRoutes(app, {
    intakeOpen: () => intakeOpen,
    readiness: options.readiness,
    registry: metrics.registry,
    beforeMetrics: () => metrics.pendingCalls.set(publisher?.pending() ?? 0),
  });

  return {
    app,
    stopIntake() {
      intakeOpen = false;
    },
    idle: () => inFlight.idle(),
  };
}

function authHeaders(request: FastifyRequest): IntakeAuthHeaders {
  return {
    authorization: request.headers.authorization,
    signature: header(request, 'x-signature') ?? header(request, 'x-segment-signature'),
  };
}

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

const credentialsRequired =
  'Credentials required: send the write key as the HTTP Basic username with an empty password ' +
  '(Authorization: Basic base64("<writeKey>:")) or as "writeKey" in the body, or sign the body with ' +
  'X-Signature (the shared secret of a Segment webhook destination).';

const invalidCredentials =
  'Invalid credentials: neither the write key (Basic username or "writeKey" in the body) nor X-Signature matches.';

const invalidSignature =
  'Invalid credentials: X-Signature must be the HMAC of the whole body (hex HMAC-SHA1 with the shared secret). ' +
  'Segment\'s Webhooks (Actions) sign only the first call of a batch with X-Signature: turn on "Use X-Segment-Signature Header", ' +
  'or send the write key as the Basic username instead.';

const unsupportedMediaType = 'Identify calls are JSON: send the body with Content-Type: application/json.';
const workerOnly =
  'This process runs the Mailjet destination worker only (DESTINATION_ROLE=worker); send identify calls to a process with DESTINATION_ROLE=intake or all.';
