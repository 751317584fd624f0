import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { Partitioners } from 'kafkajs';
import { murmur2, partitionOf } from '../../core/kafka.ts';
import { readRecords, testKafka, uniqueName } from '../helpers/stack.ts';

/** The partition kafkajs's own DefaultPartitioner picks for `key` among `count` partitions. */
function kafkajsPartition(key: Buffer | string, count: number): number {
  const partitionMetadata = Array.from({ length: count }, (_, partitionId) => ({
    partitionId,
    leader: 1,
    replicas: [1],
    isr: [1],
    partitionErrorCode: 0,
  }));
  return Partitioners.DefaultPartitioner()({ topic: 't', partitionMetadata, message: { key, value: null } });
}

test('murmur2 puts every key in the partition kafkajs (and Java) would', () => {
  const keys: (Buffer | string)[] = [
    '',
    'a',
    'ab',
    'abc',
    'abcd',
    'bob@example.com',
    'recipient-49999@example.com',
    'élodie@exemple.fr',
    '用户@例子.广告',
    '\u{1F600}',
    Buffer.alloc(0),
    Buffer.from([0xff, 0x80, 0x7f, 0x00, 0x01]),
  ];
  for (let i = 0; i < 2000; i++) {
    const bytes = randomBytes(i % 41);
    keys.push(bytes, bytes.toString('latin1'), `user-${i}@example.com`);
  }
  for (const key of keys) {
    for (const count of [1, 3, 6, 7, 64]) {
      const ours = (murmur2(key) & 0x7fffffff) % count;
      assert.equal(
        ours,
        kafkajsPartition(key, count),
        `key ${JSON.stringify(String(key))}, ${count} partitions`,
      );
    }
  }
  // Kafka's own test vectors (Java's UtilsTest.testMurmur2).
  assert.equal(murmur2(Buffer.from('21')), -973932308);
  assert.equal(murmur2(Buffer.from('foobar')), -790332482);
  assert.equal(murmur2(Buffer.from('a-little-bit-long-string')), -985981536);
  assert.equal(murmur2(Buffer.from('a-little-bit-longer-string')), -1486304829);
  assert.equal(murmur2(Buffer.from('lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8')), -58897971);
  assert.equal(murmur2(Buffer.from([97, 98, 99])), 479470107);
});

test('keyed records land in the murmur2 partition of their key, keyless ones in that of their value', async (t) => {
  const kafka = testKafka(t);
  const topic = uniqueName('partitioner');
  await kafka.ensureTopics([{ topic, partitions: 6 }]);
  const producer = await kafka.producer();
  t.after(() => producer.disconnect());
  const keyed = Array.from({ length: 60 }, (_, i) => ({
    key: `user-${i}@example.com`,
    value: Buffer.from('k'),
  }));
  const keyless = Array.from({ length: 60 }, (_, i) => ({ key: null, value: Buffer.from(`n${i}`) }));
  await producer.send([{ topic, records: [...keyed, ...keyless] }]);

  const records = await readRecords(t, kafka, topic, 120);
  const keyedRead = records.filter((record) => record.key !== null);
  assert.equal(keyedRead.length, 60);
  for (const record of keyedRead) {
    assert.equal(record.partition, kafkajsPartition(record.key as Buffer, 6), String(record.key));
  }
  for (const record of records.filter((r) => r.key === null)) {
    assert.equal(record.partition, partitionOf({ key: null, value: record.value }, 6), 'by value');
  }
});

// kafkajs re-partitions a send's records when it retries part of it; keyless records went round robin, so
// a retried dead letter could land on another partition and be dropped there as an idempotent duplicate.
test('a keyless record gets the same partition on every attempt, and keyless records spread', () => {
  const letters = Array.from({ length: 60 }, (_, i) => ({ key: null, value: Buffer.from(`letter ${i}`) }));
  const first = letters.map((letter) => partitionOf(letter, 6));
  const again = letters.map((letter) => partitionOf(letter, 6));
  assert.deepEqual(again, first);
  assert.ok(new Set(first).size > 1, `all in ${[...new Set(first)]}`);
  assert.equal(
    partitionOf({ key: 'bob@example.com', value: Buffer.from('x') }, 6),
    (murmur2('bob@example.com') & 0x7fffffff) % 6,
  );
  assert.equal(partitionOf({ key: null, value: null }, 6), undefined);
});
