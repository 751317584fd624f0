import { createServer } from 'node:net';
import { ConnectorError } from '../core/errors.ts';

/** A loopback port nobody listens on right now (the kernel picks it). */
export function freePort(): Promise<number> {
  return listenOnce(0);
}

/** Fails with PORT_TAKEN, naming the port and its purpose, when something already listens there. */
export async function assertPortFree(port: number, purpose: string): Promise<void> {
  try {
    await listenOnce(port);
  } catch (err) {
    throw new ConnectorError('PORT_TAKEN', `Port 127.0.0.1:${port} (${purpose}) is already in use.`, {
      cause: err,
    });
  }
}

function listenOnce(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => {
      const address = server.address();
      const chosen = typeof address === 'object' && address ? address.port : port;
      server.close(() => resolve(chosen));
    });
  });
}
