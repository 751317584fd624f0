import assert from 'node:assert/strict';
import { test } from 'node:test';
import { expireDeleted, type PartitionRange, rangeTotals } from '../../replay/range.ts';

const range = (partition: number, start: bigint, end: bigint, position: bigint): PartitionRange => ({
  partition,
  start,
  end,
  position,
});

// A DLQ replay near retention.ms hung: retention deleted the rest of its range after the range was
// resolved, the client went on from the log's new start, and no later record ever showed it the end.
test('a partition whose log now starts at or past its end is done, and its unread records are counted', () => {
  const partitions = [
    range(0, 10n, 20n, 12n), // log starts at 25: the 8 records from 12 are gone
    range(1, 10n, 20n, 12n), // log starts at 15: records 15..19 are still there to read
    range(2, 10n, 20n, 20n), // already done
    range(3, 10n, 20n, 10n), // log empty: the high watermark, 20, is returned
  ];
  const earliest = new Map([
    [0, '25'],
    [1, '15'],
    [2, '30'],
    [3, '20'],
  ]);
  assert.equal(expireDeleted(partitions, earliest), 18);
  assert.deepEqual(
    partitions.map((p) => p.position),
    [20n, 12n, 20n, 20n],
  );
  assert.deepEqual(rangeTotals(partitions), { total: 40, done: 32 });
  assert.equal(expireDeleted(partitions, earliest), 0, 'counted once');
});

test('a partition the look-up did not answer for is left alone', () => {
  const partitions = [range(0, 0n, 5n, 1n)];
  assert.equal(expireDeleted(partitions, new Map()), 0);
  assert.equal(partitions[0]?.position, 1n);
});
