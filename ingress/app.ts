/**
 * The ingress as a fastify app that never listens (ingress/server.ts does): the webhook route, health
 * checks and metrics. Tests build it and inject requests.
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
import {
  type AuthResult,
  createAuthenticator,
  type QueryToken,
  type WebhookCredentials,
  withoutToken,
} from './auth.ts';
import type { EventPublisher, PublishOutcome } from './event-publisher.ts';
import type { IngressMetrics } from './metrics.ts';
import { readWebhookBody } from './webhook-body.ts';

export type { Readiness };

export interface IngressAppOptions {
  path: string;
  credentials: WebhookCredentials | undefined;
  bodyLimitBytes: number;
  /** Bytes of bodies being received or handled above which new ones are shed (see createIntakeServer). */
  maxBytesInFlight: number;
  retryAfterSeconds: number;
  /** Proxies whose X-Forwarded-For is believed (INGRESS_TRUST_PROXY). */
  trustProxy: TrustProxy;
  publisher: EventPublisher;
  readiness: () => Promise<Readiness>;
  metrics: IngressMetrics;
  logger: Logger;
}

export interface IngressApp {
  app: FastifyInstance;
  /** From now on webhooks get 503 + Retry-After and readiness fails; in-flight requests go on. */
  stopIntake(): void;
  /** Resolves when no webhook request is being handled. */
  idle(): Promise<void>;
}

export function buildIngressApp(options: IngressAppOptions): IngressApp {
  const { metrics, publisher } = options;
  const authenticate = createAuthenticator(options.credentials);
  const retryAfter = String(options.retryAfterSeconds);
  let intakeOpen = true;
  const inFlight = createInFlight();

  // Mailjet's bodies are read as bytes: JSON.parse would round MessageID, and invalid JSON must reach
  // the dead-letter topic instead of failing the request.
  const app = createIntakeServer({
    logger: options.logger,
    component: 'ingress',
    bodyLimitBytes: options.bodyLimitBytes,
    maxBytesInFlight: options.maxBytesInFlight,
    retryAfterSeconds: options.retryAfterSeconds,
    trustProxy: options.trustProxy,
    onShed: () => metrics.shed.inc({ reason: 'bytes_in_flight' }),
    messages: {
      unsupportedMediaType,
      bodyTooLarge: `The body is larger than INGRESS_BODY_LIMIT_BYTES=${options.bodyLimitBytes}; raise it (Mailjet retries this body).`,
      tooManyBytesInFlight: `Bodies being received or stored already hold INGRESS_MAX_BYTES_IN_FLIGHT=${options.maxBytesInFlight} bytes; retry later.`,
      loggedUrl: withoutToken,
    },
  });

  app.addHook('onResponse', async (request, reply) => {
    if (request.routeOptions.url === options.path) metrics.requests.inc({ status: String(reply.statusCode) });
  });

  const checkIntakeAndAuth = async (request: FastifyRequest, reply: FastifyReply) => {
    if (!intakeOpen) return refuseShuttingDown(reply, { name: 'ingress', retryAfter, shed: metrics.shed });
    const token = (request.query as Record<string, QueryToken>).token;
    const auth = authenticate(request.headers.authorization, token);
    if (auth !== 'ok') {
      request.log.warn({ auth, ip: request.ip }, 'webhook refused: bad credentials');
      reply.header('WWW-Authenticate', 'Basic realm="mailjet-connector", charset="UTF-8"');
      return refuse(reply, 401, refusals[auth]);
    }
  };

  app.post(options.path, { onRequest: checkIntakeAndAuth }, async (request, reply) =>
    inFlight.track(async () => {
      const started = process.hrtime.bigint();
      try {
        const body = request.body;
        if (!Buffer.isBuffer(body)) return refuse(reply, 415, unsupportedMediaType);
        metrics.bodyBytes.observe(body.length);
        const read = readWebhookBody(body);
        metrics.eventsPerRequest.observe(read.accepted.length + read.rejected.length);
        // Nothing below the await refers to `read`, so its parsed events and their JSON text are
        // garbage while the records wait for Kafka; the outcome holds only counts and reasons.
        const events = read.accepted.length + read.rejected.length;
        let outcome: PublishOutcome;
        try {
          outcome = await publisher.publish(read, { requestId: request.id, receivedAt: Date.now() });
        } catch (err) {
          if (err instanceof ConnectorError && err.retriable) {
            if (err.code === 'INGRESS_OVERLOADED') metrics.shed.inc({ reason: 'overloaded' });
            request.log.warn({ code: err.code, events }, err.message);
            reply.header('Retry-After', retryAfter);
            return refuse(reply, 503, `${err.message.split('\n')[0]}. Retry later; nothing was lost.`);
          }
          throw err;
        }
        metrics.produceSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
        for (const [type, count] of outcome.storedByType) metrics.events.inc({ event_type: type }, count);
        for (const [code, count] of logDeadLetters(request.log, outcome.deadLettered)) {
          metrics.deadLettered.inc({ code }, count);
        }
        return { stored: outcome.stored, deadLettered: outcome.deadLettered.length };
      } finally {
        metrics.pendingEvents.set(publisher.pending());
      }
    }),
  );

  allowOnlyPost(app, options.path, 'Mailjet posts events: use POST.');

  addOperationRoutes(app, {
    intakeOpen: () => intakeOpen,
    readiness: options.readiness,
    registry: metrics.registry,
    beforeMetrics: () => metrics.pendingEvents.set(publisher.pending()),
  });

  return {
    app,
    stopIntake() {
      intakeOpen = false;
    },
    idle: inFlight.idle,
  };
}

const refusals: Record<Exclude<AuthResult, 'ok'>, string> = {
  missing:
    'Credentials required: put them in the Mailjet callback URL (https://user:password@host/path) or add ?token=….',
  invalid: 'Invalid credentials.',
  repeated: 'Invalid credentials: the token parameter appears more than once in the URL; keep one.',
};

const unsupportedMediaType = 'Mailjet webhooks are JSON: send the body with Content-Type: application/json.';
