import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { test } from 'node:test';
import type { KafkaClient, OutgoingRecord, Producer } from '../../core/kafka.ts';
import { readRecords, testKafka, uniqueName } from '../helpers/stack.ts';

/**
 * A topic whose `max.message.bytes` is 1,000: a record over it fails its partition of a produce request
 * with MESSAGE_TOO_LARGE (not retriable) while the request's other partitions are stored.
 */
async function smallMessageTopic(kafka: KafkaClient): Promise<string> {
  const topic = uniqueName('small-messages');
  await kafka.ensureTopics([{ topic, partitions: 1, maxMessageBytes: 1000 }]);
  return topic;
}

function records(prefix: string, count: number): OutgoingRecord[] {
  return Array.from({ length: count }, (_, i) => ({ key: null, value: Buffer.from(`${prefix}-${i}`) }));
}

async function storedCount(kafka: KafkaClient, topic: string): Promise<number> {
  const ends = await kafka.endOffsets(topic);
  return [...ends.values()].reduce((sum, end) => sum + Number(end), 0);
}

const tooLarge = /larger than the max message size|MESSAGE_TOO_LARGE|RECORD_LIST_TOO_LARGE/i;

/** One send whose records for `stored` are written while its partition of `tooSmall` refuses its record. */
async function partlyFailedSend(
  kafka: KafkaClient,
  producer: Producer,
  stored: string,
  tooSmall: string,
): Promise<void> {
  await assert.rejects(
    producer.send([
      { topic: stored, records: records('first', 3) },
      { topic: tooSmall, records: [{ key: null, value: Buffer.alloc(2000, 'x') }] },
    ]),
    tooLarge,
  );
  // The broker kept the other topic's part of the failed request.
  assert.equal(await storedCount(kafka, stored), 3);
}

async function setUp(t: TestContext) {
  const kafka = testKafka(t);
  const stored = uniqueName('stored');
  await kafka.ensureTopics([{ topic: stored }]);
  const tooSmall = await smallMessageTopic(kafka);
  const producer = await kafka.producer({ idempotent: true });
  t.after(() => producer.disconnect());
  return { kafka, stored, tooSmall, producer };
}

// kafkajs's idempotent producer rolled back the sequence numbers of every partition of a request that
// failed for one partition only: the next 3-record batch to a partition that had stored the first 3
// reused their numbers, and the broker acked it as a duplicate without writing it (a 200 lost).
test('a batch acked after a send that failed for another partition is stored', async (t) => {
  const { kafka, stored, tooSmall, producer } = await setUp(t);
  await partlyFailedSend(kafka, producer, stored, tooSmall);

  await producer.send([{ topic: stored, records: records('second', 3) }]);

  assert.equal(await storedCount(kafka, stored), 6, 'every acked record is in the topic');
  const values = (await readRecords(t, kafka, stored, 6)).map((record) => String(record.value));
  assert.deepEqual(
    values,
    [...records('first', 3), ...records('second', 3)].map((r) => String(r.value)),
  );
});

// After the same rollback, a batch of another size started below the broker's next sequence number: the
// broker refused it with OUT_OF_ORDER_SEQUENCE_NUMBER, and every later one too until a restart.
test('single sends after a send that failed for another partition are stored, none refused', async (t) => {
  const { kafka, stored, tooSmall, producer } = await setUp(t);
  await partlyFailedSend(kafka, producer, stored, tooSmall);

  for (let i = 0; i < 5; i++) await producer.send([{ topic: stored, records: records(`single-${i}`, 1) }]);

  assert.equal(await storedCount(kafka, stored), 8);
});

// A send made while the failing request was in flight queued behind it on the same producer and was
// numbered after the rollback: acked as a duplicate and lost like the batch after it.
test('a send made while a send fails for another partition is stored', async (t) => {
  const { kafka, stored, tooSmall, producer } = await setUp(t);
  const other = uniqueName('other');
  await kafka.ensureTopics([{ topic: other }]);
  const failing = producer.send([
    { topic: stored, records: records('first', 3) },
    { topic: tooSmall, records: [{ key: null, value: Buffer.alloc(2000, 'x') }] },
  ]);
  // Two topics like the failing send, so it reaches the broker's queue after it rather than first.
  const concurrent = producer.send([
    { topic: stored, records: records('second', 3) },
    { topic: other, records: records('other', 1) },
  ]);

  await assert.rejects(failing, tooLarge);
  await concurrent;

  assert.equal(await storedCount(kafka, stored), 6);
});

// A producer that replaced itself after a failed send (the kafkajs wrapper did) must still close on
// disconnect(), and a send after it must not open a new one.
test('disconnect() after a failed send closes the producer; a send after it is refused', async (t) => {
  const { kafka, stored, tooSmall, producer } = await setUp(t);
  await partlyFailedSend(kafka, producer, stored, tooSmall);
  await producer.send([{ topic: stored, records: records('second', 3) }]);

  await producer.disconnect();

  await assert.rejects(producer.send([{ topic: stored, records: records('late', 1) }]));
  assert.equal(await storedCount(kafka, stored), 6);
});

// What broke: a transaction's produce that failed (the broker killed mid-request in the integrity lane's
// broker-kill, here a record the topic refuses) left the client's sequence numbers past the broker's;
// after the abort every later transaction of the producer was refused OUT_OF_ORDER_SEQUENCE_NUMBER, and
// the normalizer retried the same batches for good without a record more.
test('a transaction whose send failed is aborted, and the next ones go through', async (t) => {
  const kafka = testKafka(t);
  const topic = await smallMessageTopic(kafka);
  const producer = await kafka.transactionalProducer({ transactionalId: uniqueName('after-failed-send') });
  t.after(() => producer.disconnect());
  let transaction = await producer.begin();
  await transaction.send([{ topic, records: records('first', 1) }]);
  await transaction.commit();

  transaction = await producer.begin();
  await assert.rejects(
    transaction.send([{ topic, records: [{ key: null, value: Buffer.alloc(2000, 'x') }] }]),
  );
  await transaction.abort();

  for (const prefix of ['second', 'third']) {
    transaction = await producer.begin();
    await transaction.send([{ topic, records: records(prefix, 2) }]);
    await transaction.commit();
  }
  const committed = await readRecords(t, kafka, topic, 5);
  assert.deepEqual(
    committed.map((record) => String(record.value)),
    ['first-0', 'second-0', 'second-1', 'third-0', 'third-1'],
  );
});
