import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createCommittedTally } from '../../replay/committed-tally.ts';

const offsets = (first: number, count: number) =>
  Array.from({ length: count }, (_, i) => ({ offset: String(first + i) }));

test('a batch counts once its offsets are committed, not when it was handled', () => {
  const counted: string[] = [];
  const tally = createCommittedTally<string>((outcome, records) => counted.push(`${outcome}:${records}`));
  tally.handled(0, offsets(0, 5), 'a');
  tally.handled(0, offsets(5, 5), 'b');
  tally.handled(1, offsets(0, 2), 'c');
  assert.deepEqual(counted, []);
  tally.committed(0, '5');
  assert.deepEqual(counted, ['a:5']);
  tally.committed(0, '10');
  tally.committed(1, '2');
  assert.deepEqual(counted, ['a:5', 'b:5', 'c:2']);
  tally.committed(0, '10');
  assert.deepEqual(counted, ['a:5', 'b:5', 'c:2'], 'a commit seen again counts nothing again');
});

test('a batch handled again after its transaction was aborted replaces the first attempt and those after it', () => {
  const counted: string[] = [];
  const tally = createCommittedTally<string>((outcome, records) => counted.push(`${outcome}:${records}`));
  tally.handled(0, offsets(0, 5), 'first try');
  tally.handled(0, offsets(5, 5), 'waiting behind it');
  // Both failed with the transaction; the partition comes again from offset 0, cut otherwise.
  tally.handled(0, offsets(0, 8), 'again');
  tally.handled(0, offsets(8, 2), 'rest');
  tally.committed(0, '10');
  assert.deepEqual(counted, ['again:8', 'rest:2']);
});
