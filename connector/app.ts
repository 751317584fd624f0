/** The connector's HTTP side: health checks and metrics only (it never receives events over HTTP). */
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Readiness } from '../core/http-answers.ts';
import type { Logger } from '../core/logger.ts';
import type { ConnectorMetrics } from './metrics.ts';

export function buildConnectorApp(options: {
  metrics: ConnectorMetrics;
  readiness: () => Promise<Readiness>;
  /** Refreshes gauges that are read rather than counted (identity view size). */
  onScrape?: () => void;
  logger: Logger;
}): FastifyInstance {
  const app = Fastify({
    loggerInstance: options.logger.child({ component: 'connector-http' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
  });
  app.get('/health/live', async () => ({ status: 'live' }));
  app.get('/health/ready', async (_request, reply) => {
    const readiness = await options.readiness();
    reply.code(readiness.ready ? 200 : 503);
    return { status: readiness.ready ? 'ready' : 'not ready', checks: readiness.checks };
  });
  app.get('/metrics', async (_request, reply) => {
    options.onScrape?.();
    reply.header('Content-Type', options.metrics.registry.contentType);
    return options.metrics.registry.metrics();
  });
  return app as unknown as FastifyInstance;
}
