/**
 * What the project's HTTP intakes (the Mailjet webhook ingress, the Segment identify intake) do alike:
 * JSON read as bytes, error answers that say what to do, health and metrics routes, and the count of
 * requests a shutdown waits for.
 */
import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import { Type } from '@sinclair/typebox';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
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
  /** Why a failing check fails, where the process knows more than `false` (what a start-up waits for). */
  reasons?: Record<string, string>;
}

/**
 * Ready when every check passes: ready means "can take traffic", so a load balancer never takes out a
 * process that would have served it. The optional checks are reported and decide nothing.
 */
export function readinessOf(
  checks: Record<string, boolean>,
  optional?: Record<string, boolean>,
  reasons?: Record<string, string>,
): Readiness {
  return {
    ready: Object.values(checks).every(Boolean),
    checks,
    ...(optional ? { optional } : {}),
    ...(reasons && Object.keys(reasons).length > 0 ? { reasons } : {}),
  };
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

/**
 * The answer of an intake that stopped taking requests (a stop is under way): 503 with Retry-After,
 * counted as shed, before the body is read.
 */
export function refuseShuttingDown(
  reply: FastifyReply,
  intake: { name: string; retryAfter: string; shed: { inc(labels: { reason: string }): void } },
): FastifyReply {
  intake.shed.inc({ reason: 'shutting_down' });
  reply.header('Retry-After', intake.retryAfter);
  return refuse(reply, 503, `The ${intake.name} is shutting down; retry later.`);
}

/** An error answer: `{ error: <reason phrase>, message }`, the message saying what to do. */
export function refuse(reply: FastifyReply, status: number, message: string): FastifyReply {
  return reply.code(status).send({ error: httpReason(status), message });
}

/** Which proxies may set the client address (X-Forwarded-For): none, all, or these addresses and subnets. */
export type TrustProxy = boolean | string[];

export interface IntakeServerOptions {
  logger: Logger;
  component: string;
  bodyLimitBytes: number;
  /**
   * Bytes of request bodies being received or handled (their Content-Length, the body limit when
   * chunked) above which a new body is answered 503 before it is read. One body is always let in when
   * none is in flight, so a body under the body limit is never refused for good.
   */
  maxBytesInFlight: number;
  /** Retry-After of the 503 answers. */
  retryAfterSeconds: number;
  trustProxy: TrustProxy;
  /** Called for each body shed by bytes in flight (a metric). */
  onShed?: () => void;
  messages: BodyErrorMessages;
}

/**
 * A fastify app for an intake: JSON bodies as bytes (below), error answers that say what to do, request
 * ids, bodies shed by the bytes in flight, and no log line per request: at high rates it would cost more
 * than the request; errors are logged. The client address is the connection's unless `trustProxy` names
 * the proxies in front: believing X-Forwarded-For from anyone lets anyone write any address in the logs.
 */
export function createIntakeServer(options: IntakeServerOptions): FastifyInstance {
  const loggedUrl = options.messages.loggedUrl ?? ((url: string) => url);
  const logger = options.logger.child(
    { component: options.component },
    // Whatever logs a request (fastify itself, on errors) shows its URL as loggedUrl writes it.
    { serializers: { req: (req: FastifyRequest) => ({ method: req.method, url: loggedUrl(req.url) }) } },
  );
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimitBytes,
    genReqId: () => randomUUID(),
    trustProxy: options.trustProxy,
  });
  shedByBytesInFlight(app, options);
  readJsonAsBytes(app);
  answerErrors(app, options.messages);
  return app;
}

/**
 * Counts the bodies of requests from the moment their headers are in until their answer is sent, and
 * refuses one that would pass the cap before a byte of it is read. A preParsing hook: it runs after the
 * onRequest hooks, so a request refused there (credentials in headers) never counts.
 */
function shedByBytesInFlight(app: FastifyInstance, options: IntakeServerOptions): void {
  let inFlight = 0;
  const retryAfter = String(options.retryAfterSeconds);
  app.addHook('preParsing', async (request, reply, payload) => {
    const bytes = announcedBytes(request, options.bodyLimitBytes);
    if (bytes === 0) return payload;
    if (inFlight > 0 && inFlight + bytes > options.maxBytesInFlight) {
      options.onShed?.();
      request.log.warn({ bytes, inFlight }, 'body shed: too many bytes in flight');
      reply.header('Retry-After', retryAfter);
      return refuse(reply, 503, options.messages.tooManyBytesInFlight);
    }
    inFlight += bytes;
    // 'close' comes once the answer is sent or the connection is gone, whichever happens.
    reply.raw.once('close', () => {
      inFlight -= bytes;
    });
    return payload;
  });
}

/** What a body will hold: its Content-Length, the body limit when chunked, 0 without a body. */
function announcedBytes(request: FastifyRequest, bodyLimitBytes: number): number {
  const length = request.headers['content-length'];
  // Above the limit fastify answers 413 without reading it.
  if (length !== undefined) return Math.min(Number(length) || 0, bodyLimitBytes);
  return request.headers['transfer-encoding'] === undefined ? 0 : bodyLimitBytes;
}

/** The description and rule of a `<PROCESS>_TRUST_PROXY` setting (parsed by parseTrustProxy). */
export function trustProxySetting() {
  return Type.String({
    default: 'false',
    examples: ['10.0.0.0/8,loopback'],
    description:
      "Proxies whose X-Forwarded-For gives the client address logged: `false` (none: the connection's address), `true` (any: only when nothing reaches the port but your proxy), or a comma-separated list of addresses and subnets (`loopback`, `linklocal`, `uniquelocal` too).",
  });
}

const proxyNames = new Set(['loopback', 'linklocal', 'uniquelocal']);

/**
 * The fastify form of a trust-proxy setting. No hop count: fastify 5 trusts nothing with one, since
 * a count cannot tell a proxy from a client that sent enough X-Forwarded-For entries itself.
 */
export function parseTrustProxy(setting: string): TrustProxy {
  const text = setting.trim();
  if (text === '' || text === 'false') return false;
  if (text === 'true') return true;
  const entries = text.split(',').map((entry) => entry.trim());
  for (const entry of entries) {
    if (!isProxyAddress(entry)) {
      throw new Error(
        `${JSON.stringify(entry)} is not an IP address, a subnet (10.0.0.0/8, fd00::/8) or one of loopback, linklocal, uniquelocal`,
      );
    }
  }
  return entries;
}

function isProxyAddress(entry: string): boolean {
  if (proxyNames.has(entry)) return true;
  const [address = '', prefix, ...rest] = entry.split('/');
  const version = isIP(address);
  if (version === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  if (isIP(prefix) === 4 && version === 4) return true; // a netmask
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (version === 4 ? 32 : 128);
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
  /** The 503 of a body shed by bytes in flight: which setting bounds them, and to retry. */
  tooManyBytesInFlight: string;
  /** The URL as every log line shows it (the ingress hides its `token` parameter). */
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
      ...(readiness.reasons ? { reasons: readiness.reasons } : {}),
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
