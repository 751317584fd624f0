import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FaultInjector, parseFaultSettings } from '../../../local-saas/segment/faults.ts';

test('no faults by default: every request is handled', () => {
  const faults = new FaultInjector();
  assert.equal(faults.take(), undefined);
  assert.deepEqual(faults.state(), {
    rateLimitNext: { count: 0, retryAfterSeconds: 1 },
    failNext: { count: 0, status: 503 },
    latencyMs: 0,
    maxRequestsPerSecond: null,
    refuseEvents: null,
  });
});

test('one-shot faults are used up in order: 429s first, then 5xx, then normal handling', () => {
  const faults = new FaultInjector();
  faults.set({ rateLimitNext: { count: 1, retryAfterSeconds: 30 }, failNext: { count: 2, status: 500 } });
  assert.deepEqual(faults.take(), {
    status: 429,
    headers: { 'retry-after': '30', 'x-ratelimit-reset': '30' },
    message: 'Injected fault: rate limited.',
  });
  assert.equal(faults.take()?.status, 500);
  assert.equal(faults.take()?.status, 500);
  assert.equal(faults.take(), undefined);
});

test('defaults: Retry-After 1 second, status 503', () => {
  const faults = new FaultInjector();
  faults.set({ rateLimitNext: { count: 1 }, failNext: { count: 1 } });
  assert.equal(faults.take()?.headers['retry-after'], '1');
  assert.equal(faults.take()?.status, 503);
});

test('set() merges: fields left out keep their value', () => {
  const faults = new FaultInjector();
  faults.set({ latencyMs: 20, maxRequestsPerSecond: 5 });
  const state = faults.set({ failNext: { count: 1 } });
  assert.equal(state.latencyMs, 20);
  assert.equal(state.maxRequestsPerSecond, 5);
  assert.equal(faults.set({ maxRequestsPerSecond: null }).maxRequestsPerSecond, null);
});

test('the steady rate limit counts requests per one-second window and says when to come back', () => {
  let now = 5_000;
  const faults = new FaultInjector({ now: () => now });
  faults.set({ maxRequestsPerSecond: 1 });
  assert.equal(faults.take(), undefined);
  now += 100;
  const limited = faults.take();
  assert.equal(limited?.status, 429);
  assert.equal(limited?.headers['retry-after'], '1');
  now += 900;
  assert.equal(faults.take(), undefined, 'a new window has started');
});

test('latency is waited through the given sleep; no latency, no sleep', async () => {
  const asked: number[] = [];
  const faults = new FaultInjector({ sleep: async (ms) => asked.push(ms) });
  await faults.delay();
  faults.set({ latencyMs: 40 });
  await faults.delay();
  assert.deepEqual(asked, [40]);
});

test('clear() removes every fault', () => {
  const faults = new FaultInjector();
  faults.set({ failNext: { count: 3 }, latencyMs: 10, maxRequestsPerSecond: 1 });
  faults.clear();
  assert.equal(faults.take(), undefined);
  assert.equal(faults.take(), undefined);
  assert.equal(faults.state().latencyMs, 0);
});

test('invalid settings name every problem, and change nothing', () => {
  const faults = new FaultInjector();
  assert.throws(
    () => faults.set({ failNext: { count: 1, status: 404 }, latencyMs: -1 }),
    (err: Error) =>
      err instanceof TypeError &&
      /\/failNext\/status: Expected integer to be greater or equal to 500/.test(err.message) &&
      /\/latencyMs: Expected integer to be greater or equal to 0/.test(err.message),
  );
  assert.equal(faults.take(), undefined);
  assert.throws(() => parseFaultSettings({ latency: 5 }), /Unexpected property/);
  assert.throws(() => parseFaultSettings([]), /Invalid fault settings/);
});

test('refuseEvents: a request holding a chosen event is refused with 400, naming it; null switches it off', () => {
  const faults = new FaultInjector();
  const event = (id: string) => ({ type: 'track', properties: { message_id: id } });
  assert.equal(faults.refusal([event('1')]), undefined, 'off by default');
  faults.set({ refuseEvents: { property: 'message_id', values: ['2', '3'] } });
  assert.equal(faults.refusal([event('1'), event('4')]), undefined);
  assert.deepEqual(faults.refusal([event('1'), event('3')]), {
    status: 400,
    headers: {},
    message: 'Injected fault: event 1 is refused (properties.message_id is chosen).',
  });
  assert.equal(
    faults.refusal([event('2')])?.status,
    400,
    'a refused event stays refused: Segment never takes it',
  );
  assert.equal(faults.refusal([null, { properties: null }, 'text']), undefined, 'odd events are no match');
  faults.set({ refuseEvents: null });
  assert.equal(faults.refusal([event('2')]), undefined);
  faults.set({ refuseEvents: { property: 'message_id', values: ['2'] } });
  faults.clear();
  assert.equal(faults.refusal([event('2')]), undefined);
  assert.throws(
    () => faults.set({ refuseEvents: { property: '', values: [2] } } as never),
    /refuseEvents\/property.*refuseEvents\/values\/0|refuseEvents/,
  );
});
