import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { murmur2 as clientMurmur2, consumerReceivesChannel } from '@platformatic/kafka';
import { pino } from 'pino';
import {
  createKafkaClient,
  DEFAULT_SESSION_TIMEOUT_MS,
  groupTimeouts,
  type IncomingRecord,
  type KafkaClient,
  murmur2,
  partitionOf,
  stickyAssignment,
} from '../../core/kafka.ts';
import { silentLogger } from '../../core/logger.ts';
import { eventually } from '../helpers/connector.ts';
import { readRecords, testKafka, testStack, uniqueName } from '../helpers/stack.ts';

/**
 * The partition the Java client picks for `key` among `count` partitions, as computed by
 * @platformatic/kafka's own murmur2 (an implementation independent of ours).
 */
function javaPartition(key: Buffer | string, count: number): number {
  return (clientMurmur2(key, false) & 0x7fffffff) % count;
}

test('murmur2 puts every key in the partition Java (and @platformatic/kafka) would', () => {
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
        javaPartition(key, count),
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
    assert.equal(record.partition, javaPartition(record.key as Buffer, 6), String(record.key));
  }
  for (const record of records.filter((r) => r.key === null)) {
    assert.equal(record.partition, partitionOf({ key: null, value: record.value }, 6), 'by value');
  }
});

// kafkajs re-partitioned a send's records when it retried part of it; keyless records went round robin, so
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

/**
 * Every record of `topic`, read from the beginning by a fresh group: to its current end, or until `count`
 * records came. A topic with transactions needs the count: its last offset may be a marker the broker
 * wrote after the last record (a transaction's markers are written after its end returned), and a
 * marker is never handed over, so "the last offset was seen" may never come.
 */
/**
 * A group member in a process of its own (a helper that prints `joined` at each join), so a test can
 * SIGKILL it: a member that dies without leaving. Killed when the test ends, if still running.
 */
function startMemberChild(t: TestContext, helper: string, env: Record<string, string>) {
  const child = spawn(process.execPath, [fileURLToPath(new URL(`../helpers/${helper}`, import.meta.url))], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  let joins = 0;
  child.stdout.on('data', (chunk: Buffer) => {
    joins += chunk.toString().split('joined').length - 1;
  });
  t.after(async () => {
    child.kill('SIGKILL');
    await exited;
  });
  return { child, exited, joins: () => joins };
}

async function readAll(
  t: TestContext,
  kafka: KafkaClient,
  topic: string,
  readCommitted = true,
  count?: number,
) {
  const end = [...(await kafka.endOffsets(topic)).values()].reduce((sum, o) => sum + Number(o), 0);
  const consumer = await kafka.consumer({ groupId: uniqueName('read-all'), readCommitted });
  t.after(() => consumer.disconnect());
  await consumer.subscribe([topic], { fromBeginning: true });
  const records: IncomingRecord[] = [];
  let last = -1;
  await consumer.runBatches(async (batch) => {
    records.push(...batch.records);
    last = Math.max(last, Number(batch.records.at(-1)?.offset));
  });
  if (count !== undefined) {
    await eventually(`${count} records of ${topic}`, () => records.length >= count);
    return records;
  }
  await eventually(`${topic} read to offset ${end}`, () => last + 1 >= end || records.length >= end);
  return records;
}

test('a transaction writes records and commits the consumer offsets together; an aborted one is read only uncommitted', async (t) => {
  const kafka = testKafka(t);
  const input = uniqueName('tx-in');
  const output = uniqueName('tx-out');
  const groupId = uniqueName('tx-group');
  await kafka.ensureTopics([{ topic: input }, { topic: output }]);
  const producer = await kafka.producer();
  t.after(() => producer.disconnect());
  await producer.send([
    { topic: input, records: ['a', 'b', 'c'].map((v) => ({ key: v, value: Buffer.from(v) })) },
  ]);

  // Read-process-write: the outputs and the input offsets in one transaction; the consumer commits nothing.
  const transactional = await kafka.transactionalProducer({ transactionalId: uniqueName('tx') });
  t.after(() => transactional.disconnect());
  const consumer = await kafka.consumer({ groupId });
  t.after(() => consumer.disconnect());
  await consumer.subscribe([input], { fromBeginning: true });
  let processed = 0;
  await consumer.runBatches(
    async (batch) => {
      const transaction = await transactional.begin();
      await transaction.send([
        {
          topic: output,
          records: batch.records.map((r) => ({ key: r.key, value: Buffer.from(`processed ${r.value}`) })),
        },
      ]);
      const next = String(BigInt(batch.records.at(-1)?.offset ?? '0') + 1n);
      await transaction.sendOffsets(consumer, [
        { topic: batch.topic, partition: batch.partition, offset: next },
      ]);
      await transaction.commit();
      processed += batch.records.length;
    },
    { commit: false },
  );
  await eventually('the input processed', () => processed === 3);
  assert.deepEqual(
    [...(await kafka.committedOffsets(groupId, input)).values()],
    ['3'],
    'offsets committed by the transaction',
  );

  // Then a transaction aborted, then a plain record as the end marker.
  const aborted = await transactional.begin();
  await aborted.send([{ topic: output, records: [{ key: 'x', value: Buffer.from('aborted') }] }]);
  await aborted.abort();
  await producer.send([{ topic: output, records: [{ key: 'm', value: Buffer.from('marker') }] }]);

  // Read until the expected count: one aborted record more would show among them, in offset order.
  const committedView = (await readAll(t, kafka, output, true, 4)).map((r) => r.value?.toString());
  assert.deepEqual(committedView, ['processed a', 'processed b', 'processed c', 'marker']);
  const uncommittedView = (await readAll(t, kafka, output, false, 5)).map((r) => r.value?.toString());
  assert.deepEqual(uncommittedView, ['processed a', 'processed b', 'processed c', 'aborted', 'marker']);
});

test('a transactional producer given up mid-transaction starts over under its id, fencing the old one', async (t) => {
  // The new client asked InitProducerId for producer 0, epoch 0 instead of none (-1, -1): the coordinator,
  // which knew the id under another producer, answered PRODUCER_FENCED to every start, for good.
  const kafka = testKafka(t);
  const output = uniqueName('tx-restart');
  const transactionalId = uniqueName('tx');
  await kafka.ensureTopics([{ topic: output }]);
  const transactional = await kafka.transactionalProducer({ transactionalId });
  t.after(() => transactional.disconnect());
  const abandoned = await transactional.begin();
  await abandoned.send([{ topic: output, records: [{ key: 'x', value: Buffer.from('abandoned') }] }]);
  transactional.abandon();
  const after = await transactional.begin();
  await after.send([{ topic: output, records: [{ key: 'a', value: Buffer.from('after') }] }]);
  await after.commit();
  await transactional.disconnect();

  // A process started again with the id of one that stopped: the same start.
  const restarted = await kafka.transactionalProducer({ transactionalId });
  t.after(() => restarted.disconnect());
  const again = await restarted.begin();
  await again.send([{ topic: output, records: [{ key: 'r', value: Buffer.from('restarted') }] }]);
  await again.commit();

  const committedView = (await readAll(t, kafka, output, true, 2)).map((r) => r.value?.toString());
  assert.deepEqual(committedView, ['after', 'restarted']);
});

test('while a handler waits, the consumer stops fetching: what it holds stays bounded; then it goes on in order', async (t) => {
  const kafka = testKafka(t);
  const topic = uniqueName('backpressure');
  await kafka.ensureTopics([{ topic, partitions: 1 }]);
  const producer = await kafka.producer();
  t.after(() => producer.disconnect());
  // Small produce requests: a fetch returns at least one whole stored batch, however large.
  const total = 3000;
  const sends: Promise<void>[] = [];
  for (let from = 0; from < total; from += 10) {
    const records = Array.from({ length: 10 }, (_, i) => ({ key: 'k', value: Buffer.alloc(1000, from + i) }));
    sends.push(producer.send([{ topic, records }]));
  }
  await Promise.all(sends);
  // Every record the client decodes, whoever asked for it.
  let fetched = 0;
  const count = (context: unknown) => {
    if ((context as { raw?: unknown; client?: { groupId?: string } }).client?.groupId === groupId) fetched++;
  };
  consumerReceivesChannel.start.subscribe(count);
  t.after(() => consumerReceivesChannel.start.unsubscribe(count));

  const groupId = uniqueName('backpressure-group');
  const consumer = await kafka.consumer({ groupId, maxBytesPerPartition: 16 * 1024 });
  t.after(() => consumer.disconnect());
  await consumer.subscribe([topic], { fromBeginning: true });
  let release!: () => void;
  const sinkDown = new Promise<void>((resolve) => {
    release = resolve;
  });
  const offsets: number[] = [];
  await consumer.runBatches(async (batch) => {
    await sinkDown;
    offsets.push(...batch.records.map((r) => Number(r.offset)));
  });
  try {
    await eventually('the first batch waits in the handler', () => fetched > 0);
    // Time for several fetches (each returns within a second), had the client gone on fetching.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    // Queues of 2 × 16 KiB, one fetch of 16 KiB more in the stream, the batch in the handler: some 60 records.
    assert.ok(fetched < 200, `${fetched} of ${total} records fetched while the handler waited`);
    console.log(`back-pressure: ${fetched} of ${total} records fetched while the handler waited`);
  } finally {
    // disconnect() waits for the batch in the handler.
    release();
  }
  await eventually('everything handled', () => offsets.length >= total);
  assert.deepEqual(
    offsets,
    Array.from({ length: total }, (_, i) => i),
    'each record once, in order',
  );
});

test('a failed batch comes again from the committed offset; other partitions go on; nothing is skipped', async (t) => {
  const kafka = testKafka(t);
  const topic = uniqueName('failed-batch');
  const groupId = uniqueName('failed-batch-group');
  await kafka.ensureTopics([{ topic, partitions: 2 }]);
  const producer = await kafka.producer();
  t.after(() => producer.disconnect());
  const records = Array.from({ length: 80 }, (_, i) => ({
    key: `user-${i}@example.com`,
    value: Buffer.from(String(i)),
  }));
  await producer.send([{ topic, records }]);
  const counts = new Map<number, number>();
  for (const record of records) {
    const partition = partitionOf(record, 2) as number;
    counts.set(partition, (counts.get(partition) ?? 0) + 1);
  }

  const consumer = await kafka.consumer({ groupId });
  t.after(() => consumer.disconnect());
  await consumer.subscribe([topic], { fromBeginning: true });
  const handled = new Map<number, number[]>([
    [0, []],
    [1, []],
  ]);
  const committed: string[] = [];
  let failures = 0;
  await consumer.runBatches(
    async (batch) => {
      const offsets = batch.records.map((r) => Number(r.offset));
      // The second batch of partition 0 fails twice.
      if (batch.partition === 0 && offsets[0] !== 0 && failures < 2) {
        failures++;
        throw new Error('the sink refused the batch');
      }
      handled.get(batch.partition)?.push(...offsets);
    },
    {
      partitionsConcurrently: 2,
      maxBatchRecords: 7,
      onCommitted: (_topic, partition, next) => committed.push(`${partition}:${next}`),
    },
  );
  await eventually(
    'every record handled',
    () => handled.get(0)?.length === counts.get(0) && handled.get(1)?.length === counts.get(1),
  );
  assert.equal(failures, 2);
  for (const [partition, offsets] of handled) {
    assert.deepEqual(
      offsets,
      Array.from({ length: counts.get(partition) ?? 0 }, (_, i) => i),
      `partition ${partition}: each record handled once after its batch succeeded, in order`,
    );
  }
  assert.ok(committed.includes('0:7'), `partition 0 committed its first batch: ${committed}`);
  await eventually('the commits reached the ends', async () => {
    const offsets = await kafka.committedOffsets(groupId, topic);
    return offsets.get(0) === String(counts.get(0)) && offsets.get(1) === String(counts.get(1));
  });
});

test('a rebalance: the member hands over no batch of a partition it lost, and nothing is lost', async (t) => {
  const kafka = testKafka(t);
  const topic = uniqueName('rebalance');
  const groupId = uniqueName('rebalance-group');
  await kafka.ensureTopics([{ topic, partitions: 4 }]);
  const producer = await kafka.producer();
  t.after(() => producer.disconnect());
  // Enough work for the first member to be busy when the second joins (about 10 s alone).
  const records = Array.from({ length: 800 }, (_, i) => ({
    key: `user-${i}@example.com`,
    value: Buffer.from(String(i)),
  }));
  await producer.send([{ topic, records }]);
  const counts = new Map<number, number>();
  for (const record of records) {
    const partition = partitionOf(record, 4) as number;
    counts.set(partition, (counts.get(partition) ?? 0) + 1);
  }

  // Batch starts in the order they happened, and what each member handled to the end.
  const starts: { member: string; partition: number }[] = [];
  const handled = new Map<number, Set<number>>();
  let joins = 0;
  const start = async (member: string) => {
    const consumer = await kafka.consumer({ groupId });
    t.after(() => consumer.disconnect());
    consumer.onGroupJoin(() => joins++);
    await consumer.subscribe([topic], { fromBeginning: true });
    await consumer.runBatches(
      async (batch) => {
        starts.push({ member, partition: batch.partition });
        await new Promise((resolve) => setTimeout(resolve, 50));
        const offsets = handled.get(batch.partition) ?? new Set();
        for (const record of batch.records) offsets.add(Number(record.offset));
        handled.set(batch.partition, offsets);
      },
      { maxBatchRecords: 1, partitionsConcurrently: 4 },
    );
  };
  await start('first');
  await eventually('the first member at work', () => starts.length >= 8);
  await start('second');
  await eventually('the second member at work', () => starts.some((s) => s.member === 'second'));
  await eventually('everything handled', () =>
    [...counts].every(([partition, count]) => handled.get(partition)?.size === count),
  );
  for (const partition of counts.keys()) {
    const secondFrom = starts.findIndex((s) => s.member === 'second' && s.partition === partition);
    if (secondFrom < 0) continue;
    const firstAfter = starts
      .slice(secondFrom)
      .filter((s) => s.member === 'first' && s.partition === partition);
    assert.equal(
      firstAfter.length,
      0,
      `partition ${partition} went to the second member; the first went on with it`,
    );
  }
  await eventually('the commits reached the ends', async () => {
    const committed = await kafka.committedOffsets(groupId, topic);
    return [...counts].every(([partition, count]) => committed.get(partition) === String(count));
  });
  // Commits refused during the rebalance made the client join again, which started another rebalance:
  // a new generation every 3 s for as long as batches were committed, and sometimes for good.
  // One member joining takes one rebalance: the first member joins twice, the second once.
  assert.ok(joins <= 4, `${joins} joins: the group kept rebalancing`);
  const moved = new Set(starts.filter((s) => s.member === 'second').map((s) => s.partition));
  console.log(
    `rebalance: ${starts.length} batches, ${joins} joins, partitions ${[...moved]} moved to the second member`,
  );
});

test('what a process does at start (topics, a producer, a new consumer group) logs nothing at warn or above', async (t) => {
  const lines: string[] = [];
  const kafka = createKafkaClient({
    brokers: testStack().brokers,
    clientId: uniqueName('quiet'),
    logger: pino({ level: 'warn' }, { write: (line: string) => lines.push(line) }),
  });
  t.after(() => kafka.close());
  const topic = uniqueName('quiet');
  await kafka.ensureTopics([
    { topic, partitions: 2 },
    { topic: uniqueName('quiet-compacted'), compacted: true },
  ]);
  const producer = await kafka.producer();
  t.after(() => producer.disconnect());
  await producer.send([{ topic, records: [{ key: 'a@example.com', value: Buffer.from('a') }] }]);
  const groupId = uniqueName('quiet-group');
  const consumer = await kafka.consumer({ groupId });
  await consumer.subscribe([topic], { fromBeginning: true });
  let read = 0;
  await consumer.runBatches(async (batch) => {
    read += batch.records.length;
  });
  await eventually('the record read', () => read === 1);
  await consumer.disconnect();
  assert.equal((await kafka.committedOffsets(groupId, topic)).size, 2);
  assert.deepEqual(lines, [], 'no warn or error line');
});

// A batch that failed just before the end of a bounded range let the end be committed over it: the
// records queued behind it were dropped by the restart, and the range counted as done without them.
test('bounded reading: a batch failing near the end comes again; the end is committed only after it', async (t) => {
  const kafka = testKafka(t);
  const topic = uniqueName('bounded');
  const groupId = uniqueName('bounded-group');
  await kafka.ensureTopics([{ topic, partitions: 1 }]);
  const producer = await kafka.producer();
  t.after(() => producer.disconnect());
  await producer.send([
    { topic, records: Array.from({ length: 20 }, (_, i) => ({ key: 'k', value: Buffer.from(String(i)) })) },
  ]);

  const consumer = await kafka.consumer({ groupId });
  t.after(() => consumer.disconnect());
  await consumer.subscribe([topic], { fromBeginning: true });
  const handled: number[] = [];
  const committed: string[] = [];
  let failed = false;
  await consumer.runBatches(
    async (batch) => {
      const offsets = batch.records.map((r) => Number(r.offset));
      if (offsets.includes(9) && !failed) {
        failed = true;
        throw new Error('the sink refused the batch');
      }
      handled.push(...offsets);
    },
    {
      maxBatchRecords: 3,
      endOffsetOf: () => '10',
      onCommitted: (_topic, _partition, next) => committed.push(next),
    },
  );
  await eventually('the range handled', () => committed.includes('10'));
  assert.ok(failed);
  assert.deepEqual(handled, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'each record of the range once, in order');
  assert.deepEqual((await kafka.committedOffsets(groupId, topic)).get(0), '10');
});

/**
 * A one-partition topic whose records were each transaction's values (keyed by value), every transaction
 * committed, and read back only once its commit markers are written too: a topic as the normalizer
 * leaves it for the Segment sink.
 */
async function topicWrittenInTransactions(
  t: TestContext,
  kafka: KafkaClient,
  name: string,
  transactions: string[][],
): Promise<string> {
  const topic = uniqueName(name);
  await kafka.ensureTopics([{ topic, partitions: 1 }]);
  const producer = await kafka.transactionalProducer({ transactionalId: uniqueName(`${name}-tx`) });
  t.after(() => producer.disconnect());
  for (const values of transactions) {
    const transaction = await producer.begin();
    await transaction.send([{ topic, records: values.map((v) => ({ key: v, value: Buffer.from(v) })) }]);
    await transaction.commit();
  }
  const end = String(transactions.reduce((sum, values) => sum + values.length + 1, 0));
  await eventually('the commit markers written', async () => (await kafka.endOffsets(topic)).get(0) === end);
  return topic;
}

// A range whose last offset is a transaction's commit marker never ended: markers are never handed
// over, and the runner learnt of the end only from a record at or past it.
test('bounded reading: a range ending in a transaction marker ends, its records handed over once', async (t) => {
  const kafka = testKafka(t);
  // Three records and the commit marker after them.
  const topic = await topicWrittenInTransactions(t, kafka, 'bounded-tx', [['a', 'b', 'c']]);
  const groupId = uniqueName('bounded-tx-group');

  const consumer = await kafka.consumer({ groupId });
  t.after(() => consumer.disconnect());
  await consumer.subscribe([topic], { fromBeginning: true });
  const handled: string[] = [];
  const committed: string[] = [];
  await consumer.runBatches(
    async (batch) => {
      handled.push(...batch.records.map((r) => String(r.value)));
    },
    { endOffsetOf: () => '4', onCommitted: (_topic, _partition, next) => committed.push(next) },
  );
  await eventually('the range ended', () => committed.includes('4'));
  assert.deepEqual(handled, ['a', 'b', 'c']);
  assert.equal((await kafka.committedOffsets(groupId, topic)).get(0), '4');
});

test('concurrent first admin calls share one connection, and close() leaves no socket open', async (t) => {
  // Each concurrent first call opened an Admin of its own; close() closed only the last one kept, so the
  // others' sockets held the process open after everything was closed (the integrity lane never ended).
  const sockets = () => process.getActiveResourcesInfo().filter((name) => name === 'TCPSocketWrap').length;
  const before = sockets();
  const kafka = createKafkaClient({
    brokers: testStack().brokers,
    clientId: uniqueName('test'),
    logger: silentLogger(),
  });
  t.after(() => kafka.close());
  const topic = uniqueName('admin');
  await Promise.all([
    kafka.topicExists(topic),
    kafka.endOffsets(topic).catch(() => undefined),
    kafka.describeCluster(),
  ]);
  await kafka.close();
  await eventually(
    `the sockets opened for the admin calls closed (${sockets()} open, ${before} before)`,
    () => sockets() <= before,
    10_000,
  );
});

test('a topic serves its offsets as soon as ensureTopics returns, to a client that never retries', async (t) => {
  // The metadata named a leader before that broker served the partition: a ListOffsets at once failed
  // with NOT_LEADER_OR_FOLLOWER (seen through the proxy test, whose client does not retry).
  const kafka = createKafkaClient({
    brokers: testStack().brokers,
    clientId: uniqueName('test'),
    logger: silentLogger(),
    retries: 0,
  });
  t.after(() => kafka.close());
  for (let i = 0; i < 20; i++) {
    const topic = uniqueName('usable');
    await kafka.ensureTopics([{ topic, partitions: 3 }]);
    assert.deepEqual(
      [...(await kafka.endOffsets(topic))].sort(([a], [b]) => a - b),
      [
        [0, '0'],
        [1, '0'],
        [2, '0'],
      ],
    );
  }
});

test("a group member's timeouts follow its session: Java's by default, heartbeats a tenth of it", () => {
  assert.deepEqual(groupTimeouts(DEFAULT_SESSION_TIMEOUT_MS), {
    sessionTimeout: 30_000,
    heartbeatInterval: 3000,
    rebalanceTimeout: 60_000,
  });
  assert.deepEqual(groupTimeouts(6000), {
    sessionTimeout: 6000,
    heartbeatInterval: 600,
    rebalanceTimeout: 60_000,
  });
  // The client refuses a rebalance timeout below the session.
  assert.equal(groupTimeouts(300_000).rebalanceTimeout, 300_000);
});

// A SIGKILLed member held its partitions for a fixed 30 s session: every connector killed stalled its
// partitions that long, whatever the deployment wanted.
test('a member killed without leaving loses its partitions to the others within its session timeout', async (t) => {
  const kafka = testKafka(t);
  const topic = uniqueName('session');
  const groupId = uniqueName('session-group');
  const sessionTimeoutMs = 6000;
  await kafka.ensureTopics([{ topic, partitions: 2 }]);
  const producer = await kafka.producer();
  t.after(() => producer.disconnect());
  // One key per partition, so each send reaches both.
  const keys = [0, 1].map((partition) => {
    for (let i = 0; ; i++) if (partitionOf({ key: `k${i}`, value: null }, 2) === partition) return `k${i}`;
  });
  const sendToBoth = (value: string) =>
    producer.send([{ topic, records: keys.map((key) => ({ key, value: Buffer.from(value) })) }]);

  const member = startMemberChild(t, 'group-member-child.ts', {
    GROUP_MEMBER_BROKERS: testStack().brokers.join(','),
    GROUP_MEMBER_GROUP_ID: groupId,
    GROUP_MEMBER_TOPIC: topic,
    GROUP_MEMBER_SESSION_TIMEOUT_MS: String(sessionTimeoutMs),
  });
  const { child, exited } = member;
  await eventually('the first member joined', () => member.joins() > 0);

  const consumer = await kafka.consumer({ groupId, sessionTimeoutMs });
  t.after(() => consumer.disconnect());
  await consumer.subscribe([topic], { fromBeginning: true });
  const handled = new Map<number, string[]>();
  await consumer.runBatches(async (batch) => {
    const values = handled.get(batch.partition) ?? [];
    handled.set(batch.partition, values);
    values.push(...batch.records.map((record) => String(record.value)));
  });
  // Both members in the group, one partition each: this one handles the records of one partition only.
  await eventually('the second member joined and the first rejoined', () => member.joins() > 1);
  await sendToBoth('before');
  await eventually('this member handles its own partition', () => handled.size === 1);
  const mine = [...handled.keys()][0] as number;
  const theirs = mine === 0 ? 1 : 0;

  child.kill('SIGKILL');
  await exited;
  await sendToBoth('after');
  // Well within the 30 s a fixed session held the partition: only the short session lets this pass.
  await eventually(
    "the killed member's partition handed to this one",
    () => handled.get(theirs)?.includes('after') ?? false,
    4 * sessionTimeoutMs,
  );
  assert.ok(handled.get(mine)?.includes('after'), 'its own partition went on');
});

// A session the brokers refuse (below group.min.session.timeout.ms) was retried for good, quietly:
// the process ran and never joined its group.
test('a session timeout the brokers refuse stops the start, saying which setting to fix', async (t) => {
  const kafka = testKafka(t);
  const topic = uniqueName('refused-session');
  await kafka.ensureTopics([{ topic, partitions: 1 }]);
  const consumer = await kafka.consumer({ groupId: uniqueName('refused-session'), sessionTimeoutMs: 1000 });
  t.after(() => consumer.disconnect());
  await consumer.subscribe([topic], { fromBeginning: true });
  await assert.rejects(
    consumer.runBatches(async () => {}),
    (err: Error & { code?: string }) => {
      assert.equal(err.code, 'KAFKA_SESSION_TIMEOUT_REFUSED');
      assert.match(err.message, /1000 ms/);
      return true;
    },
  );
});

test('the sticky assignment: balanced, each member keeps what it had up to its share', () => {
  const six = new Map([['t', 6]]);
  const member = (memberId: string, owned?: number[]) => ({
    memberId,
    topics: ['t'],
    ...(owned ? { owned: { t: owned } } : {}),
  });
  const plain = (assignment: Map<string, Record<string, number[]>>) =>
    Object.fromEntries([...assignment].map(([id, partitions]) => [id, partitions.t ?? []]));
  // A new group: every partition once, two each.
  assert.deepEqual(plain(stickyAssignment([member('a'), member('b'), member('c')], six)), {
    a: [0, 3],
    b: [1, 4],
    c: [2, 5],
  });
  // c left: a and b keep theirs and share c's.
  assert.deepEqual(plain(stickyAssignment([member('a', [0, 3]), member('b', [1, 4])], six)), {
    a: [0, 2, 3],
    b: [1, 4, 5],
  });
  // d joined: it takes one of each, the others keep the rest.
  assert.deepEqual(
    plain(stickyAssignment([member('a', [0, 2, 3]), member('b', [1, 4, 5]), member('d')], six)),
    { a: [0, 2], b: [1, 4], d: [3, 5] },
  );
  // Two claims of partition 1 (a member cut off came back): neither is trusted, it goes where there is room.
  assert.deepEqual(plain(stickyAssignment([member('a', [0, 1, 2]), member('b', [1, 3, 4, 5])], six)), {
    a: [0, 1, 2],
    b: [3, 4, 5],
  });
});

// A member leaving cleanly made the others hand records out twice: the batches they had in flight when
// the rebalance began could not be committed, and the round-robin assignment moved partitions between
// the members that stayed, so each such batch came again, from the committed offset, to its new owner.
test('a member that leaves cleanly under load: no record is handed out twice, in the group', async (t) => {
  const kafka = testKafka(t);
  const topic = uniqueName('clean-leave');
  const groupId = uniqueName('clean-leave-group');
  const partitions = 6;
  await kafka.ensureTopics([{ topic, partitions }]);
  const producer = await kafka.producer();
  t.after(() => producer.disconnect());

  const handled = new Map<string, number>();
  let handledCalls = 0;
  const members = await Promise.all(
    // Members that notice the rebalance at different moments (their heartbeats a tenth of their
    // sessions): the first waits for the last to rejoin, its batches finishing meanwhile.
    [6000, 30_000, 30_000].map(async (sessionTimeoutMs) => {
      const consumer = await kafka.consumer({ groupId, sessionTimeoutMs });
      t.after(() => consumer.disconnect());
      const member = { consumer, joins: 0 };
      consumer.onGroupJoin(() => member.joins++);
      await consumer.subscribe([topic], { fromBeginning: true });
      await consumer.runBatches(
        async (batch) => {
          // A sink that takes a while: batches are in the handlers whenever the group rebalances.
          await new Promise((resolve) => setTimeout(resolve, 100));
          for (const record of batch.records) {
            const value = String(record.value);
            handled.set(value, (handled.get(value) ?? 0) + 1);
          }
          handledCalls++;
        },
        { partitionsConcurrently: 3, maxBatchRecords: 5 },
      );
      return member;
    }),
  );
  const [first, second, leaving] = members as [(typeof members)[0], (typeof members)[0], (typeof members)[0]];

  let sent = 0;
  let sending = true;
  const load = (async () => {
    while (sending) {
      const records = Array.from({ length: partitions }, () => ({
        key: `k${sent}`,
        value: Buffer.from(String(sent++)),
      }));
      await producer.send([{ topic, records }]);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  await eventually('all three members joined and handling', () => handled.size > 200);
  const joinsBefore = { first: first.joins, second: second.joins };
  await leaving.consumer.disconnect();
  await eventually(
    'the two others rejoined',
    () => first.joins > joinsBefore.first && second.joins > joinsBefore.second,
  );
  const callsAfterLeave = handledCalls;
  await eventually('batches handled after the rebalance', () => handledCalls > callsAfterLeave + 20);
  sending = false;
  await load;
  await eventually('every record handled', () => handled.size === sent);
  const twice = [...handled].filter(([, count]) => count > 1).map(([value]) => value);
  assert.deepEqual(twice, [], `${twice.length} of ${sent} records handed out twice`);
});

test('read-process-write in transactions: members SIGKILLed mid-batch and rebalances leave every input in the output once (read_committed)', async (t) => {
  const kafka = testKafka(t);
  const input = uniqueName('rpw-in');
  const output = uniqueName('rpw-out');
  const groupId = uniqueName('rpw-group');
  await kafka.ensureTopics([
    { topic: input, partitions: 3 },
    { topic: output, partitions: 3 },
  ]);
  const producer = await kafka.producer();
  t.after(() => producer.disconnect());
  let sent = 0;
  const sendMore = (count: number) => {
    const records = Array.from({ length: count }, () => {
      const value = `v${sent++}`;
      return { key: value, value: Buffer.from(value) };
    });
    return producer.send([{ topic: input, records }]);
  };

  // A member of this process that stays: it takes the killed member's partitions and gives some back.
  const transactional = await kafka.transactionalProducer({ transactionalId: uniqueName('rpw-tx') });
  t.after(() => transactional.disconnect());
  const member = await kafka.consumer({ groupId, sessionTimeoutMs: 6000 });
  t.after(() => member.disconnect());
  await member.subscribe([input], { fromBeginning: true });
  await member.runTransactions(
    transactional,
    async (batch) => [
      {
        topic: output,
        records: batch.records.map((r) => ({ key: r.key, value: Buffer.from(`copied ${r.value}`) })),
      },
    ],
    { maxBatchRecords: 25 },
  );

  const startChild = () =>
    startMemberChild(t, 'transactional-copier-child.ts', {
      COPIER_BROKERS: testStack().brokers.join(','),
      COPIER_GROUP_ID: groupId,
      COPIER_INPUT: input,
      COPIER_OUTPUT: output,
    });

  // Input keeps coming while a member of its own process is killed at seeded moments, three times.
  let random = 0x2545f491;
  const nextDelay = () => {
    random = (random * 1103515245 + 12345) & 0x7fffffff;
    return 150 + (random % 900);
  };
  const feeding = setInterval(() => void sendMore(10), 100);
  t.after(() => clearInterval(feeding));
  for (let kill = 0; kill < 3; kill++) {
    const copier = startChild();
    await eventually('the copier joined', () => copier.joins() > 0, 30_000);
    await new Promise((resolve) => setTimeout(resolve, nextDelay()));
    copier.child.kill('SIGKILL');
    await copier.exited;
  }
  clearInterval(feeding);
  await sendMore(20);

  // Everything copied once the group committed up to the end of every input partition.
  const ends = await kafka.endOffsets(input);
  await eventually(
    'the group committed to the end of the input',
    async () => {
      const committed = await kafka.committedOffsets(groupId, input);
      return [...ends].every(([partition, end]) => committed.get(partition) === end);
    },
    180_000,
  );
  const read = await readAll(t, kafka, output, true, sent);
  // A moment more: a copy written twice would arrive after the first `sent` records.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const copied = read.map((r) => String(r.value));
  const counts = new Map<string, number>();
  for (const value of copied) counts.set(value, (counts.get(value) ?? 0) + 1);
  const twice = [...counts].filter(([, n]) => n > 1).map(([value]) => value);
  const missing = Array.from({ length: sent }, (_, i) => `copied v${i}`).filter((v) => !counts.has(v));
  assert.deepEqual({ twice, missing }, { twice: [], missing: [] });
  assert.equal(copied.length, sent);
});

test('a group reading a topic written in transactions commits past the last commit marker: no lag left', async (t) => {
  // What broke: the group committed the offset after its last record, and the commit marker after it
  // stayed one record of lag for good on every partition (lag alerts, autoscaling on lag).
  const kafka = testKafka(t);
  const topic = await topicWrittenInTransactions(t, kafka, 'markers', [['a'], ['b'], ['c']]);
  const groupId = uniqueName('markers-group');
  const consumer = await kafka.consumer({ groupId });
  t.after(() => consumer.disconnect());
  await consumer.subscribe([topic], { fromBeginning: true });
  const handled: string[] = [];
  await consumer.runBatches(async (batch) => {
    handled.push(...batch.records.map((r) => String(r.value)));
  });
  await eventually('the three records handled', () => handled.length === 3);
  const [end] = [...(await kafka.endOffsets(topic)).values()];
  assert.equal(end, '6', 'three records and their three commit markers');
  await eventually('the group committed the end, markers included', async () => {
    return (await kafka.committedOffsets(groupId, topic)).get(0) === '6';
  });
  assert.deepEqual(handled, ['a', 'b', 'c']);
});

test('a member that stopped right after its last batch left the marker behind: the next one commits past it', async (t) => {
  // The Segment sink reads a topic written in transactions; stopped right after its last batch, its
  // group is committed at the last record, one commit marker short of the end. The next member to start
  // must commit past it without a record to hand over, or the lag of one stays (alerts, autoscaling).
  const kafka = testKafka(t);
  const topic = await topicWrittenInTransactions(t, kafka, 'markers-restart', [['a', 'b']]);
  const groupId = uniqueName('markers-restart-group');

  // The first member stops as soon as it has the last record: its batch is committed, nothing after.
  const first = await kafka.consumer({ groupId });
  await first.subscribe([topic], { fromBeginning: true });
  const stop = new AbortController();
  const firstHandled: string[] = [];
  await first.runBatches(
    async (batch) => {
      firstHandled.push(...batch.records.map((r) => String(r.value)));
      if (firstHandled.length === 2) stop.abort();
    },
    { signal: stop.signal },
  );
  await eventually('the last record committed', async () => {
    return (await kafka.committedOffsets(groupId, topic)).get(0) === '2';
  });
  await first.disconnect();
  assert.equal((await kafka.committedOffsets(groupId, topic)).get(0), '2', 'stopped before the marker');

  const next = await kafka.consumer({ groupId });
  t.after(() => next.disconnect());
  await next.subscribe([topic], { fromBeginning: true });
  const nextHandled: string[] = [];
  await next.runBatches(async (batch) => {
    nextHandled.push(...batch.records.map((r) => String(r.value)));
  });
  await eventually('the next member committed past the marker', async () => {
    return (await kafka.committedOffsets(groupId, topic)).get(0) === '3';
  });
  assert.deepEqual(firstHandled, ['a', 'b']);
  assert.deepEqual(nextHandled, [], 'nothing handed over twice');
});

test('read_committed: an aborted transaction whose abort marker comes in a later fetch is never handed over', async (t) => {
  // What broke: @platformatic/kafka filtered an aborted transaction only when its abort marker was in
  // the same fetch answer ("open ranges ... ignored for safety"); a fetch cut by its byte limit between
  // the aborted records and their marker handed them over, and a transaction aborted after a crash
  // showed up twice in the normalized topic.
  const kafka = testKafka(t);
  const topic = uniqueName('aborted-split');
  await kafka.ensureTopics([{ topic, partitions: 1 }]);
  const producer = await kafka.transactionalProducer({ transactionalId: uniqueName('aborted-split-tx') });
  t.after(() => producer.disconnect());
  const big = (label: string) => Buffer.from(`${label}:${'.'.repeat(4000)}`);
  for (const [label, commit] of [
    ['committed-1', true],
    ['aborted-1', false],
    ['aborted-2', false],
    ['committed-2', true],
  ] as const) {
    const transaction = await producer.begin();
    await transaction.send([{ topic, records: [{ key: label, value: big(label) }] }]);
    await (commit ? transaction.commit() : transaction.abort());
  }
  // Each fetch brings about one batch: the aborted records and their markers come in separate answers.
  const consumer = await kafka.consumer({
    groupId: uniqueName('aborted-split-group'),
    maxBytesPerPartition: 1024,
  });
  t.after(() => consumer.disconnect());
  await consumer.subscribe([topic], { fromBeginning: true });
  const seen: string[] = [];
  await consumer.runBatches(async (batch) => {
    seen.push(...batch.records.map((r) => String(r.value).split(':')[0] as string));
  });
  await eventually('the last committed record', () => seen.includes('committed-2'));
  assert.deepEqual(seen, ['committed-1', 'committed-2']);
});
