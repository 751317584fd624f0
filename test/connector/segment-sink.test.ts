import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { type TestContext, test } from 'node:test';
import {
  createSegmentSink,
  type SegmentEvent,
  type SegmentSinkOptions,
} from '../../connector/segment-sink.ts';
import { ConnectorError } from '../../core/errors.ts';
import { silentLogger } from '../../core/logger.ts';
import { type LocalSegment, startLocalSegment } from '../../local-saas/segment/server.ts';

const writeKey = 'wk_segment_sink_test';

async function localSegment(t: TestContext): Promise<LocalSegment> {
  const segment = await startLocalSegment({ writeKeys: [writeKey] });
  t.after(() => segment.stop());
  return segment;
}

let sequence = 0;

/** A valid track call, about `bytes` of JSON when asked. */
function track(options: { bytes?: number } = {}): SegmentEvent {
  sequence += 1;
  const event: SegmentEvent = {
    type: 'track',
    event: 'Email Opened',
    userId: `contact-${sequence}`,
    messageId: `mailjet-sink-test-${sequence}`,
    timestamp: '2026-01-02T03:04:05.000Z',
    properties: { email_id: `guid-${sequence}` },
  };
  if (options.bytes !== undefined) {
    const padding = options.bytes - Buffer.byteLength(JSON.stringify(event)) - ',"padding":""'.length;
    (event.properties as Record<string, unknown>).padding = 'x'.repeat(padding);
  }
  return event;
}

/** A sleep that returns at once and remembers what it was asked to wait; `onSleep` may abort. */
function recordingSleep(onSleep: (count: number) => void = () => {}) {
  const delays: number[] = [];
  const sleep = async (ms: number) => {
    delays.push(ms);
    onSleep(delays.length);
  };
  return { delays, sleep };
}

/** The real fetch, remembering each request's headers, body size and number of events. */
function recordingFetch() {
  const requests: { headers: Headers; bytes: number; events: number; sentAt: string }[] = [];
  const wrapped: typeof fetch = (input, init) => {
    const body = String(init?.body);
    const parsed = JSON.parse(body) as { batch: unknown[]; sentAt: string };
    requests.push({
      headers: new Headers(init?.headers),
      bytes: Buffer.byteLength(body),
      events: parsed.batch.length,
      sentAt: parsed.sentAt,
    });
    return fetch(input, init);
  };
  return { requests, fetch: wrapped };
}

function sink(segment: { url: string }, options: Partial<SegmentSinkOptions> = {}) {
  return createSegmentSink({
    endpoint: segment.url,
    writeKey,
    logger: silentLogger(),
    sleep: recordingSleep().sleep,
    ...options,
  });
}

const receivedIds = (segment: LocalSegment) =>
  segment.recorder.events(100_000).map((event) => event.messageId);

test('delivers a few events in one authenticated request and reports them', async (t) => {
  const segment = await localSegment(t);
  const { requests, fetch } = recordingFetch();
  const statuses: (number | 'error')[] = [];
  const events = [track(), track(), track()];

  const report = await sink(segment, { fetch, onRequest: (status) => statuses.push(status) }).deliver(events);

  assert.deepEqual(report, { delivered: 3, rejected: [] });
  assert.deepEqual(
    receivedIds(segment),
    events.map((e) => e.messageId),
  );
  assert.deepEqual(statuses, [200]);
  const [request] = requests;
  assert.equal(requests.length, 1);
  assert.equal(
    request?.headers.get('authorization'),
    `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`,
  );
  assert.equal(request?.headers.get('content-type'), 'application/json');
  assert.match(request?.headers.get('user-agent') ?? '', /mailjet-connector/);
  assert.match(request?.sentAt ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
});

test('an empty delivery sends nothing', async (t) => {
  const segment = await localSegment(t);
  assert.deepEqual(await sink(segment).deliver([]), { delivered: 0, rejected: [] });
  assert.equal(segment.recorder.stats().requests, 0);
});

test('6,000 events go out in requests of at most 2,500 events and 500 KB, each messageId once', async (t) => {
  const segment = await localSegment(t);
  // Small events (under 200 B) hit the count limit first, 400-byte ones the byte limit (491,520 B).
  for (const bytes of [undefined, 400]) {
    segment.recorder.clear();
    const { requests, fetch } = recordingFetch();
    const events = Array.from({ length: 6000 }, () => (bytes === undefined ? track() : track({ bytes })));

    const report = await sink(segment, { fetch }).deliver(events);

    assert.deepEqual(report, { delivered: 6000, rejected: [] });
    assert.ok(requests.length >= 3, `${requests.length} requests`);
    for (const request of requests) {
      assert.ok(request.events <= 2500, `${request.events} events in one request`);
      // Under the 500 KB Segment allows, and the envelope is counted exactly within the 480 KB default.
      assert.ok(request.bytes <= 480 * 1024, `${request.bytes} bytes in one request`);
    }
    const stats = segment.recorder.stats();
    assert.equal(stats.requests, requests.length);
    assert.deepEqual(stats.responsesByStatus, { 200: requests.length });
    assert.equal(stats.eventsRejected, 0);
    assert.equal(stats.distinctMessageIds, 6000);
    assert.equal(stats.duplicates, 0);
    assert.deepEqual(
      receivedIds(segment),
      events.map((e) => e.messageId),
    );
    console.log(
      `${bytes ?? 'small'}-byte events: ${requests.map((r) => `${r.events} events/${r.bytes} B`).join(', ')}`,
    );
  }
});

test('an event over 32 KB is reported rejected and never sent; the others are delivered', async (t) => {
  const segment = await localSegment(t);
  const big = track({ bytes: 32 * 1024 + 1 });
  const events = [track(), big, track()];

  const report = await sink(segment).deliver(events);

  assert.equal(report.delivered, 2);
  assert.equal(report.rejected.length, 1);
  assert.equal(report.rejected[0]?.event, big);
  assert.equal(report.rejected[0]?.code, 'SEGMENT_EVENT_TOO_LARGE');
  assert.match(report.rejected[0]?.message ?? '', /32769 bytes .* at most 32768/);
  assert.deepEqual(receivedIds(segment), [events[0]?.messageId, events[2]?.messageId]);
  assert.equal(segment.recorder.stats().requests, 1);
});

test('an event JSON.stringify cannot write (nested too deep) is reported rejected; the others are delivered', async (t) => {
  // What broke: V8's recursive JSON.stringify threw a RangeError out of deliver, crashing the consumer.
  const segment = await localSegment(t);
  const deep = track();
  let nested: Record<string, unknown> = { id: 9007199254740993n.toString() };
  for (let level = 0; level < 200_000; level++) nested = { a: nested };
  (deep.properties as Record<string, unknown>).deep = nested;
  const events = [track(), deep, track()];

  const report = await sink(segment).deliver(events);

  assert.equal(report.delivered, 2);
  assert.equal(report.rejected.length, 1);
  assert.equal(report.rejected[0]?.event, deep);
  assert.equal(report.rejected[0]?.code, 'UNMAPPABLE_EVENT');
  assert.match(report.rejected[0]?.message ?? '', /RangeError: Maximum call stack size exceeded/);
  assert.deepEqual(receivedIds(segment), [events[0]?.messageId, events[2]?.messageId]);
});

test('429 waits the Retry-After seconds, capped at maxRetryAfterMs, then sends the same events again', async (t) => {
  const segment = await localSegment(t);
  const { delays, sleep } = recordingSleep();
  const events = [track(), track()];
  segment.faults.set({ rateLimitNext: { count: 1, retryAfterSeconds: 7 } });

  assert.deepEqual(await sink(segment, { sleep }).deliver(events), { delivered: 2, rejected: [] });
  assert.deepEqual(delays, [7000]);

  // Honoured beyond the backoff cap (maxDelayMs), up to maxRetryAfterMs.
  segment.faults.set({ rateLimitNext: { count: 1, retryAfterSeconds: 120 } });
  assert.deepEqual(await sink(segment, { sleep }).deliver([track()]), { delivered: 1, rejected: [] });
  assert.deepEqual(delays, [7000, 120_000]);
  segment.faults.set({ rateLimitNext: { count: 1, retryAfterSeconds: 900 } });
  assert.deepEqual(await sink(segment, { sleep }).deliver([track()]), { delivered: 1, rejected: [] });
  assert.deepEqual(delays, [7000, 120_000, 300_000]);

  assert.deepEqual(segment.recorder.stats().responsesByStatus, { 200: 3, 429: 3 });
  assert.equal(segment.recorder.stats().distinctMessageIds, 4);
});

test('5xx is retried with exponential backoff and full jitter until Segment takes the batch', async (t) => {
  const segment = await localSegment(t);
  const { delays, sleep } = recordingSleep();
  const jitter = [0.9, 0.6, 0.3];
  const statuses: (number | 'error')[] = [];
  segment.faults.set({ failNext: { count: 3, status: 503 } });

  const report = await sink(segment, {
    sleep,
    random: () => jitter.shift() ?? 0,
    onRequest: (status) => statuses.push(status),
  }).deliver([track()]);

  assert.deepEqual(report, { delivered: 1, rejected: [] });
  // Caps 500, 1,000, 2,000 ms (initialDelayMs doubling), each scaled by the jitter drawn.
  assert.deepEqual(delays, [450, 600, 600]);
  assert.deepEqual(statuses, [503, 503, 503, 200]);

  // With real randomness: every delay within its cap, and the caps grow.
  const real = recordingSleep();
  segment.faults.set({ failNext: { count: 6, status: 500 } });
  await sink(segment, { sleep: real.sleep, retry: { initialDelayMs: 100, maxDelayMs: 1000 } }).deliver([
    track(),
  ]);
  assert.equal(real.delays.length, 6);
  real.delays.forEach((delay, i) => {
    const cap = Math.min(1000, 100 * 2 ** i);
    assert.ok(delay >= 0 && delay < cap, `delay ${i} = ${delay}, cap ${cap}`);
  });
});

test('501 is retried like any 5xx rather than failing the events (see classify in the sink)', async (t) => {
  const segment = await localSegment(t);
  const { delays, sleep } = recordingSleep();
  segment.faults.set({ failNext: { count: 1, status: 501 } });
  assert.deepEqual(await sink(segment, { sleep }).deliver([track()]), { delivered: 1, rejected: [] });
  assert.equal(delays.length, 1);
});

test('a batch Segment refuses with 400 is bisected: the good events are delivered, only the bad one rejected', async (t) => {
  const segment = await localSegment(t);
  // The server refuses any batch holding an event over 32 KB. A client whose own limit is higher sends it,
  // which is how a limit Segment enforces and the client does not know about looks from the outside.
  const bad = track({ bytes: 40 * 1024 });
  const events = Array.from({ length: 11 }, (_, i) => (i === 6 ? bad : track()));
  const statuses: (number | 'error')[] = [];

  const report = await sink(segment, {
    maxEventBytes: 64 * 1024,
    onRequest: (status) => statuses.push(status),
  }).deliver(events);

  assert.equal(report.delivered, 10);
  assert.equal(report.rejected.length, 1);
  assert.equal(report.rejected[0]?.event, bad);
  assert.equal(report.rejected[0]?.code, 'SEGMENT_REJECTED');
  assert.match(
    report.rejected[0]?.message ?? '',
    /^Segment answered 400 to this event alone: .*event_too_large/,
  );
  assert.deepEqual(
    receivedIds(segment),
    events.filter((e) => e !== bad).map((e) => e.messageId),
  );
  // In order: 11 (400) → 6 (200) + 5 (400) → 3 (400) + 2 → 2 (400) + 1 → the bad one alone (400), its
  // neighbour (200), then the pending 1 (200) and 2 (200). About 2 × log2(n) requests.
  assert.deepEqual(statuses, [400, 200, 400, 400, 400, 400, 200, 200, 200]);
});

test('a wrong write key fails with SEGMENT_AUTH_FAILED after one request, without retrying', async (t) => {
  const segment = await localSegment(t);
  const { delays, sleep } = recordingSleep();

  await assert.rejects(sink(segment, { writeKey: 'wk_wrong', sleep }).deliver([track()]), (err) => {
    assert.ok(err instanceof ConnectorError);
    assert.equal(err.code, 'SEGMENT_AUTH_FAILED');
    assert.equal(err.retriable, false);
    assert.match(err.message, /answered 401/);
    assert.match(err.message, /SEGMENT_WRITE_KEY/);
    assert.doesNotMatch(err.message, /wk_wrong/);
    return true;
  });
  assert.equal(segment.recorder.stats().requests, 1);
  assert.deepEqual(delays, []);
});

test('aborting during a 5xx storm rejects with the abort reason and stops sending', async (t) => {
  const segment = await localSegment(t);
  segment.faults.set({ failNext: { count: 1000, status: 503 } });
  const controller = new AbortController();
  const reason = new Error('shutting down');
  const { delays, sleep } = recordingSleep((count) => {
    if (count === 3) controller.abort(reason);
  });

  await assert.rejects(
    sink(segment, { sleep }).deliver([track()], controller.signal),
    (err) => err === reason,
  );
  assert.equal(delays.length, 3);
  assert.equal(segment.recorder.stats().requests, 3);
});

test('aborting interrupts the default backoff wait at once', async (t) => {
  const segment = await localSegment(t);
  segment.faults.set({ failNext: { count: 1000, status: 503 } });
  const controller = new AbortController();
  const reason = new Error('shutting down');
  // The first wait would last an hour: the test can only finish if the abort cuts it short.
  const sinkWithRealSleep = createSegmentSink({
    endpoint: segment.url,
    writeKey,
    logger: silentLogger(),
    random: () => 0.999,
    retry: { initialDelayMs: 3_600_000, maxDelayMs: 3_600_000 },
    onRequest: () => setImmediate(() => controller.abort(reason)),
  });

  await assert.rejects(sinkWithRealSleep.deliver([track()], controller.signal), (err) => err === reason);
  assert.equal(segment.recorder.stats().requests, 1);
});

test('an already aborted signal sends nothing', async (t) => {
  const segment = await localSegment(t);
  const reason = new Error('gone');
  await assert.rejects(sink(segment).deliver([track()], AbortSignal.abort(reason)), (err) => err === reason);
  assert.equal(segment.recorder.stats().requests, 0);
});

test('while Segment is down (connection refused) deliver keeps retrying until aborted', async (t) => {
  const segment = await localSegment(t);
  const { url } = segment;
  await segment.stop();
  const controller = new AbortController();
  const reason = new Error('shutting down');
  const statuses: (number | 'error')[] = [];
  const { delays, sleep } = recordingSleep((count) => {
    if (count === 25) controller.abort(reason);
  });

  await assert.rejects(
    sink({ url }, { sleep, onRequest: (status) => statuses.push(status) }).deliver(
      [track()],
      controller.signal,
    ),
    (err) => err === reason,
  );
  assert.equal(delays.length, 25);
  assert.equal(statuses.length, 25);
  assert.ok(statuses.every((status) => status === 'error'));
  // The backoff reached its 60 s cap and stays there.
  assert.ok(delays.every((delay) => delay <= 60_000));
});

test('with maxElapsedMs set, a request failing for longer gives up with SEGMENT_UNAVAILABLE', async (t) => {
  const segment = await localSegment(t);
  segment.faults.set({ failNext: { count: 1000, status: 503 } });
  let clock = 0;
  const delays: number[] = [];
  const sleep = async (ms: number) => {
    delays.push(ms);
    clock += ms;
  };

  await assert.rejects(
    sink(segment, {
      sleep,
      now: () => clock,
      random: () => 0.5,
      retry: { initialDelayMs: 1000, maxDelayMs: 4000, maxElapsedMs: 10_000 },
    }).deliver([track()]),
    (err) => {
      assert.ok(err instanceof ConnectorError);
      assert.equal(err.code, 'SEGMENT_UNAVAILABLE');
      assert.equal(err.retriable, true);
      return true;
    },
  );
  // Waits of 500, 1,000 and then the 4,000 ms cap × 0.5 add up to 9,500 ms; one more would pass 10,000.
  assert.deepEqual(delays, [500, 1000, 2000, 2000, 2000, 2000]);
  assert.equal(segment.recorder.stats().requests, 7);
});

test('concurrent deliveries (one per partition) each resolve with their own events', async (t) => {
  const segment = await localSegment(t);
  const shared = sink(segment);
  const partitions = [0, 1, 2, 3].map(() => Array.from({ length: 50 }, () => track()));

  const reports = await Promise.all(partitions.map((events) => shared.deliver(events)));

  assert.deepEqual(
    reports.map((r) => r.delivered),
    [50, 50, 50, 50],
  );
  assert.equal(segment.recorder.stats().distinctMessageIds, 200);
});

test('options outside Segment limits are refused at creation', () => {
  const base = { endpoint: 'http://127.0.0.1:9', writeKey, logger: silentLogger() };
  assert.throws(() => createSegmentSink({ ...base, maxBatchEvents: 2501 }), /maxBatchEvents/);
  assert.throws(() => createSegmentSink({ ...base, writeKey: '' }), /writeKey/);
  assert.throws(() => createSegmentSink({ ...base, maxBatchBytes: 1000 }), /maxBatchBytes/);
});
