import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deadline, settleWithin } from '../../core/deadline.ts';

test('a deadline aborts its signal once the time is up, with a TimeoutError that says so', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const ack = deadline(10_000, 'Kafka did not ack in time.');
  t.mock.timers.tick(9_999);
  assert.equal(ack.signal.aborted, false);
  assert.equal(ack.expired(), false);
  t.mock.timers.tick(1);
  assert.equal(ack.expired(), true);
  assert.equal((ack.signal.reason as DOMException).name, 'TimeoutError');
  assert.equal((ack.signal.reason as DOMException).message, 'Kafka did not ack in time.');
});

test('released before the time is up, a deadline never aborts', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const ack = deadline(10_000);
  ack.release();
  t.mock.timers.tick(60_000);
  assert.equal(ack.signal.aborted, false);
  assert.equal(ack.expired(), false);
});

test('settleWithin: the work if it settles in time (its timer cleared); else what late() returns or throws', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  assert.equal(await settleWithin(Promise.resolve('done'), 1000, () => 'late'), 'done');
  // Cleared: ticking past the time now calls nothing.
  let lateCalls = 0;
  await settleWithin(Promise.resolve(1), 1000, () => ++lateCalls);
  t.mock.timers.tick(5000);
  assert.equal(lateCalls, 0);

  const never = new Promise<string>(() => {});
  const waiting = settleWithin(never, 1000, () => 'late');
  t.mock.timers.tick(1000);
  assert.equal(await waiting, 'late');

  const refused = settleWithin(never, 1000, () => {
    throw new Error('gave up');
  });
  t.mock.timers.tick(1000);
  await assert.rejects(refused, /gave up/);

  await assert.rejects(
    settleWithin(Promise.reject(new Error('failed')), 1000, () => 'late'),
    /failed/,
  );
});
