import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { Registry } from 'prom-client';
import {
  addOperationRoutes,
  allowOnlyPost,
  createInFlight,
  createIntakeServer,
  httpReason,
  type IntakeServerOptions,
  parseTrustProxy,
  readinessOf,
} from '../../core/http-answers.ts';
import { silentLogger } from '../../core/logger.ts';
import { closeWhenDone, slowUpload } from '../helpers/http.ts';

function testServer(t: TestContext, options: Partial<IntakeServerOptions> = {}) {
  const app = createIntakeServer({
    logger: silentLogger(),
    component: 'test',
    bodyLimitBytes: 1024,
    maxBytesInFlight: 64 * 1024,
    retryAfterSeconds: 7,
    trustProxy: false,
    messages: {
      unsupportedMediaType: 'Send JSON.',
      bodyTooLarge: 'Too large: raise the limit.',
      tooManyBytesInFlight: 'Too many bytes in flight: retry later.',
    },
    ...options,
  });
  closeWhenDone(t, app);
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

/** A route whose handler holds every request until `release()`; `entered` counts the requests inside. */
function heldRoute(t: TestContext, app: ReturnType<typeof createIntakeServer>) {
  let release = () => {};
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  t.after(() => release());
  const state = { entered: 0, release: () => release() };
  app.post('/in', async (request) => {
    state.entered++;
    await held;
    return { bytes: (request.body as Buffer).length };
  });
  return state;
}

// The guard: a server that waits for the body before it answers never answers the slow upload below.
test('bodies are shed by the bytes in flight before they are read: 503 + Retry-After, the sum of bodies held bounded', {
  timeout: 30_000,
}, async (t: TestContext) => {
  // Broke: nothing bounded the bytes of concurrent bodies: each was buffered whole (up to the body limit)
  // and then parsed, however many came at once, so concurrent large bodies took any amount of memory.
  let shed = 0;
  const app = testServer(t, { bodyLimitBytes: 8000, maxBytesInFlight: 5000, onShed: () => shed++ });
  const route = heldRoute(t, app);
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  const post = (bytes: number) =>
    fetch(`${url}/in`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: `"${'x'.repeat(bytes - 2)}"`,
    });

  const first = post(2000);
  const second = post(2000);
  while (route.entered < 2) await new Promise((resolve) => setImmediate(resolve));

  // 4000 bytes are held; 2000 more would pass 5000. The answer comes before a byte of the body was sent.
  const third = slowUpload(`${url}/in`, {
    headers: { 'content-type': 'application/json' },
    contentLength: 2000,
    signal: t.signal,
  });
  const refused = await third.answer;
  third.finish();
  assert.equal(refused.status, 503);
  assert.equal(refused.headers['retry-after'], '7');
  assert.deepEqual(JSON.parse(refused.body), {
    error: 'Service Unavailable',
    message: 'Too many bytes in flight: retry later.',
  });
  // A body of unknown length (chunked) counts as the body limit.
  const chunked = slowUpload(`${url}/in`, {
    headers: { 'content-type': 'application/json' },
    sent: '"x',
    signal: t.signal,
  });
  assert.equal((await chunked.answer).status, 503);
  chunked.finish();
  assert.equal(shed, 2);

  route.release();
  assert.equal((await first).status, 200);
  assert.equal((await second).status, 200);
  // Answered bodies no longer count; one larger than the cap passes when it is alone.
  const alone = await post(6000);
  assert.equal(alone.status, 200);
  assert.deepEqual(await alone.json(), { bytes: 6000 });
  assert.equal((await post(2000)).status, 200);
});

test('a request refused before its body was read frees its bytes, and GETs never count', async (t: TestContext) => {
  const app = testServer(t, { bodyLimitBytes: 8000, maxBytesInFlight: 5000 });
  heldRoute(t, app).release();
  app.get('/health/live', async () => ({ status: 'live' }));
  app.addHook('onRequest', async (request, reply) => {
    if (request.headers['x-refuse']) return reply.code(401).send({ error: 'Unauthorized', message: 'no' });
  });
  for (let i = 0; i < 5; i++) {
    const refused = await app.inject({
      method: 'POST',
      url: '/in',
      headers: { 'content-type': 'application/json', 'x-refuse': '1' },
      payload: `"${'x'.repeat(3000)}"`,
    });
    assert.equal(refused.statusCode, 401);
  }
  const tooLarge = await app.inject({
    method: 'POST',
    url: '/in',
    headers: { 'content-type': 'application/json' },
    payload: `"${'x'.repeat(9000)}"`,
  });
  assert.equal(tooLarge.statusCode, 413);
  assert.equal((await app.inject('/health/live')).statusCode, 200);
  const ok = await app.inject({
    method: 'POST',
    url: '/in',
    headers: { 'content-type': 'application/json' },
    payload: `"${'x'.repeat(4000)}"`,
  });
  assert.equal(ok.statusCode, 200);
});

test("the client address is the connection's unless the proxies to believe are configured", async (t) => {
  // Broke: trustProxy was always true, so anyone could put any address in the logs with X-Forwarded-For.
  const ipSeen = async (trustProxy: IntakeServerOptions['trustProxy']) => {
    const app = testServer(t, { trustProxy });
    app.get('/ip', async (request) => ({ ip: request.ip }));
    const response = await app.inject({
      method: 'GET',
      url: '/ip',
      remoteAddress: '10.0.0.7',
      headers: { 'x-forwarded-for': '203.0.113.9' },
    });
    return response.json().ip;
  };
  assert.equal(await ipSeen(false), '10.0.0.7');
  assert.equal(await ipSeen(['10.0.0.0/8']), '203.0.113.9');
  assert.equal(
    await ipSeen(['192.168.0.1']),
    '10.0.0.7',
    'a connection from another address is not believed',
  );
  assert.equal(await ipSeen(true), '203.0.113.9');
});

test('the trust-proxy setting reads false, true or a list of addresses and subnets, and names what is wrong', () => {
  assert.equal(parseTrustProxy('false'), false);
  assert.equal(parseTrustProxy(''), false);
  assert.equal(parseTrustProxy('true'), true);
  assert.deepEqual(parseTrustProxy('10.0.0.0/8, 192.168.1.1,loopback,::1,fd00::/8'), [
    '10.0.0.0/8',
    '192.168.1.1',
    'loopback',
    '::1',
    'fd00::/8',
  ]);
  assert.throws(() => parseTrustProxy('2'), /"2" is not an IP address/);
  assert.throws(() => parseTrustProxy('10.0.0.0/33'), /"10.0.0.0\/33" is not an IP address/);
  assert.throws(() => parseTrustProxy('proxy.example.com'), /is not an IP address, a subnet/);
});
