import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { ConnectorError } from '../../core/errors.ts';
import { assertPortFree, freePort, retryPortClash } from '../../stack/free-port.ts';

test('a picked port taken before the process bound it: started again, up to three times', async () => {
  const clash = () =>
    new ConnectorError('PORT_TAKEN', 'kafka could not bind its port. Log tail: BindException');
  let calls = 0;
  const started = await retryPortClash(true, async () => {
    calls++;
    if (calls < 3) throw clash();
    return 'running';
  });
  assert.equal(started, 'running');
  assert.equal(calls, 3);

  let tries = 0;
  await assert.rejects(
    retryPortClash(true, async () => {
      tries++;
      throw new Error('not ready. Log tail:\njava.net.BindException: Address already in use');
    }),
    /Address already in use/,
  );
  assert.equal(tries, 3, 'gives up after three attempts');
});

test('ports the user chose, and other failures, are not retried', async () => {
  let calls = 0;
  await assert.rejects(
    retryPortClash(false, async () => {
      calls++;
      throw new ConnectorError('PORT_TAKEN', 'Port 127.0.0.1:9092 (Kafka broker) is already in use.');
    }),
    /9092/,
  );
  assert.equal(calls, 1);
  calls = 0;
  await assert.rejects(
    retryPortClash(true, async () => {
      calls++;
      throw new ConnectorError('STACK_PROCESS_EXITED', 'kafka exited during start-up.');
    }),
    /exited/,
  );
  assert.equal(calls, 1);
});

test('freePort gives a port nobody listens on; assertPortFree names a taken one', async (t) => {
  const port = await freePort();
  await assertPortFree(port, 'test');
  const server = createServer();
  await new Promise<void>((resolve) => server.listen({ port, host: '127.0.0.1' }, resolve));
  t.after(() => server.close());
  await assert.rejects(assertPortFree(port, 'test'), (err: unknown) => {
    assert.ok(err instanceof ConnectorError);
    assert.equal(err.code, 'PORT_TAKEN');
    assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port} \\(test\\)`));
    return true;
  });
});
