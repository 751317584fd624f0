import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createTokenBucket } from '../../replay/token-bucket.ts';

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

test('an aborted wait rejects with the reason', async () => {
  const bucket = createTokenBucket(1);
  await bucket.take(1);
  const controller = new AbortController();
  const waiting = bucket.take(1, controller.signal);
  controller.abort(new Error('stop'));
  await assert.rejects(waiting, /stop/);
});
