/**
 * What the project's HTTP intakes (the Mailjet webhook ingress, the Segment identify intake) do alike:
 * JSON read as bytes, error answers that say what to do, health and metrics routes, and the count of
 * requests a shutdown waits for.
 */
import { randomUUID } from 'node:crypto';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  LogController,
} from 'fastify';
import type { Registry } from 'prom-client';
import type { Logger } from './logger.ts';

export interface Readiness {
  ready: boolean;
  /** What the process needs to take traffic: ready when every one passes. */
  checks: Record<string, boolean>;
  /** Reported beside them, deciding nothing: what it takes traffic without (an intake's registry). */
  optional?: Record<string, boolean>;
}

/**
 * Ready when every check passes: ready means "can take traffic", so a load balancer never takes out a
 * process that would have served it. The optional checks are reported and decide nothing.
 */
export function readinessOf(checks: Record<string, boolean>, optional?: Record<string, boolean>): Readiness {
  return { ready: Object.values(checks).every(Boolean), checks, ...(optional ? { optional } : {}) };
}

const reasons: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  405: 'Method Not Allowed',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export function httpReason(status: number): string {
  return reasons[status] ?? 'Error';
}

/** An error answer: `{ error: <reason phrase>, message }`, the message saying what to do. */
export function refuse(reply: FastifyReply, status: number, message: string): FastifyReply {
  return reply.code(status).send({ error: httpReason(status), message });
}

/**
 * A fastify app for an intake: JSON bodies as bytes (below), error answers that say what to do, request
 * ids, the client address from X-Forwarded-For (intakes run behind load balancers), and no log line per
 * request: at high rates it would cost more than the request; errors are logged.
 */
export function createIntakeServer(options: {
  logger: Logger;
  component: string;
  bodyLimitBytes: number;
  messages: BodyErrorMessages;
}): FastifyInstance {
  const app = Fastify({
    loggerInstance: options.logger.child({ component: options.component }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimitBytes,
    genReqId: () => randomUUID(),
    trustProxy: true,
  });
  readJsonAsBytes(app);
  answerErrors(app, options.messages);
  return app;
}

/** Other methods on an intake route: 405 with `Allow: POST` and what to do. */
export function allowOnlyPost(app: FastifyInstance, url: string, message: string): void {
  app.route({
    method: ['GET', 'PUT', 'PATCH', 'DELETE'],
    url,
    handler: async (_request, reply) => {
      reply.header('Allow', 'POST');
      return refuse(reply, 405, message);
    },
  });
}

/**
 * JSON bodies reach handlers as the Buffer received: JSON.parse would round big numbers, and a body
 * that is not JSON must be stored as is in a dead-letter topic instead of failing the request.
 * Any other content type is refused by fastify (FST_ERR_CTP_INVALID_MEDIA_TYPE → 415).
 */
export function readJsonAsBytes(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) =>
    done(null, body),
  );
}

/** What the client is told about errors fastify raises before a handler runs (body and media type). */
export interface BodyErrorMessages {
  unsupportedMediaType: string;
  bodyTooLarge: string;
  /** The URL as logs may show it (the ingress hides its `token` parameter). */
  loggedUrl?: (url: string) => string;
}

/**
 * Answers every error as `{ error, message }`: 4xx with a message that says what to do (logged as a
 * warning), 5xx logged with the error.
 */
export function answerErrors(app: FastifyInstance, messages: BodyErrorMessages): void {
  app.setErrorHandler((error: Error & { code?: string; statusCode?: number }, request, reply) => {
    const status = error.statusCode ?? 500;
    const message = clientMessage(error, messages);
    const url = messages.loggedUrl ? messages.loggedUrl(request.url) : request.url;
    if (status >= 500) request.log.error({ err: error, url }, 'request failed');
    else request.log.warn({ code: error.code, url }, message);
    reply.code(status).send({ error: httpReason(status), message });
  });
}

function clientMessage(error: Error & { code?: string }, messages: BodyErrorMessages): string {
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return messages.unsupportedMediaType;
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return messages.bodyTooLarge;
    default:
      return error.message;
  }
}

/**
 * GET /health/live, GET /health/ready (503 once intake stopped, so the load balancer stops sending)
 * and GET /metrics. `beforeMetrics` refreshes gauges that are cheaper to read than to keep current.
 */
export function addOperationRoutes(
  app: FastifyInstance,
  options: {
    intakeOpen: () => boolean;
    readiness: () => Promise<Readiness>;
    registry: Registry;
    beforeMetrics?: () => void;
  },
): void {
  app.get('/health/live', async () => ({ status: 'live' }));
  app.get('/health/ready', async (_request, reply) => {
    const readiness = options.intakeOpen()
      ? await options.readiness()
      : { ready: false, checks: { intake: false } };
    reply.code(readiness.ready ? 200 : 503);
    return {
      status: readiness.ready ? 'ready' : 'not ready',
      checks: readiness.checks,
      ...(readiness.optional ? { optional: readiness.optional } : {}),
    };
  });
  app.get('/metrics', async (_request, reply) => {
    options.beforeMetrics?.();
    reply.header('Content-Type', options.registry.contentType);
    return options.registry.metrics();
  });
}

/** Counts requests being handled, so a shutdown can wait until the last one was answered. */
export function createInFlight() {
  let count = 0;
  let waiters: (() => void)[] = [];
  return {
    async track<T>(work: () => Promise<T>): Promise<T> {
      count++;
      try {
        return await work();
      } finally {
        if (--count === 0) {
          const wake = waiters;
          waiters = [];
          for (const resolve of wake) resolve();
        }
      }
    },
    /** Resolves when no request is being handled. */
    idle(): Promise<void> {
      if (count === 0) return Promise.resolve();
      return new Promise((resolve) => waiters.push(resolve));
    },
  };
}
