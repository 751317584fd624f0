import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import {
  addOperationRoutes,
  allowOnlyPost,
  createInFlight,
  createIntakeServer,
  httpReason,
  readinessOf,
} from '../../core/http-answers.ts';
import { silentLogger } from '../../core/logger.ts';

function testServer(t: { after(fn: () => unknown): void }) {
  const app = createIntakeServer({
    logger: silentLogger(),
    component: 'test',
    bodyLimitBytes: 1024,
    messages: { unsupportedMediaType: 'Send JSON.', bodyTooLarge: 'Too large: raise the limit.' },
  });
  t.after(() => app.close());
  return app;
}

test('an intake server hands JSON bodies over as the bytes received, and says what to do about others', async (t) => {
  const app = testServer(t);
  app.post('/in', async (request) => ({
    isBuffer: Buffer.isBuffer(request.body),
    text: String(request.body),
  }));
  allowOnlyPost(app, '/in', 'Use POST.');
  const post = (payload: string, type = 'application/json') =>
    app.inject({ method: 'POST', url: '/in', headers: { 'content-type': type }, payload });

  assert.deepEqual((await post('{"MessageID":19421777835146490}')).json(), {
    isBuffer: true,
    text: '{"MessageID":19421777835146490}',
  });
  const media = await post('a=b', 'application/x-www-form-urlencoded');
  assert.equal(media.statusCode, 415);
  assert.deepEqual(media.json(), { error: 'Unsupported Media Type', message: 'Send JSON.' });
  const large = await post(`"${'x'.repeat(2000)}"`);
  assert.equal(large.statusCode, 413);
  assert.deepEqual(large.json(), { error: 'Payload Too Large', message: 'Too large: raise the limit.' });
  const get = await app.inject({ method: 'GET', url: '/in' });
  assert.equal(get.statusCode, 405);
  assert.equal(get.headers.allow, 'POST');
  assert.deepEqual(get.json(), { error: 'Method Not Allowed', message: 'Use POST.' });
  assert.equal(httpReason(418), 'Error');
});

test('readiness follows the checks until intake stops, then fails; metrics are refreshed before a scrape', async (t) => {
  const app = testServer(t);
  let open = true;
  let scrapes = 0;
  const registry = new Registry();
  addOperationRoutes(app, {
    intakeOpen: () => open,
    readiness: async () => ({ ready: true, checks: { kafka: true } }),
    registry,
    beforeMetrics: () => {
      scrapes++;
    },
  });
  assert.equal((await app.inject('/health/live')).statusCode, 200);
  const ready = await app.inject('/health/ready');
  assert.equal(ready.statusCode, 200);
  assert.deepEqual(ready.json(), { status: 'ready', checks: { kafka: true } });
  open = false;
  const stopping = await app.inject('/health/ready');
  assert.equal(stopping.statusCode, 503);
  assert.deepEqual(stopping.json(), { status: 'not ready', checks: { intake: false } });
  assert.equal((await app.inject('/metrics')).statusCode, 200);
  assert.equal(scrapes, 1);
});

test('in-flight tracking resolves idle once the last request finished, even when it failed', async () => {
  const inFlight = createInFlight();
  await inFlight.idle();
  let finish: () => void = () => {};
  const slow = inFlight.track(() => new Promise<void>((resolve) => (finish = resolve)));
  const failing = inFlight.track(async () => {
    throw new Error('boom');
  });
  await assert.rejects(failing, /boom/);
  let idle = false;
  const waiting = inFlight.idle().then(() => (idle = true));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(idle, false, 'one request is still in flight');
  finish();
  await slow;
  await waiting;
  assert.equal(idle, true);
});

test('ready only when every check passes, reporting them all', () => {
  assert.deepEqual(readinessOf({ kafka: true, schemaRegistry: true }), {
    ready: true,
    checks: { kafka: true, schemaRegistry: true },
  });
  assert.equal(readinessOf({ kafka: true, consumerGroup: false }).ready, false);
  assert.deepEqual(readinessOf({ kafka: true }, { schemaRegistry: false }), {
    ready: true,
    checks: { kafka: true },
    optional: { schemaRegistry: false },
  });
  assert.equal(readinessOf({ kafka: false }, { schemaRegistry: true }).ready, false);
});
