import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FaultInjector, parseFaultSettings } from '../../../local-saas/mailjet/faults.ts';

test('no faults by default: every request is handled and every job runs', () => {
  const faults = new FaultInjector();
  assert.equal(faults.take('k'), undefined);
  assert.equal(faults.takeJobFailure(), false);
  assert.deepEqual(faults.state(), {
    rateLimitNext: { count: 0 },
    failNext: { count: 0, status: 500 },
    latencyMs: 0,
    answerLatencyMs: 0,
    maxRequestsPerSecond: null,
    failJobsNext: { count: 0 },
  });
});

test('one-shot faults are used up in order: 429s first, then 5xx (default 500), then normal handling', () => {
  const faults = new FaultInjector();
  faults.set({ rateLimitNext: { count: 1 }, failNext: { count: 2 } });
  assert.equal(faults.take('k')?.status, 429);
  assert.equal(faults.take('k')?.status, 500);
  assert.equal(faults.take('other')?.status, 500);
  assert.equal(faults.take('k'), undefined);
  faults.set({ failNext: { count: 1, status: 503 } });
  assert.equal(faults.take('k')?.status, 503);
});

test('failJobsNext fails exactly that many jobs', () => {
  const faults = new FaultInjector();
  faults.set({ failJobsNext: { count: 2 } });
  assert.deepEqual(
    [faults.takeJobFailure(), faults.takeJobFailure(), faults.takeJobFailure()],
    [true, true, false],
  );
});

test('the steady rate limit counts each API key in its own one-second window', () => {
  let now = 5_000;
  const faults = new FaultInjector({ now: () => now });
  faults.set({ maxRequestsPerSecond: 2 });
  assert.equal(faults.take('a'), undefined);
  assert.equal(faults.take('a'), undefined);
  assert.equal(faults.take('a')?.status, 429);
  assert.equal(faults.take('b'), undefined, 'another key has its own budget');
  now += 999;
  assert.equal(faults.take('a')?.status, 429, 'still the same window');
  now += 1;
  assert.equal(faults.take('a'), undefined, 'a new window has started');
  assert.equal(faults.set({ maxRequestsPerSecond: null }).maxRequestsPerSecond, null);
  for (let i = 0; i < 5; i += 1) assert.equal(faults.take('a'), undefined);
});

test('set() merges: fields left out keep their value', () => {
  const faults = new FaultInjector();
  faults.set({ latencyMs: 20, maxRequestsPerSecond: 5 });
  const state = faults.set({ failJobsNext: { count: 1 } });
  assert.equal(state.latencyMs, 20);
  assert.equal(state.maxRequestsPerSecond, 5);
  assert.equal(state.failJobsNext.count, 1);
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
  faults.set({ failNext: { count: 3 }, latencyMs: 10, maxRequestsPerSecond: 1, failJobsNext: { count: 1 } });
  faults.clear();
  assert.equal(faults.take('k'), undefined);
  assert.equal(faults.take('k'), undefined);
  assert.equal(faults.takeJobFailure(), false);
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
  assert.equal(faults.take('k'), undefined);
  assert.throws(() => parseFaultSettings({ latency: 5 }), /Unexpected property/);
  assert.throws(
    () => parseFaultSettings({ rateLimitNext: { count: 1, retryAfterSeconds: 2 } }),
    /Unexpected property/,
  );
  assert.throws(() => parseFaultSettings([]), /Invalid fault settings/);
});
