import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createTokenBucket } from '../../core/token-bucket.ts';

/** A clock that only moves when the bucket sleeps: the waits it asks for are the figures. */
function fakeClock() {
  let at = 0;
  const waits: number[] = [];
  return {
    waits,
    now: () => at,
    sleep: async (ms: number) => {
      waits.push(Math.round(ms));
      at += ms;
    },
  };
}

test('a full bucket lets one second of events through, then paces them at the rate', async () => {
  const clock = fakeClock();
  const bucket = createTokenBucket(100, clock);
  assert.equal(bucket.capacity, 100);
  await bucket.take(100);
  assert.deepEqual(clock.waits, []);
  await bucket.take(50);
  assert.deepEqual(clock.waits, [500]);
  await bucket.take(100);
  assert.deepEqual(clock.waits, [500, 1000]);
  assert.equal(clock.now(), 1500, '250 events at 100/s after a full bucket of 100: 1.5 s');
});

test('concurrent takers are served in order and never exceed the rate', async () => {
  const clock = fakeClock();
  const bucket = createTokenBucket(10, clock);
  const order: number[] = [];
  await Promise.all([1, 2, 3].map((n) => bucket.take(10).then(() => order.push(n))));
  assert.deepEqual(order, [1, 2, 3]);
  assert.equal(clock.now(), 2000);
});

test('a rate below one event per second still lets single events through', async () => {
  const clock = fakeClock();
  const bucket = createTokenBucket(0.5, clock);
  assert.equal(bucket.capacity, 1);
  await bucket.take(1);
  await bucket.take(1);
  assert.equal(clock.now(), 2000);
});

test('a fractional rate paces at the exact rate, its burst rounded down to whole events', async () => {
  const clock = fakeClock();
  const bucket = createTokenBucket(2.5, clock);
  assert.equal(bucket.capacity, 2);
  for (let i = 0; i < 10; i++) await bucket.take(1);
  // Two events at once, then one every 400 ms: 8 × 400 ms.
  assert.equal(clock.now(), 3200);
  assert.ok(
    clock.waits.every((ms) => ms === 400),
    clock.waits.join(','),
  );
});

test('an idle bucket saves up one second of events at most: the burst after a pause is bounded', async () => {
  const clock = fakeClock();
  const bucket = createTokenBucket(10, clock);
  await bucket.take(10);
  await clock.sleep(60_000);
  clock.waits.length = 0;
  await bucket.take(10);
  assert.deepEqual(clock.waits, [], 'one second of events goes through at once after the pause');
  await bucket.take(5);
  assert.deepEqual(clock.waits, [500], 'and not a minute of them');
});

test('a take above the capacity waits for all its tokens, in pieces of at most one second', async () => {
  const clock = fakeClock();
  const bucket = createTokenBucket(10, clock);
  await bucket.take(35);
  assert.deepEqual(clock.waits, [1000, 1000, 500]);
  assert.equal(clock.now(), 2500, '35 events at 10/s after a full bucket of 10: 2.5 s');
});

test('an aborted wait rejects with the reason', async () => {
  const bucket = createTokenBucket(1);
  await bucket.take(1);
  const controller = new AbortController();
  const waiting = bucket.take(1, controller.signal);
  controller.abort(new Error('stop'));
  await assert.rejects(waiting, /stop/);
});
