import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deadline } from '../../core/deadline.ts';

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
