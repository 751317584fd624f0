import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { type TestContext, test } from 'node:test';
import { pino } from 'pino';
import type { PublishContext } from '../../core/batching-producer.ts';
import { createBatchingProducer } from '../../core/batching-producer.ts';
import { ConnectorError } from '../../core/errors.ts';
import type { Readiness } from '../../core/http-answers.ts';
import { silentLogger } from '../../core/logger.ts';
import type { IdentifyBody } from '../../destination/identify-body.ts';
import { createIdentifyPublisher, type IdentifyPublisher } from '../../destination/identify-publisher.ts';
import { buildIntakeApp, INTAKE_ROUTES, type IntakeAppOptions } from '../../destination/intake-app.ts';
import { createDestinationMetrics } from '../../destination/metrics.ts';
import { type SegmentIdentify, segmentIdentifySchema, valueSubject } from '../../schemas/index.ts';
import { closeWhenDone, slowUpload } from '../helpers/http.ts';
import { readRecords, testKafka, testRegistry, uniqueName } from '../helpers/stack.ts';

const WRITE_KEY = 'wk-0123456789abcdef';
const SECRET = 'shared-secret-0123456789';
const writeKeyAuth = `Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}`;
const json = { 'content-type': 'application/json' };
const sign = (text: string) => createHmac('sha1', SECRET).update(text).digest('hex');

/**
 * A publisher that stores nothing: for what the HTTP layer decides (auth, shedding, status codes).
 * What reaches Kafka is tested with the real publisher, below and in identify-publisher.test.ts.
 */
function fakePublisher() {
  const published: { body: IdentifyBody; context: PublishContext }[] = [];
  let failure: Error | undefined;
  let gate: Promise<void> | undefined;
  let waiting = 0;
  let calls = 0;
  const releases: (() => void)[] = [];
  const publisher: IdentifyPublisher = {
    async publish(body, context) {
      calls++;
      if (failure) throw failure;
      waiting += body.accepted.length;
      await gate;
      waiting -= body.accepted.length;
      published.push({ body, context });
      const identities = body.accepted.filter((c) => c.email !== null && c.userId !== null).length;
      return { stored: body.accepted.length, identities, deadLettered: body.rejected.length };
    },
    pending: () => waiting,
    drain: async () => {},
  };
  return {
    publisher,
    published,
    waiting: () => calls - published.length,
    failWith(error: Error | undefined) {
      failure = error;
    },
    /** Holds every publish until the returned function is called: a Kafka that has not acked yet. */
    hold(): () => void {
      let release = () => {};
      gate = new Promise((resolve) => {
        release = resolve;
      });
      releases.push(release);
      return release;
    },
    /** Lets every held publish go (a test that failed must not leave requests the app close waits for). */
    releaseAll() {
      for (const release of releases) release();
    },
  };
}

function testApp(t: TestContext, options: Partial<IntakeAppOptions> = {}) {
  const fake = fakePublisher();
  const metrics = createDestinationMetrics({ defaultMetrics: false });
  let readiness: Readiness = { ready: true, checks: { kafka: true, schemaRegistry: true } };
  const intake = buildIntakeApp({
    credentials: { writeKey: WRITE_KEY, sharedSecret: SECRET },
    bodyLimitBytes: 4096,
    maxBytesInFlight: 8192,
    trustProxy: false,
    publisher: fake.publisher,
    readiness: async () => readiness,
    metrics,
    logger: silentLogger(),
    ...options,
  });
  t.after(() => fake.releaseAll());
  closeWhenDone(t, intake.app);
  const post = (
    url: string,
    body: unknown,
    headers: Record<string, string> = { ...json, authorization: writeKeyAuth },
  ) =>
    intake.app.inject({
      method: 'POST',
      url,
      headers,
      payload: typeof body === 'string' ? body : JSON.stringify(body),
    });
  return {
    ...intake,
    ...fake,
    metrics,
    post,
    setReadiness(value: Readiness) {
      readiness = value;
    },
  };
}

const identify = { type: 'identify', userId: 'u-1', traits: { email: 'a@example.com' } };

test('POST /v1/identify with the write key: 200 as Segment answers, the call handed to the publisher', async (t) => {
  const intake = testApp(t);
  const response = await intake.post(INTAKE_ROUTES.identify, {
    userId: 'u-1',
    traits: { email: 'a@example.com' },
  });
  assert.equal(response.statusCode, 200);
  assert.deepEqual(response.json(), { success: true, stored: 1, ignored: 0, deadLettered: 0 });
  const [first] = intake.published;
  assert.equal(first?.body.accepted[0]?.userId, 'u-1', 'the type is implied on /v1/identify');
  assert.match(first?.context.requestId ?? '', /^[0-9a-f-]{36}$/);
});

test('POST /v1/batch with writeKey in the body; other call types ignored, invalid ones dead-lettered', async (t) => {
  const intake = testApp(t);
  const response = await intake.post(
    INTAKE_ROUTES.batch,
    {
      writeKey: WRITE_KEY,
      batch: [identify, { type: 'track', userId: 'u-1', event: 'x' }, { type: 'identify' }],
    },
    json,
  );
  assert.equal(response.statusCode, 200);
  assert.deepEqual(response.json(), { success: true, stored: 1, ignored: 1, deadLettered: 1 });
});

test('POST /webhooks/segment signed over the whole body: a single call, a batch, either header', async (t) => {
  const intake = testApp(t);
  const single = JSON.stringify(identify);
  const one = await intake.post(INTAKE_ROUTES.webhook, single, { ...json, 'x-signature': sign(single) });
  assert.equal(one.statusCode, 200);
  const calls = JSON.stringify([{ type: 'page', anonymousId: 'a', name: 'Home' }, identify]);
  const batch = await intake.post(INTAKE_ROUTES.webhook, calls, { ...json, 'x-signature': sign(calls) });
  assert.equal(batch.statusCode, 200);
  assert.deepEqual(batch.json(), { success: true, stored: 1, ignored: 1, deadLettered: 0 });
  // Segment's Webhooks (Actions) with "Use X-Segment-Signature Header" on: the same HMAC, another name.
  const segment = await intake.post(INTAKE_ROUTES.webhook, calls, {
    ...json,
    'x-segment-signature': sign(calls).toUpperCase(),
  });
  assert.equal(segment.statusCode, 200);
  assert.equal(intake.published.length, 3);
});

test('a captured X-Signature does not authorize calls added to its body', async (t) => {
  // Broke: only the first call of a batch was checked against X-Signature, so a signature copied from
  // one legitimate request let anyone append calls (here: linking the victim's email to their userId).
  const intake = testApp(t);
  const victim = { type: 'identify', userId: 'victim', traits: { email: 'victim@example.com' } };
  const attacker = { type: 'identify', userId: 'attacker', traits: { email: 'victim@example.com' } };
  const captured = sign(JSON.stringify(victim));
  const forged = [
    [victim, attacker],
    { batch: [victim, attacker] },
    JSON.stringify(victim).replace(/}$/, ',"userId":"attacker"}'),
  ];
  for (const body of forged) {
    const response = await intake.post(INTAKE_ROUTES.webhook, body, { ...json, 'x-signature': captured });
    assert.equal(response.statusCode, 401);
  }
  // What Segment's legacy X-Signature signs for a batch (its first call) no longer lets the batch in.
  const legacy = await intake.post(INTAKE_ROUTES.webhook, [victim], { ...json, 'x-signature': captured });
  assert.equal(legacy.statusCode, 401);
  assert.match(legacy.json().message, /X-Signature must be the HMAC of the whole body/);
  assert.equal(intake.published.length, 0);
});

test('credentials are checked before the body is read where they are in the headers: a client still sending gets 401', {
  timeout: 30_000,
}, async (t: TestContext) => {
  // Broke: every body (up to 16 MiB) was read and parsed before any credential was looked at.
  for (const [credentials, headers] of [
    [{ writeKey: WRITE_KEY }, { authorization: 'Basic d3Jvbmc6' }],
    [{ sharedSecret: SECRET }, {}],
    [{ sharedSecret: SECRET }, { authorization: writeKeyAuth }],
  ] as const) {
    const intake = testApp(t, { credentials });
    const url = await intake.app.listen({ host: '127.0.0.1', port: 0 });
    const upload = slowUpload(`${url}${INTAKE_ROUTES.batch}`, {
      headers: { ...json, ...headers },
      contentLength: 4000,
      sent: '{"batch":[[[[[[[[',
      signal: t.signal,
    });
    const answer = await upload.answer;
    upload.finish();
    assert.equal(answer.status, 401);
    assert.equal(intake.published.length, 0);
  }
});

test('a body that only its write key can authenticate is never parsed before the key matched', async (t) => {
  const intake = testApp(t);
  // Invalid JSON after a wrong key: refused, not dead-lettered. After the right key: dead-lettered.
  const wrong = await intake.post(INTAKE_ROUTES.batch, '{"writeKey":"wk-wrong-key-000000","batch":[', json);
  assert.equal(wrong.statusCode, 401);
  const right = await intake.post(INTAKE_ROUTES.batch, `{"writeKey":"${WRITE_KEY}","batch":[`, json);
  assert.equal(right.statusCode, 200);
  assert.deepEqual(right.json(), { success: true, stored: 0, ignored: 0, deadLettered: 1 });
  // A writeKey deeper than the top level is not the body's key.
  const nested = await intake.post(
    INTAKE_ROUTES.batch,
    { batch: [{ ...identify, writeKey: WRITE_KEY }] },
    json,
  );
  assert.equal(nested.statusCode, 401);
});

test("the Basic scheme's name is case-insensitive (RFC 7235)", async (t) => {
  // Broke: only "Basic " was read, so "basic" (which RFC 7235 allows) got 401.
  const intake = testApp(t);
  for (const scheme of ['basic', 'BASIC']) {
    const authorization = `${scheme} ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}`;
    const response = await intake.post(INTAKE_ROUTES.identify, identify, { ...json, authorization });
    assert.equal(response.statusCode, 200, scheme);
  }
});

test('concurrent bodies over the bytes in flight get 503 with Retry-After before they are read', {
  timeout: 30_000,
}, async (t) => {
  // Broke: nothing bounded the bytes of concurrent bodies, each buffered and parsed whole.
  const intake = testApp(t);
  const release = intake.hold();
  const body = JSON.stringify({ batch: Array(48).fill(identify) });
  assert.ok(body.length > 3000 && body.length < 4096);
  const held = [intake.post(INTAKE_ROUTES.batch, body), intake.post(INTAKE_ROUTES.batch, body)];
  while (intake.waiting() < 2) await new Promise((resolve) => setImmediate(resolve));
  const shed = await intake.post(INTAKE_ROUTES.batch, body);
  assert.equal(shed.statusCode, 503);
  assert.equal(shed.headers['retry-after'], '5');
  assert.match(shed.json().message, /DESTINATION_MAX_BYTES_IN_FLIGHT=8192 bytes; retry later/);
  release();
  for (const response of await Promise.all(held)) assert.equal(response.statusCode, 200);
  assert.equal((await intake.post(INTAKE_ROUTES.batch, body)).statusCode, 200);
  assert.match(
    await intake.metrics.registry.metrics(),
    /mailjet_destination_shed_total\{reason="bytes_in_flight"\} 1/,
  );
});

test('X-Forwarded-For is the logged client address only from the proxies the config names', async (t) => {
  // Broke: every X-Forwarded-For was believed, so any client chose the address the logs show.
  const refusedFrom = async (trustProxy: IntakeAppOptions['trustProxy']) => {
    const lines: { msg?: string; ip?: string }[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const intake = testApp(t, { trustProxy, logger });
    const response = await intake.app.inject({
      method: 'POST',
      url: INTAKE_ROUTES.identify,
      remoteAddress: '10.0.0.7',
      headers: { ...json, authorization: 'Basic d3Jvbmc6', 'x-forwarded-for': '203.0.113.9' },
      payload: JSON.stringify(identify),
    });
    assert.equal(response.statusCode, 401);
    return lines.find((line) => line.msg?.startsWith('identify request refused'))?.ip;
  };
  assert.equal(await refusedFrom(false), '10.0.0.7');
  assert.equal(await refusedFrom(['10.0.0.0/8']), '203.0.113.9');
});

test('missing or wrong credentials: 401 with a clear message, nothing published, not even invalid JSON', async (t) => {
  const intake = testApp(t);
  const missing = await intake.post(INTAKE_ROUTES.identify, identify, json);
  assert.equal(missing.statusCode, 401);
  assert.match(missing.headers['www-authenticate'] as string, /^Basic realm=/);
  assert.equal(missing.json().error, 'Unauthorized');
  assert.match(
    missing.json().message,
    /^Credentials required: send the write key as the HTTP Basic username/,
  );

  const wrong = [
    await intake.post(INTAKE_ROUTES.identify, identify, {
      ...json,
      authorization: `Basic ${Buffer.from('wk-not-the-right-key:').toString('base64')}`,
    }),
    await intake.post(INTAKE_ROUTES.batch, { writeKey: 'nope', batch: [identify] }, json),
    await intake.post(INTAKE_ROUTES.webhook, [identify], { ...json, 'x-signature': sign('something else') }),
    await intake.post(INTAKE_ROUTES.webhook, [identify], { ...json, 'x-segment-signature': sign('[]') }),
    await intake.post(INTAKE_ROUTES.webhook, '{"not json', { ...json, 'x-signature': 'deadbeef' }),
    await intake.post(INTAKE_ROUTES.webhook, '{"not json', json),
  ];
  for (const response of wrong) assert.equal(response.statusCode, 401);
  assert.match(
    wrong[0]?.json().message,
    /^Invalid credentials: neither the write key .* nor X-Signature matches/,
  );
  assert.equal(intake.published.length, 0);
});

test('with auth disabled anyone may post', async (t) => {
  const intake = testApp(t, { credentials: undefined });
  assert.equal((await intake.post(INTAKE_ROUTES.webhook, identify, json)).statusCode, 200);
});

test('invalid JSON from an authenticated sender is answered 200: it is dead-lettered, Segment must not retry it', async (t) => {
  const intake = testApp(t);
  const response = await intake.post(INTAKE_ROUTES.webhook, '{"type":"identify",');
  assert.equal(response.statusCode, 200);
  assert.deepEqual(response.json(), { success: true, stored: 0, ignored: 0, deadLettered: 1 });
});

test('other methods get 405 with Allow: POST on every intake route', async (t) => {
  const intake = testApp(t);
  for (const url of Object.values(INTAKE_ROUTES)) {
    for (const method of ['GET', 'PUT', 'PATCH', 'DELETE'] as const) {
      const response = await intake.app.inject({ method, url });
      assert.equal(response.statusCode, 405, `${method} ${url}`);
      assert.equal(response.headers.allow, 'POST');
      assert.equal(response.json().message, 'Identify calls are sent with POST.');
    }
  }
});

test('a body that is not JSON is 415, one over the limit 413, both saying what to do', async (t) => {
  const intake = testApp(t);
  const form = await intake.post(INTAKE_ROUTES.identify, 'userId=u', {
    'content-type': 'application/x-www-form-urlencoded',
    authorization: writeKeyAuth,
  });
  assert.equal(form.statusCode, 415);
  assert.match(
    form.json().message,
    /Identify calls are JSON: send the body with Content-Type: application\/json/,
  );

  const big = await intake.post(INTAKE_ROUTES.batch, { batch: Array(100).fill(identify) });
  assert.equal(big.statusCode, 413);
  assert.match(big.json().message, /larger than DESTINATION_BODY_LIMIT_BYTES=4096; raise it/);

  const charset = await intake.post(INTAKE_ROUTES.identify, identify, {
    'content-type': 'application/json; charset=utf-8',
    authorization: writeKeyAuth,
  });
  assert.equal(charset.statusCode, 200, 'a charset parameter is fine');
  assert.equal(intake.published.length, 1);
});

test('overload and Kafka timeouts are 503 with Retry-After; only overload counts as shed', async (t) => {
  const intake = testApp(t, { retryAfterSeconds: 9 });
  intake.failWith(new ConnectorError('DESTINATION_OVERLOADED', '20000 records already wait for Kafka'));
  const overloaded = await intake.post(INTAKE_ROUTES.identify, identify);
  assert.equal(overloaded.statusCode, 503);
  assert.equal(overloaded.headers['retry-after'], '9');
  assert.equal(
    overloaded.json().message,
    '20000 records already wait for Kafka. Retry later; nothing was lost.',
  );

  intake.failWith(new ConnectorError('KAFKA_UNAVAILABLE', 'Kafka did not ack 1 records within 4000 ms'));
  const timeout = await intake.post(INTAKE_ROUTES.webhook, identify);
  assert.equal(timeout.statusCode, 503);
  assert.equal(timeout.headers['retry-after'], '9');

  const metrics = await intake.metrics.registry.metrics();
  assert.match(metrics, /mailjet_destination_shed_total\{reason="overloaded"\} 1/);
  assert.doesNotMatch(metrics, /mailjet_destination_calls_total\{outcome="stored"\}/);
});

test('Retry-After is 5 s unless the factory is told otherwise', async (t) => {
  const intake = testApp(t);
  intake.failWith(new ConnectorError('KAFKA_UNAVAILABLE', 'down'));
  assert.equal((await intake.post(INTAKE_ROUTES.identify, identify)).headers['retry-after'], '5');
});

test('an unexpected failure is a 500, not a 503: retrying the same body would fail again', async (t) => {
  const intake = testApp(t);
  intake.failWith(new ConnectorError('SCHEMA_REGISTRATION_FAILED', 'incompatible'));
  const response = await intake.post(INTAKE_ROUTES.identify, identify);
  assert.equal(response.statusCode, 500);
  assert.equal(response.json().error, 'Internal Server Error');
});

test('stopIntake: a request waiting for Kafka still gets 200, idle() waits for it, new ones get 503', async (t) => {
  const intake = testApp(t);
  const release = intake.hold();
  const waiting = intake.post(INTAKE_ROUTES.identify, identify);
  while (intake.publisher.pending() === 0) await new Promise((resolve) => setImmediate(resolve));

  intake.stopIntake();
  let idle = false;
  const idlePromise = intake.idle().then(() => {
    idle = true;
  });
  const refused = await intake.post(INTAKE_ROUTES.batch, { batch: [identify] });
  assert.equal(refused.statusCode, 503);
  assert.equal(refused.headers['retry-after'], '5');
  assert.match(refused.json().message, /shutting down; retry later/);
  const ready = await intake.app.inject({ method: 'GET', url: '/health/ready' });
  assert.equal(ready.statusCode, 503);
  assert.deepEqual(ready.json(), { status: 'not ready', checks: { intake: false } });
  assert.equal(idle, false, 'a request is still in flight');

  release();
  assert.equal((await waiting).statusCode, 200);
  await idlePromise;
  assert.equal(idle, true);
  assert.match(
    await intake.metrics.registry.metrics(),
    /mailjet_destination_shed_total\{reason="shutting_down"\} 1/,
  );
});

test('idle() resolves at once when nothing is in flight', async (t) => {
  await testApp(t).idle();
});

test('liveness, readiness from the callback, and metrics by route, status and outcome', async (t) => {
  const intake = testApp(t);
  assert.equal((await intake.post(INTAKE_ROUTES.identify, identify)).statusCode, 200);
  assert.equal(
    (await intake.post(INTAKE_ROUTES.webhook, [identify, { type: 'track', userId: 'u' }, 7])).statusCode,
    200,
  );
  assert.equal((await intake.post(INTAKE_ROUTES.batch, { batch: [] }, json)).statusCode, 401);

  assert.deepEqual((await intake.app.inject({ method: 'GET', url: '/health/live' })).json(), {
    status: 'live',
  });
  const ready = await intake.app.inject({ method: 'GET', url: '/health/ready' });
  assert.equal(ready.statusCode, 200);
  assert.deepEqual(ready.json(), { status: 'ready', checks: { kafka: true, schemaRegistry: true } });
  intake.setReadiness({ ready: false, checks: { kafka: false, schemaRegistry: true } });
  const notReady = await intake.app.inject({ method: 'GET', url: '/health/ready' });
  assert.equal(notReady.statusCode, 503);
  assert.deepEqual(notReady.json(), { status: 'not ready', checks: { kafka: false, schemaRegistry: true } });

  const response = await intake.app.inject({ method: 'GET', url: '/metrics' });
  assert.match(response.headers['content-type'] as string, /^text\/plain/);
  const metrics = response.body;
  assert.match(metrics, /mailjet_destination_requests_total\{route="\/v1\/identify",status="200"\} 1/);
  assert.match(metrics, /mailjet_destination_requests_total\{route="\/webhooks\/segment",status="200"\} 1/);
  assert.match(metrics, /mailjet_destination_requests_total\{route="\/v1\/batch",status="401"\} 1/);
  assert.doesNotMatch(metrics, /route="\/health/, 'only intake routes are counted');
  assert.match(metrics, /mailjet_destination_calls_total\{outcome="stored"\} 2/);
  assert.match(metrics, /mailjet_destination_calls_total\{outcome="ignored"\} 1/);
  assert.match(metrics, /mailjet_destination_calls_total\{outcome="dead_lettered"\} 1/);
  assert.match(metrics, /mailjet_destination_identities_published_total 2/);
  assert.match(metrics, /mailjet_destination_pending_calls 0/);
});

test('with the real publisher, a signed webhook batch is in Kafka when the 200 comes', async (t) => {
  const kafka = testKafka(t);
  const topics = {
    identifyTopic: uniqueName('identifies'),
    identityTopic: uniqueName('identities'),
    deadLetterTopic: uniqueName('intake-dlq'),
  };
  await kafka.ensureTopics(Object.values(topics).map((topic) => ({ topic, partitions: 2 })));
  const producer = await kafka.producer({ idempotent: true });
  t.after(() => producer.disconnect());
  const publisher = createIdentifyPublisher({
    producer: createBatchingProducer(producer),
    identifySerializer: await testRegistry().serializer(
      valueSubject(topics.identifyTopic),
      segmentIdentifySchema,
    ),
    ...topics,
    ackTimeoutMs: 30_000,
    maxPendingRecords: 1000,
  });
  const intake = testApp(t, { publisher });
  const calls = [
    {
      ...identify,
      messageId: 'msg-1',
      context: { personas: { computation_class: 'audience', computation_key: 'vip' } },
    },
    { type: 'identify', anonymousId: 'anon-9', messageId: 'msg-2' },
  ];
  const response = await intake.post(INTAKE_ROUTES.webhook, calls, {
    ...json,
    'x-signature': sign(JSON.stringify(calls)),
  });
  assert.equal(response.statusCode, 200);
  assert.deepEqual(response.json(), { success: true, stored: 2, ignored: 0, deadLettered: 0 });

  const decode = testRegistry().decoder<SegmentIdentify>(segmentIdentifySchema);
  const records = await readRecords(t, kafka, topics.identifyTopic, 2);
  const values = await Promise.all(records.map((r) => decode(r.value as Buffer)));
  const vip = values.find((v) => v.message_id === 'msg-1');
  assert.equal(vip?.audience_key, 'vip');
  assert.equal(vip?.email, 'a@example.com');
  assert.equal(new Set(values.map((v) => v.request_id)).size, 1, 'the calls of one request share its id');
  const [identity] = await readRecords(t, kafka, topics.identityTopic, 1);
  assert.equal(identity?.key?.toString(), 'a@example.com');
  assert.equal(identity?.value?.toString(), 'u-1');
});
