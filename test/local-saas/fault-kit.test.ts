import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Type } from '@sinclair/typebox';
import { RateWindows, takeOne, validateFaultSettings } from '../../local-saas/fault-kit.ts';

test('rate windows admit up to the limit per key per second, then say how long until the next window', () => {
  let now = 10_000;
  const windows = new RateWindows({ now: () => now });
  assert.equal(windows.admit('a', 2), undefined);
  assert.equal(windows.admit('a', 2), undefined);
  now += 300;
  assert.equal(windows.admit('a', 2), 700);
  assert.equal(windows.admit('b', 2), undefined, 'each key has a window of its own');
  now += 700;
  assert.equal(windows.admit('a', 2), undefined, 'a new window');
  windows.clear();
  assert.equal(windows.admit('a', 1), undefined);
});

test('one-shot counters run down to zero; settings errors name every problem', () => {
  const counter = { count: 2 };
  assert.deepEqual([takeOne(counter), takeOne(counter), takeOne(counter)], [true, true, false]);
  const schema = Type.Object({ a: Type.Integer(), b: Type.String() }, { additionalProperties: false });
  assert.deepEqual(validateFaultSettings(schema, { a: 1, b: 'x' }), { a: 1, b: 'x' });
  assert.throws(
    () => validateFaultSettings(schema, { a: 'x', c: 1 }),
    /^TypeError: Invalid fault settings: .*\/a: .*; .*/,
  );
});
