import type { FastifyInstance } from 'fastify';
import { ConnectorError } from './errors.ts';

/**
 * Starts a fastify app listening and returns the port it got and a URL to reach it from this machine
 * (a wildcard address is reached on loopback). A port in use fails with PORT_TAKEN naming `purpose`,
 * e.g. "ingress, INGRESS_PORT", so the user knows which setting to change.
 */
export async function listenOn(
  app: FastifyInstance,
  host: string,
  port: number,
  purpose: string,
): Promise<{ port: number; url: string }> {
  try {
    await app.listen({ host, port });
  } catch (err) {
    await app.close().catch(() => {});
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new ConnectorError('PORT_TAKEN', `Port ${host}:${port} (${purpose}) is already in use.`, {
        cause: err,
      });
    }
    throw err;
  }
  const address = app.server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  const reachable = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return { port: bound, url: `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${bound}` };
}
