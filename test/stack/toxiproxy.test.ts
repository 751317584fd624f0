import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createConnection, createServer, type Socket } from 'node:net';
import { type TestContext, test } from 'node:test';
import { freePort } from '../../stack/free-port.ts';
import { groupAlive } from '../../stack/jvm-process.ts';
import { ToxiproxyServer } from '../../stack/toxiproxy.ts';

/** A TCP echo server on loopback, and a Toxiproxy proxy in front of it. */
async function echoBehindProxy(t: TestContext) {
  const echo = createServer((socket) => {
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  echo.listen(0, '127.0.0.1');
  await once(echo, 'listening');
  t.after(() => echo.close());
  const toxiproxy = await ToxiproxyServer.start();
  t.after(() => toxiproxy.stop());
  const { port } = echo.address() as { port: number };
  const proxy = await toxiproxy.proxy('echo', `127.0.0.1:${await freePort()}`, `127.0.0.1:${port}`);
  return { toxiproxy, proxy };
}

function connect(t: TestContext, address: string): Promise<Socket> {
  const [host, port] = address.split(':');
  const socket = createConnection({ host: host as string, port: Number(port) });
  t.after(() => socket.destroy());
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

async function echoed(socket: Socket, text: string): Promise<string> {
  socket.write(text);
  let received = '';
  for await (const chunk of socket) {
    received += chunk.toString();
    if (received.length >= text.length) return received;
  }
  return received;
}

/** How the socket ends: `reset` (ECONNRESET), `closed` (FIN) and the bytes it received before. */
async function ending(socket: Socket): Promise<{ how: string; received: string }> {
  let received = '';
  socket.on('data', (chunk: Buffer) => {
    received += chunk.toString();
  });
  const how = await new Promise<string>((resolve) => {
    socket.once('error', (err: NodeJS.ErrnoException) =>
      resolve(err.code === 'ECONNRESET' ? 'reset' : (err.code ?? 'error')),
    );
    socket.once('close', () => resolve('closed'));
  });
  return { how, received };
}

test('a proxy forwards to its upstream until a toxic or a disable cuts it, and reset() heals it', async (t) => {
  const { toxiproxy, proxy } = await echoBehindProxy(t);
  assert.equal(await echoed(await connect(t, proxy.listen), 'through'), 'through');

  // reset_peer: the connection is reset (TCP RST) once the toxic's timeout passed.
  const reset = await proxy.addToxic({ type: 'reset_peer', stream: 'upstream', attributes: { timeout: 50 } });
  const resetSocket = await connect(t, proxy.listen);
  resetSocket.write('lost');
  assert.deepEqual(await ending(resetSocket), { how: 'reset', received: '' });
  await proxy.removeToxic(reset);
  assert.equal(await echoed(await connect(t, proxy.listen), 'again'), 'again');

  // timeout: data goes nowhere, then the connection is closed without an answer.
  await proxy.addToxic({ type: 'timeout', stream: 'upstream', attributes: { timeout: 200 } });
  const blackHoled = await connect(t, proxy.listen);
  blackHoled.write('dropped');
  assert.deepEqual(await ending(blackHoled), { how: 'closed', received: '' });

  // Disabled: nothing listens on the proxy's port any more.
  await proxy.setEnabled(false);
  await assert.rejects(connect(t, proxy.listen), { code: 'ECONNREFUSED' });

  await toxiproxy.reset();
  assert.equal(await echoed(await connect(t, proxy.listen), 'healed'), 'healed');
});

test('stop() ends the Toxiproxy process', async () => {
  const toxiproxy = await ToxiproxyServer.start();
  const { pid } = toxiproxy;
  assert.ok(groupAlive(pid));
  await toxiproxy.stop();
  assert.equal(groupAlive(pid), false);
});
