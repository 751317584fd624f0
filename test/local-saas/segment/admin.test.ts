import assert from 'node:assert/strict';
import { test } from 'node:test';
import { testSegment, trackEvent } from './helpers.ts';

test('GET /_local/stats reports the recorder figures as JSON, without auth', async (t) => {
  const segment = testSegment(t);
  const duplicate = trackEvent();
  await segment.post('/v1/batch', { batch: [duplicate, duplicate, trackEvent({ userId: undefined })] });
  const res = await segment.app.inject({ method: 'GET', url: '/_local/stats' });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), {
    requests: 1,
    responsesByStatus: { 200: 1 },
    eventsReceived: 2,
    distinctMessageIds: 1,
    duplicates: 1,
    byType: { track: 2 },
    byEvent: { 'Email Opened': 2 },
    eventsRejected: 1,
    rejectedByReason: { no_user_anon_id: 1 },
    eventsInMemory: 2,
    eventsDroppedFromMemory: 0,
    messageIdsForgotten: 0,
  });
});

test('GET /_local/events returns the latest events, oldest first, limited by ?limit', async (t) => {
  const segment = testSegment(t);
  const batch = [trackEvent(), trackEvent(), trackEvent()];
  await segment.post('/v1/batch', { batch });
  const all = await segment.app.inject({ method: 'GET', url: '/_local/events' });
  assert.deepEqual(
    all.json().events.map((e: { messageId: string }) => e.messageId),
    batch.map((e) => e.messageId),
  );
  const last = await segment.app.inject({ method: 'GET', url: '/_local/events?limit=1' });
  assert.deepEqual(
    last.json().events.map((e: { messageId: string }) => e.messageId),
    [batch[2]?.messageId],
  );
});

test('GET /_local/events refuses a limit that is not a positive integer', async (t) => {
  const segment = testSegment(t);
  for (const limit of ['0', 'abc', '-3']) {
    const res = await segment.app.inject({ method: 'GET', url: `/_local/events?limit=${limit}` });
    assert.equal(res.statusCode, 400, limit);
  }
});

test('GET /_local/rejections returns rejected events with their reason', async (t) => {
  const segment = testSegment(t);
  await segment.post('/v1/batch', { batch: [trackEvent({ event: undefined })] });
  const res = await segment.app.inject({ method: 'GET', url: '/_local/rejections' });
  const [rejection] = res.json().rejections;
  assert.equal(rejection.reason, 'missing_event');
  assert.equal(rejection.event.type, 'track');
});

test('POST /_local/reset clears the recorder and leaves the faults', async (t) => {
  const segment = testSegment(t);
  await segment.post('/v1/batch', { batch: [trackEvent()] });
  segment.faults.set({ latencyMs: 5 });
  const res = await segment.app.inject({ method: 'POST', url: '/_local/reset' });
  assert.equal(res.statusCode, 200);
  assert.equal(res.json().eventsReceived, 0);
  assert.equal(segment.recorder.stats().requests, 0);
  assert.deepEqual(segment.recorder.events(), []);
  assert.equal(segment.faults.state().latencyMs, 5);
});

test('POST /_local/faults sets faults that the next Segment requests get; GET shows them; DELETE clears', async (t) => {
  const segment = testSegment(t);
  const set = await segment.app.inject({
    method: 'POST',
    url: '/_local/faults',
    payload: { rateLimitNext: { count: 1, retryAfterSeconds: 3 }, failNext: { count: 1, status: 500 } },
  });
  assert.equal(set.statusCode, 200);
  assert.deepEqual(set.json().rateLimitNext, { count: 1, retryAfterSeconds: 3 });

  const shown = await segment.app.inject({ method: 'GET', url: '/_local/faults' });
  assert.deepEqual(shown.json(), segment.faults.state());

  const first = await segment.post('/v1/batch', { batch: [trackEvent()] });
  assert.equal(first.statusCode, 429);
  assert.equal(first.headers['retry-after'], '3');

  const cleared = await segment.app.inject({ method: 'DELETE', url: '/_local/faults' });
  assert.equal(cleared.statusCode, 200);
  assert.equal(cleared.json().failNext.count, 0);
  assert.equal((await segment.post('/v1/batch', { batch: [trackEvent()] })).statusCode, 200);
});

test('POST /_local/faults refuses unknown or out-of-range settings with 400 and changes nothing', async (t) => {
  const segment = testSegment(t);
  for (const payload of [{ latency: 100 }, { failNext: { count: 1, status: 200 } }, { latencyMs: 'slow' }]) {
    const res = await segment.app.inject({ method: 'POST', url: '/_local/faults', payload });
    assert.equal(res.statusCode, 400, JSON.stringify(payload));
    assert.equal(res.json().code, 'invalid_faults');
    assert.match(res.json().message, /Invalid fault settings: \//);
  }
  assert.deepEqual(
    segment.faults.state(),
    (await segment.app.inject({ method: 'DELETE', url: '/_local/faults' })).json(),
  );
});
