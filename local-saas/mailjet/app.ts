/**
 * A local server that speaks Mailjet's REST v3 contacts API (`/v3/REST/contactmetadata`,
 * `contactslist/{id}/managecontact`, bulk jobs, `contactdata`, …) so the connector's Mailjet destination,
 * demos and users' own tests can run without reaching Mailjet. It reproduces what a client must cope
 * with: key-pair auth, Mailjet's error bodies, property definitions and types, asynchronous bulk jobs
 * with per-contact failures, and injected faults (Mailjet's header-less HTML 429 included). It never
 * listens: server.ts does.
 */
import { Buffer } from 'node:buffer';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import type { Logger } from '../../core/logger.ts';
import { adminRoutes } from './admin.ts';
import type { Fault, FaultInjector } from './faults.ts';
import {
  invalidJson,
  MailjetApiError,
  methodNotAllowed,
  unauthorized,
  unexpected,
  unknownResource,
} from './mailjet-errors.ts';
import { type HttpMethod, httpMethods, mailjetLimits, mailjetResources } from './resources.ts';
import type { MailjetStore } from './store.ts';

export interface MailjetCredentials {
  /** Mailjet's public key: the Basic auth username. */
  apiKey: string;
  /** Mailjet's secret key: the Basic auth password. */
  apiSecret: string;
}

export interface MailjetAppOptions {
  /** Key pairs this server accepts, as an account with several API keys (sub-accounts) would. */
  credentials: MailjetCredentials[];
  store: MailjetStore;
  faults: FaultInjector;
  /** Request logging; off by default so tests and demos stay quiet. */
  logger?: Logger | false;
}

/** Mailjet's 429 page (node-mailjet issue 178): HTML, and no Retry-After or other hint of when to retry. */
export const rateLimitedHtml =
  '<html><body><h1>429 Too Many Requests</h1>You have sent too many requests in a given amount of time.</body></html>';

export function buildMailjetApp(options: MailjetAppOptions): FastifyInstance {
  const { credentials, store, faults } = options;
  if (credentials.length === 0 || credentials.some((c) => c.apiKey === '' || c.apiSecret === '')) {
    throw new TypeError(
      'buildMailjetApp needs at least one key pair, with a non-empty apiKey and apiSecret.',
    );
  }
  const secrets = new Map(credentials.map((c) => [c.apiKey, c.apiSecret]));
  const app = (
    options.logger
      ? Fastify({ loggerInstance: options.logger.child({ component: 'local-mailjet' }) })
      : Fastify({ logger: false })
  ) as FastifyInstance;

  app.register(
    async (api) => {
      // Bodies are read raw, whatever their content type, and parsed in the handler: invalid JSON must
      // get Mailjet's 400 body, and only after the request is authenticated. Encapsulated, so the admin
      // routes keep fastify's parser.
      api.removeAllContentTypeParsers();
      api.addContentTypeParser(
        '*',
        { parseAs: 'buffer', bodyLimit: mailjetLimits.bodyBytes },
        (_request, body, done) => {
          done(null, body);
        },
      );

      api.addHook('onRequest', async () => {
        await faults.delay();
      });
      // After the body is read (so the socket stays usable), before auth or the body is looked at: a
      // faulted request stores nothing and counts against no rate-limit window.
      api.addHook('preHandler', async (request, reply) => {
        const given = basicCredentials(request.headers.authorization);
        const fault = faults.take(given?.apiKey ?? '');
        if (fault) return sendFault(reply, fault);
        if (!given || secrets.get(given.apiKey) !== given.apiSecret) throw unauthorized();
      });
      // onSend, not onResponse: it runs before the client sees the answer, so a test that reads the
      // requests right after its own finds it recorded.
      api.addHook('onSend', async (request, reply) => {
        const route = request.routeOptions.url;
        store.recordRequest({
          method: request.method,
          path: request.url,
          // fastify writes a literal colon as `::` in paths.
          route: route === undefined ? '(unknown)' : `${request.method} ${route.replaceAll('::', ':')}`,
          status: reply.statusCode,
          apiKey: basicCredentials(request.headers.authorization)?.apiKey ?? '',
        });
        // Handled (a write is stored) and recorded, not answered yet: a client that gives up meanwhile
        // does not know its write is in, as with a slow Mailjet.
        await faults.delayAnswer();
      });

      api.setErrorHandler((error: FastifyError, request, reply) => {
        if (error instanceof MailjetApiError) return reply.code(error.status).send(error.body);
        if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
          return reply
            .code(413)
            .send(
              new MailjetApiError(
                413,
                `Request body exceeds the limit of ${mailjetLimits.bodyBytes / 1024 / 1024} MB`,
              ).body,
            );
        }
        if (error.statusCode && error.statusCode < 500) {
          return reply.code(error.statusCode).send(new MailjetApiError(error.statusCode, error.message).body);
        }
        request.log.error({ err: error }, 'local Mailjet server failed');
        return reply.code(500).send(unexpected().body);
      });

      // Mailjet answers 400 to an unknown resource or action (its status-codes page says so; the text is
      // ours). Only after auth, as the preHandler hook above also guards this handler.
      api.setNotFoundHandler(async (request) => {
        throw unknownResource(request.url.split('?')[0] ?? '');
      });

      for (const resource of mailjetResources(store, () => faults.takeJobFailure())) {
        // Every method goes to one handler, so a known path with the wrong method gets Mailjet's 405
        // rather than the 400 of an unknown resource.
        api.route({
          method: httpMethods,
          url: resource.url,
          handler: async (request, reply) => {
            const handle = resource.methods[request.method as HttpMethod];
            if (!handle) throw methodNotAllowed();
            const answer = handle({
              params: request.params as Record<string, string>,
              query: request.query as Record<string, unknown>,
              body:
                request.method === 'GET' || request.method === 'DELETE' ? undefined : parseJson(request.body),
            });
            return reply.code(answer.status).send(answer.body);
          },
        });
      }
    },
    { prefix: '/v3' },
  );

  app.register(adminRoutes, { prefix: '/_local', store, faults });

  // A job that would run after the server is gone could only confuse the next test's figures.
  app.addHook('onClose', async () => {
    store.cancelPendingJobs();
  });

  return app;
}

/** The key pair of an HTTP Basic header, or undefined when there is none or it is malformed. */
function basicCredentials(authorization: string | undefined): MailjetCredentials | undefined {
  const [scheme, token] = (authorization ?? '').trim().split(/\s+/, 2);
  if (scheme?.toLowerCase() !== 'basic' || !token) return undefined;
  const decoded = Buffer.from(token, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { apiKey: decoded.slice(0, colon), apiSecret: decoded.slice(colon + 1) };
}

function parseJson(body: unknown): unknown {
  if (!Buffer.isBuffer(body) || body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw invalidJson((err as Error).message);
  }
}

function sendFault(reply: FastifyReply, fault: Fault) {
  reply.log.info({ fault: fault.reason }, 'injected fault');
  if (fault.status === 429) return reply.code(429).type('text/html').send(rateLimitedHtml);
  return reply.code(fault.status).send(unexpected(fault.status).body);
}
