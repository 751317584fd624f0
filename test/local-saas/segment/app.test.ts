import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate } from 'node:timers/promises';
import { pino } from 'pino';
import { buildSegmentApp, segmentLimits } from '../../../local-saas/segment/app.ts';
import { FaultInjector } from '../../../local-saas/segment/faults.ts';
import { SegmentRecorder } from '../../../local-saas/segment/recorder.ts';
import { basicAuth, bigBatch, testSegment, trackEvent, writeKey } from './helpers.ts';

test('a batch with Basic auth is answered 200 {"success":true} and its events are recorded', async (t) => {
  const segment = testSegment(t);
  const events = [trackEvent(), trackEvent({ event: 'Email Link Clicked' })];
  const res = await segment.post('/v1/batch', { batch: events });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), { success: true });
  const stats = segment.recorder.stats();
  assert.equal(stats.eventsReceived, 2);
  assert.deepEqual(stats.byEvent, { 'Email Opened': 1, 'Email Link Clicked': 1 });
  assert.deepEqual(
    segment.recorder.events().map((e) => e.messageId),
    events.map((e) => e.messageId),
  );
});

test('an @segment/analytics-node 3.1 request (Basic header, writeKey and sentAt in the body) is accepted', async (t) => {
  const segment = testSegment(t);
  const sentAt = '2026-01-02T03:04:06.000Z';
  const event = {
    type: 'track',
    event: 'Email Delivered',
    userId: 'contact-1',
    properties: { email_subject: 'Hello' },
    timestamp: '2026-01-02T03:04:05.000Z',
    messageId: 'node-next-1767323045000-9b2f5c1e-4c7a-4a57-9d0e-1f2e3d4c5b6a',
    context: { library: { name: '@segment/analytics-node', version: '3.1.0' } },
    integrations: {},
    _metadata: { nodeVersion: '26.10.0', jsRuntime: 'node' },
  };
  const res = await segment.app.inject({
    method: 'POST',
    url: '/v1/batch',
    headers: {
      'content-type': 'application/json',
      'user-agent': 'analytics-node-next/latest',
      authorization: `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`,
    },
    payload: JSON.stringify({ batch: [event], writeKey, sentAt }),
  });
  assert.equal(res.statusCode, 200);
  const [recorded] = segment.recorder.events();
  assert.ok(recorded);
  assert.equal(recorded.messageId, event.messageId);
  assert.equal(recorded.sentAt, sentAt);
  assert.deepEqual(recorded.context, event.context);
  assert.match(recorded.receivedAt, /^\d{4}-\d\d-\d\dT/);
});

test('an analytics-node 3.0 request (writeKey only in the body, no Authorization header) is accepted', async (t) => {
  const segment = testSegment(t);
  const res = await segment.app.inject({
    method: 'POST',
    url: '/v1/batch',
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify({ batch: [trackEvent()], writeKey, sentAt: new Date().toISOString() }),
  });
  assert.equal(res.statusCode, 200);
  assert.equal(segment.recorder.stats().eventsReceived, 1);
});

test('every configured write key is accepted', async (t) => {
  const segment = testSegment(t);
  const res = await segment.post(
    '/v1/batch',
    { batch: [trackEvent()] },
    { authorization: basicAuth('wk_second_source') },
  );
  assert.equal(res.statusCode, 200);
});

test('an unknown, missing or malformed write key is refused with 401 and a JSON body, recording nothing', async (t) => {
  const segment = testSegment(t);
  const body = { batch: [trackEvent()] };
  const cases: [string, Record<string, string>, unknown][] = [
    ['unknown Basic key', { authorization: basicAuth('wk_wrong') }, body],
    ['Basic without the colon', { authorization: basicAuth(writeKey, false) }, body],
    ['a bearer token', { authorization: 'Bearer some-oauth-token' }, { ...body, writeKey }],
    ['unknown key in the body', { authorization: '' }, { ...body, writeKey: 'wk_wrong' }],
    ['no key at all', {}, body],
  ];
  for (const [name, headers, payload] of cases) {
    const res = await segment.app.inject({
      method: 'POST',
      url: '/v1/batch',
      headers: { 'content-type': 'application/json', ...headers },
      payload: JSON.stringify(payload),
    });
    assert.equal(res.statusCode, 401, name);
    assert.equal(res.json().success, false, name);
    assert.equal(res.json().code, 'invalid_write_key', name);
    assert.ok(res.json().message.length > 10, name);
  }
  assert.equal(segment.recorder.stats().eventsReceived, 0);
  assert.equal(segment.recorder.stats().responsesByStatus['401'], cases.length);
});

test('an Authorization header decides alone: a right key in the body does not rescue a wrong header', async (t) => {
  const segment = testSegment(t);
  const res = await segment.post(
    '/v1/batch',
    { batch: [trackEvent()], writeKey },
    { authorization: basicAuth('wk_wrong') },
  );
  assert.equal(res.statusCode, 401);
});

test('a body that is not application/json is refused with 415 and a JSON body', async (t) => {
  const segment = testSegment(t);
  const payload = JSON.stringify({ batch: [trackEvent()] });
  for (const headers of [{ 'content-type': 'text/plain' }, {}]) {
    const res = await segment.app.inject({
      method: 'POST',
      url: '/v1/batch',
      headers: { authorization: basicAuth(writeKey), ...headers },
      payload,
    });
    assert.equal(res.statusCode, 415);
    assert.deepEqual(res.json(), {
      success: false,
      code: 'unsupported_media_type',
      message: 'Segment requires "Content-Type: application/json".',
    });
  }
  assert.equal(segment.recorder.stats().eventsReceived, 0);
});

test('application/json with a charset parameter is fine', async (t) => {
  const segment = testSegment(t);
  const res = await segment.post(
    '/v1/batch',
    { batch: [trackEvent()] },
    { 'content-type': 'application/json; charset=utf-8' },
  );
  assert.equal(res.statusCode, 200);
});

test('invalid JSON, an empty body or a body that is not an object is answered 400', async (t) => {
  const segment = testSegment(t);
  for (const body of ['{"batch": [', '', '[]', '"text"']) {
    const res = await segment.post('/v1/batch', body);
    assert.equal(res.statusCode, 400, JSON.stringify(body));
    assert.equal(res.json().code, 'invalid_json');
  }
});

test('a batch request without a batch array is answered 400', async (t) => {
  const segment = testSegment(t);
  const res = await segment.post('/v1/batch', { batch: trackEvent() });
  assert.equal(res.statusCode, 400);
  assert.equal(res.json().code, 'invalid_batch');
});

test('a batch request over 500 KB is answered 400 (Segment), not 413 (fastify), and records nothing', async (t) => {
  const segment = testSegment(t);
  const batch = bigBatch(20, 26 * 1024);
  const bytes = Buffer.byteLength(JSON.stringify({ batch }));
  assert.ok(bytes > segmentLimits.batchRequestBytes, `the batch is ${bytes} bytes`);
  const res = await segment.post('/v1/batch', { batch });
  assert.equal(res.statusCode, 400);
  assert.deepEqual(res.json(), {
    success: false,
    code: 'request_too_large',
    message: 'Request body exceeds the limit of 500 KB.',
  });
  assert.equal(segment.recorder.stats().eventsReceived, 0);
});

test('a batch just under 500 KB is accepted', async (t) => {
  const segment = testSegment(t);
  const batch = bigBatch(19, 26 * 1024);
  const bytes = Buffer.byteLength(JSON.stringify({ batch }));
  assert.ok(bytes < segmentLimits.batchRequestBytes && bytes > 480 * 1024, `the batch is ${bytes} bytes`);
  const res = await segment.post('/v1/batch', { batch });
  assert.equal(res.statusCode, 200);
  assert.equal(segment.recorder.stats().eventsReceived, 19);
});

test('one event over 32 KB (UTF-8 JSON) fails the whole batch with 400', async (t) => {
  const segment = testSegment(t);
  // 'é' is two bytes in UTF-8: 17,000 of them fit 32 K characters but not 32 KB.
  const big = trackEvent({ properties: { text: 'é'.repeat(17_000) } });
  assert.ok(JSON.stringify(big).length < segmentLimits.eventBytes);
  const res = await segment.post('/v1/batch', { batch: [trackEvent(), big] });
  assert.equal(res.statusCode, 400);
  assert.equal(res.json().code, 'event_too_large');
  assert.match(res.json().message, /Event 1 of the batch exceeds 32 KB/);
  assert.equal(segment.recorder.stats().eventsReceived, 0);
});

test('a single call over 32 KB is answered 400', async (t) => {
  const segment = testSegment(t);
  const res = await segment.post('/v1/track', trackEvent({ properties: { padding: 'x'.repeat(33 * 1024) } }));
  assert.equal(res.statusCode, 400);
  assert.deepEqual(res.json(), {
    success: false,
    code: 'request_too_large',
    message: 'Request body exceeds the limit of 32 KB.',
  });
});

test('more than 2,500 events in a batch: 200, but every event is rejected, none received', async (t) => {
  const segment = testSegment(t);
  const batch = Array.from({ length: 2501 }, () => trackEvent());
  const res = await segment.post('/v1/batch', { batch });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), { success: true });
  const stats = segment.recorder.stats();
  assert.equal(stats.eventsReceived, 0);
  assert.equal(stats.eventsRejected, 2501);
  assert.deepEqual(stats.rejectedByReason, { too_many_events: 2501 });
  assert.match(segment.recorder.rejections(1)[0]?.message ?? '', /2501 events; Segment accepts at most 2500/);
});

test('exactly 2,500 events in a batch are all received', async (t) => {
  const segment = testSegment(t);
  const res = await segment.post('/v1/batch', { batch: Array.from({ length: 2500 }, () => trackEvent()) });
  assert.equal(res.statusCode, 200);
  assert.equal(segment.recorder.stats().eventsReceived, 2500);
});

test('invalid events are rejected one by one with a reason while the request still answers 200', async (t) => {
  const segment = testSegment(t);
  const good = trackEvent();
  const batch = [
    good,
    trackEvent({ userId: undefined }),
    trackEvent({ userId: '', anonymousId: undefined }),
    trackEvent({ event: undefined }),
    trackEvent({ event: 42 }),
    trackEvent({ type: undefined }),
    trackEvent({ type: 'purchase' }),
    trackEvent({ messageId: 'm'.repeat(101) }),
    'not an event',
  ];
  const res = await segment.post('/v1/batch', { batch });
  assert.equal(res.statusCode, 200);
  const stats = segment.recorder.stats();
  assert.equal(stats.eventsReceived, 1);
  assert.deepEqual(stats.rejectedByReason, {
    no_user_anon_id: 2,
    missing_event: 2,
    missing_type: 1,
    invalid_type: 1,
    invalid_message_id: 1,
    invalid_event: 1,
  });
  assert.deepEqual(
    segment.recorder.rejections().map((r) => r.event),
    batch.slice(1).map((e) => JSON.parse(JSON.stringify(e))),
  );
});

test('anonymousId alone, or a numeric userId, is enough identity', async (t) => {
  const segment = testSegment(t);
  const res = await segment.post('/v1/batch', {
    batch: [trackEvent({ userId: undefined, anonymousId: 'anon-1' }), trackEvent({ userId: 1234 })],
  });
  assert.equal(res.statusCode, 200);
  assert.equal(segment.recorder.stats().eventsReceived, 2);
});

test('single-call endpoints take the type from the path and accept the write key in the body', async (t) => {
  const segment = testSegment(t);
  const calls: [string, Record<string, unknown>][] = [
    ['track', { event: 'Email Opened', userId: 'u1' }],
    ['identify', { userId: 'u1', traits: { email: 'a@example.com' } }],
    ['page', { anonymousId: 'a1', name: 'Home' }],
    ['screen', { userId: 'u1', name: 'Inbox' }],
    ['group', { userId: 'u1', groupId: 'g1' }],
    ['alias', { userId: 'u1', previousId: 'a1' }],
  ];
  for (const [type, body] of calls) {
    const res = await segment.post(`/v1/${type}`, { ...body, writeKey }, { authorization: '' });
    assert.equal(res.statusCode, 200, type);
    assert.deepEqual(res.json(), { success: true });
  }
  const stats = segment.recorder.stats();
  assert.deepEqual(stats.byType, { track: 1, identify: 1, page: 1, screen: 1, group: 1, alias: 1 });
  assert.deepEqual(stats.byEvent, { 'Email Opened': 1 });
});

test('a single track call without an event name is rejected, not received', async (t) => {
  const segment = testSegment(t);
  const res = await segment.post('/v1/track', { userId: 'u1' });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(segment.recorder.stats().rejectedByReason, { missing_event: 1 });
});

test('recorded events: the batch context is merged in, an id is assigned when missing, the write key is dropped', async (t) => {
  const segment = testSegment(t);
  await segment.post('/v1/batch', {
    writeKey,
    context: { library: { name: 'batch-lib' }, ip: '10.0.0.1' },
    integrations: { All: true },
    batch: [trackEvent({ messageId: undefined, context: { ip: '10.0.0.2' }, writeKey })],
  });
  const [recorded] = segment.recorder.events();
  assert.ok(recorded);
  assert.deepEqual(recorded.context, { library: { name: 'batch-lib' }, ip: '10.0.0.2' });
  assert.deepEqual(recorded.integrations, { All: true });
  assert.match(recorded.messageId, /^local-[0-9a-f-]{36}$/);
  assert.equal('writeKey' in recorded, false);
});

test('messageId dedupe: a batch sent twice counts every event in total but each id once in distinct', async (t) => {
  const segment = testSegment(t);
  const batch = [trackEvent(), trackEvent(), trackEvent()];
  await segment.post('/v1/batch', { batch });
  await segment.post('/v1/batch', { batch: [...batch, trackEvent()] });
  const stats = segment.recorder.stats();
  assert.equal(stats.eventsReceived, 7);
  assert.equal(stats.distinctMessageIds, 4);
  assert.equal(stats.duplicates, 3);
  assert.equal(stats.requests, 2);
});

test('the next N requests answer 429 with Retry-After and X-RateLimit-Reset, then the retry succeeds', async (t) => {
  const segment = testSegment(t);
  segment.faults.set({ rateLimitNext: { count: 2, retryAfterSeconds: 7 } });
  const body = { batch: [trackEvent()] };
  for (let attempt = 0; attempt < 2; attempt++) {
    const res = await segment.post('/v1/batch', body);
    assert.equal(res.statusCode, 429);
    assert.equal(res.headers['retry-after'], '7');
    assert.equal(res.headers['x-ratelimit-reset'], '7');
    assert.equal(res.json().success, false);
    assert.equal(segment.recorder.stats().eventsReceived, 0, 'a rate-limited request records no event');
  }
  const retry = await segment.post('/v1/batch', body);
  assert.equal(retry.statusCode, 200);
  const stats = segment.recorder.stats();
  assert.equal(stats.eventsReceived, 1);
  assert.deepEqual(stats.responsesByStatus, { 200: 1, 429: 2 });
});

test('the next N requests answer the configured 5xx and record nothing', async (t) => {
  const segment = testSegment(t);
  segment.faults.set({ failNext: { count: 1, status: 502 } });
  const failed = await segment.post('/v1/batch', { batch: [trackEvent()] });
  assert.equal(failed.statusCode, 502);
  assert.equal(failed.json().code, 'injected_fault');
  assert.equal(segment.recorder.stats().eventsReceived, 0);
  const next = await segment.post('/v1/batch', { batch: [trackEvent()] });
  assert.equal(next.statusCode, 200);
  assert.equal(segment.recorder.stats().eventsReceived, 1);
});

test('refuseEvents: a batch or single call holding a chosen event answers 400 and records none of its events', async (t) => {
  const segment = testSegment(t);
  segment.faults.set({ refuseEvents: { property: 'message_id', values: ['refuse-me'] } });
  const chosen = trackEvent({ properties: { message_id: 'refuse-me' } });
  const other = trackEvent({ properties: { message_id: 'keep-me' } });
  const batch = await segment.post('/v1/batch', { batch: [other, chosen] });
  assert.equal(batch.statusCode, 400);
  assert.equal(batch.json().code, 'injected_fault');
  const single = await segment.post('/v1/track', chosen);
  assert.equal(single.statusCode, 400);
  assert.equal(segment.recorder.stats().eventsReceived, 0, 'a refused request records no event');
  const alone = await segment.post('/v1/batch', { batch: [other] });
  assert.equal(alone.statusCode, 200, 'the other events go through once sent without it');
  assert.equal(segment.recorder.stats().eventsReceived, 1);
});

test('a fault is answered even when the request would have failed auth: it comes before Segment looks', async (t) => {
  const segment = testSegment(t);
  segment.faults.set({ failNext: { count: 1, status: 500 } });
  const res = await segment.post(
    '/v1/batch',
    { batch: [trackEvent()] },
    { authorization: basicAuth('wk_wrong') },
  );
  assert.equal(res.statusCode, 500);
});

test('latency: the request waits for the configured delay before anything is recorded', async (t) => {
  const asked: number[] = [];
  let release: (() => void) | undefined;
  const segment = testSegment(t, {
    faults: {
      sleep: (ms) => {
        asked.push(ms);
        return new Promise<void>((resolve) => {
          release = resolve;
        });
      },
    },
  });
  segment.faults.set({ latencyMs: 250 });
  let answered = false;
  const pending = segment.post('/v1/batch', { batch: [trackEvent()] }).then((res) => {
    answered = true;
    return res;
  });
  for (let turn = 0; release === undefined && turn < 1000; turn++) await setImmediate();
  assert.deepEqual(asked, [250]);
  assert.equal(answered, false);
  assert.equal(segment.recorder.stats().eventsReceived, 0);
  assert.deepEqual(segment.recorder.stats().responsesByStatus, {});

  release?.();
  const res = await pending;
  assert.equal(res.statusCode, 200);
  assert.equal(segment.recorder.stats().eventsReceived, 1);
});

test('latency with the real timer still answers', async (t) => {
  const segment = testSegment(t);
  segment.faults.set({ latencyMs: 1 });
  const res = await segment.post('/v1/batch', { batch: [trackEvent()] });
  assert.equal(res.statusCode, 200);
});

test('a steady rate limit answers 429 above N requests per second, and lets requests through the next second', async (t) => {
  let now = 10_000;
  const segment = testSegment(t, { faults: { now: () => now } });
  segment.faults.set({ maxRequestsPerSecond: 2 });
  const statuses: number[] = [];
  for (let i = 0; i < 3; i++)
    statuses.push((await segment.post('/v1/batch', { batch: [trackEvent()] })).statusCode);
  assert.deepEqual(statuses, [200, 200, 429]);
  now += 400;
  const limited = await segment.post('/v1/batch', { batch: [trackEvent()] });
  assert.equal(limited.statusCode, 429);
  assert.equal(limited.headers['retry-after'], '1');
  now += 600;
  assert.equal((await segment.post('/v1/batch', { batch: [trackEvent()] })).statusCode, 200);
  assert.equal(segment.recorder.stats().eventsReceived, 3);
});

test('the admin routes are not subject to faults', async (t) => {
  const segment = testSegment(t);
  segment.faults.set({ failNext: { count: 5, status: 503 }, rateLimitNext: { count: 5 } });
  const res = await segment.app.inject({ method: 'GET', url: '/_local/stats' });
  assert.equal(res.statusCode, 200);
  assert.equal(segment.faults.state().failNext.count, 5);
  assert.equal(segment.recorder.stats().requests, 0, 'admin requests are not Segment requests');
});

test('building the app without a write key, or with an empty one, is refused', () => {
  for (const writeKeys of [[], ['']]) {
    assert.throws(
      () => buildSegmentApp({ writeKeys, recorder: new SegmentRecorder(), faults: new FaultInjector() }),
      /at least one non-empty write key/,
    );
  }
});

test('with a logger, requests are logged by a child bound to the local-segment component', async (t) => {
  const lines: { component?: string; req?: { url?: string } }[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  const app = buildSegmentApp({
    writeKeys: [writeKey],
    recorder: new SegmentRecorder(),
    faults: new FaultInjector(),
    logger,
  });
  t.after(() => app.close());
  const res = await app.inject({ method: 'GET', url: '/_local/stats' });
  assert.equal(res.statusCode, 200);
  assert.ok(lines.some((line) => line.component === 'local-segment' && line.req?.url === '/_local/stats'));
});
