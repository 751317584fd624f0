import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type RecordedEvent, SegmentRecorder } from '../../../local-saas/segment/recorder.ts';

function event(messageId: string, overrides: Partial<RecordedEvent> = {}): RecordedEvent {
  return {
    type: 'track',
    event: 'Email Opened',
    userId: 'u1',
    messageId,
    receivedAt: '2026-01-02T03:04:05.000Z',
    ...overrides,
  };
}

test('counts by type and by track event name; other calls have no event name', () => {
  const recorder = new SegmentRecorder();
  recorder.accept(event('a'));
  recorder.accept(event('b', { event: 'Email Bounced' }));
  recorder.accept(event('c'));
  recorder.accept(event('d', { type: 'identify', event: undefined }));
  const stats = recorder.stats();
  assert.deepEqual(stats.byType, { track: 3, identify: 1 });
  assert.deepEqual(stats.byEvent, { 'Email Opened': 2, 'Email Bounced': 1 });
});

test('the same messageId counts once in distinct, however often it comes', () => {
  const recorder = new SegmentRecorder();
  for (const id of ['a', 'b', 'a', 'a', 'c', 'b']) recorder.accept(event(id));
  const stats = recorder.stats();
  assert.equal(stats.eventsReceived, 6);
  assert.equal(stats.distinctMessageIds, 3);
  assert.equal(stats.duplicates, 3);
});

test('stored events are bounded: the oldest go, the counters stay exact and say how many went', () => {
  const recorder = new SegmentRecorder({ maxEvents: 3 });
  for (const id of ['a', 'b', 'c', 'd', 'e']) recorder.accept(event(id));
  const stats = recorder.stats();
  assert.equal(stats.eventsReceived, 5);
  assert.equal(stats.eventsInMemory, 3);
  assert.equal(stats.eventsDroppedFromMemory, 2);
  assert.deepEqual(
    recorder.events().map((e) => e.messageId),
    ['c', 'd', 'e'],
  );
  assert.deepEqual(
    recorder.events(2).map((e) => e.messageId),
    ['d', 'e'],
  );
  recorder.accept(event('f'));
  assert.deepEqual(
    recorder.events().map((e) => e.messageId),
    ['d', 'e', 'f'],
  );
});

test('the dedupe window is bounded: a forgotten id counts as new again, and the forgetting is counted', () => {
  const recorder = new SegmentRecorder({ maxMessageIds: 2 });
  for (const id of ['a', 'b', 'c', 'b', 'a']) recorder.accept(event(id));
  const stats = recorder.stats();
  // 'a' fell out of the window when 'c' came, so its second arrival is distinct again (like an id sent
  // after Segment's ~24 h window); 'b' was still remembered.
  assert.equal(stats.distinctMessageIds, 4);
  assert.equal(stats.duplicates, 1);
  assert.equal(stats.messageIdsForgotten, 2);
});

test('rejections are counted by reason and the latest are kept with the event', () => {
  const recorder = new SegmentRecorder({ maxRejections: 2 });
  for (const [i, reason] of (['no_user_anon_id', 'missing_event', 'no_user_anon_id'] as const).entries()) {
    recorder.reject({ reason, message: `problem ${i}`, receivedAt: 'now', event: { i } });
  }
  const stats = recorder.stats();
  assert.equal(stats.eventsRejected, 3);
  assert.deepEqual(stats.rejectedByReason, { no_user_anon_id: 2, missing_event: 1 });
  assert.deepEqual(
    recorder.rejections().map((r) => r.event),
    [{ i: 1 }, { i: 2 }],
  );
  assert.equal(stats.eventsReceived, 0);
});

test('requests and responses by status are counted', () => {
  const recorder = new SegmentRecorder();
  recorder.requestReceived();
  recorder.requestReceived();
  recorder.responded(200);
  recorder.responded(429);
  assert.equal(recorder.stats().requests, 2);
  assert.deepEqual(recorder.stats().responsesByStatus, { 200: 1, 429: 1 });
});

test('stats are a snapshot: changing them does not change the recorder', () => {
  const recorder = new SegmentRecorder();
  recorder.accept(event('a'));
  const stats = recorder.stats();
  stats.byType.track = 99;
  assert.equal(recorder.stats().byType.track, 1);
});

test('clear() forgets events, rejections, ids and counters', () => {
  const recorder = new SegmentRecorder();
  recorder.requestReceived();
  recorder.accept(event('a'));
  recorder.reject({ reason: 'missing_type', message: 'x', receivedAt: 'now', event: {} });
  recorder.clear();
  assert.deepEqual(recorder.stats(), new SegmentRecorder().stats());
  assert.deepEqual(recorder.events(), []);
  assert.deepEqual(recorder.rejections(), []);
  recorder.accept(event('a'));
  assert.equal(recorder.stats().distinctMessageIds, 1, 'a cleared id is new again');
});

test('bounds must be positive integers', () => {
  assert.throws(() => new SegmentRecorder({ maxEvents: 0 }), /maxEvents must be an integer ≥ 1, got 0/);
  assert.throws(() => new SegmentRecorder({ maxMessageIds: 1.5 }), /maxMessageIds must be an integer ≥ 1/);
});
