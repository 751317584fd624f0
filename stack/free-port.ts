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

/**
 * Starts a process on ports `start` picks itself, again with new ones when a picked port was taken
 * before the process bound it: a port is free when picked, but the JVM binds it seconds later, and
 * another stack starting at the same time, or any outgoing connection's ephemeral port, may take it
 * meanwhile (seen once while two stacks started together). Ports the user chose are never retried.
 */
export async function retryPortClash<T>(picked: boolean, start: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      if (!picked || attempt >= attempts || !isPortClash(err)) throw err;
    }
  }
}

function isPortClash(err: unknown): boolean {
  if (err instanceof ConnectorError && err.code === 'PORT_TAKEN') return true;
  return /Address already in use|BindException/.test((err as Error)?.message ?? '');
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
