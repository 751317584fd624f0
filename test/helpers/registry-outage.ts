import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import { testStack } from './stack.ts';

export interface RegistryThatGoesAway {
  /** Where the process under test finds the registry: the test registry while up. */
  url: string;
  /** From now on nothing answers at `url`: connections are refused, as when the registry is down. */
  stop(): Promise<void>;
}

/**
 * The test registry behind a forwarding HTTP server of the test's own, which the test stops to take the
 * registry away from the process under test (the shared registry must stay up for the other tests).
 */
export async function registryThatGoesAway(t: TestContext): Promise<RegistryThatGoesAway> {
  const server = createServer(async (req, res) => {
    await forwardToTestRegistry(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    return stopped;
  };
  t.after(stop);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, stop };
}

/** Answers `req` with what the test registry answers to it; resolves with that status. */
export async function forwardToTestRegistry(req: IncomingMessage, res: ServerResponse): Promise<number> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const method = req.method ?? 'GET';
  const forwarded = await fetch(`${testStack().registryUrl}${req.url}`, {
    method,
    headers: { 'content-type': req.headers['content-type'] ?? 'application/json' },
    ...(method === 'GET' || method === 'HEAD' ? {} : { body: Buffer.concat(chunks) }),
  });
  res.writeHead(forwarded.status, {
    'content-type': forwarded.headers.get('content-type') ?? 'application/json',
  });
  res.end(Buffer.from(await forwarded.arrayBuffer()));
  return forwarded.status;
}

export interface RegistryNotYetUp {
  /** Where the process under test finds the registry: nothing answers there until `start()`. */
  url: string;
  /** From now on the test registry answers at `url`, as a registry that came back. */
  start(): Promise<void>;
}

/** A registry that is down when the process under test starts: its port refuses connections until `start()`. */
export async function registryNotYetUp(t: TestContext): Promise<RegistryNotYetUp> {
  const server = createServer(async (req, res) => {
    await forwardToTestRegistry(req, res);
  });
  // A port picked now and listened on later; nothing else on the loopback takes it meanwhile in a test.
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        if (!server.listening) return resolve();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  return {
    url: `http://127.0.0.1:${port}`,
    start: () => new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve)),
  };
}
