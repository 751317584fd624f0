import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createBatchingProducer, recordBatchBytes } from '../../core/batching-producer.ts';
import type { OutgoingRecord, TopicRecords } from '../../core/kafka.ts';
import { recordCount } from '../helpers/ingress.ts';
import { readRecords, testKafka, uniqueName } from '../helpers/stack.ts';

test('concurrent senders all get their acks, and every record lands once, in order per key', async (t) => {
  const kafka = testKafka(t);
  const topic = uniqueName('batching');
  await kafka.ensureTopics([{ topic, partitions: 3 }]);
  const producer = await kafka.producer();
  t.after(() => producer.disconnect());
  const batching = createBatchingProducer(producer, { maxBatchRecords: 50 });
  const sends = Array.from({ length: 40 }, (_, caller) =>
    batching.send([
      {
        topic,
        records: Array.from({ length: 5 }, (_, n) => ({
          key: `key-${caller % 4}`,
          value: Buffer.from(`${caller}:${n}`),
        })),
      },
    ]),
  );
  assert.ok(batching.pending() > 0, 'records wait while the first request is in flight');
  await Promise.all(sends);
  assert.equal(batching.pending(), 0);
  await batching.drain();
  const records = await readRecords(t, kafka, topic, 200);
  assert.equal(new Set(records.map((r) => r.value?.toString())).size, 200, 'no loss, no duplicate');
  for (const key of ['key-0', 'key-1', 'key-2', 'key-3']) {
    const values = records
      .filter((r) => r.key?.toString() === key)
      .sort((a, b) => Number(a.offset) - Number(b.offset))
      .map((r) => r.value?.toString().split(':').map(Number) as [number, number]);
    const sorted = [...values].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    assert.deepEqual(values, sorted, `${key} keeps the order its senders called send()`);
  }
});

test('a send aborted before it left is withdrawn: rejected, not counted, never written', async (t) => {
  const kafka = testKafka(t);
  const topic = uniqueName('batching');
  await kafka.ensureTopics([{ topic }]);
  const producer = await kafka.producer();
  t.after(() => producer.disconnect());
  const batching = createBatchingProducer(producer);
  const first = batching.send([{ topic, records: [{ key: null, value: Buffer.from('first') }] }]);
  const controller = new AbortController();
  // Queued behind the first request, which is in flight: aborting withdraws it.
  const second = batching.send(
    [{ topic, records: [{ key: null, value: Buffer.from('second') }] }],
    controller.signal,
  );
  controller.abort(new Error('caller gave up'));
  await assert.rejects(second, /caller gave up/);
  await first;
  await batching.drain();
  assert.equal(batching.pending(), 0);
  assert.equal(await recordCount(kafka, topic), 1);
  const aborted = new AbortController();
  aborted.abort(new Error('already'));
  await assert.rejects(
    batching.send([{ topic, records: [{ key: null, value: Buffer.from('x') }] }], aborted.signal),
    /already/,
  );
});

// Merged produce requests passed 1 MiB: the client puts a partition's records of one request in one record
// batch, which the broker refuses above the topic's max.message.bytes (MESSAGE_TOO_LARGE), so 36 of 40
// concurrent 100-event webhooks on a 1-partition topic failed although each fitted on its own.
test('concurrent sends merged for one partition stay under its max.message.bytes: requests are cut by bytes', async (t) => {
  const kafka = testKafka(t);
  const topic = uniqueName('batching');
  await kafka.ensureTopics([{ topic, partitions: 1, maxMessageBytes: 1024 * 1024 }]);
  const producer = await kafka.producer();
  t.after(() => producer.disconnect());
  const batching = createBatchingProducer(producer);
  const payload = 'p'.repeat(600);
  const sends = Array.from({ length: 40 }, (_, caller) =>
    batching.send([
      {
        topic,
        records: Array.from({ length: 100 }, (_, n) => ({
          key: `key-${caller}`,
          value: Buffer.from(`${caller}:${n}:${payload}`),
        })),
      },
    ]),
  );
  const outcomes = await Promise.allSettled(sends);
  const failed = outcomes.filter((o) => o.status === 'rejected');
  const firstFailure = failed[0] === undefined ? '' : String((failed[0] as PromiseRejectedResult).reason);
  assert.equal(failed.length, 0, `${failed.length} of 40 sends failed, the first with: ${firstFailure}`);
  await batching.drain();
  assert.equal(await recordCount(kafka, topic), 4000);
});

test('one entry larger than maxBatchBytes is split over several requests; a record larger than it goes alone', async (t) => {
  const kafka = testKafka(t);
  const topic = uniqueName('batching');
  await kafka.ensureTopics([{ topic, partitions: 2 }]);
  const producer = await kafka.producer();
  t.after(() => producer.disconnect());
  // The real producer, with each request's records noted on the way.
  const requests: OutgoingRecord[][] = [];
  const observed = {
    send: (batches: TopicRecords[]) => {
      requests.push(batches.flatMap((b) => b.records));
      return producer.send(batches);
    },
    disconnect: () => producer.disconnect(),
  };
  const maxBatchBytes = 10_000;
  const batching = createBatchingProducer(observed, { maxBatchBytes });
  const small = Array.from({ length: 50 }, (_, n) => ({ key: `k${n}`, value: Buffer.alloc(1000, n) }));
  const large = { key: 'large', value: Buffer.alloc(30_000, 1) };
  await Promise.all([
    batching.send([{ topic, records: small }]),
    batching.send([{ topic, records: [large] }]),
  ]);
  assert.equal(await recordCount(kafka, topic), 51);
  assert.ok(requests.length >= 7, `${requests.length} requests`);
  for (const records of requests) {
    if (records.length > 1) assert.ok(recordBatchBytes(records) <= maxBatchBytes);
  }
  assert.deepEqual(
    requests.find((records) => records.includes(large)),
    [large],
    'the large record went alone',
  );
  assert.deepEqual(
    requests.flat().filter((r) => r !== large),
    small,
    'the entry left in order',
  );
});

test('recordBatchBytes is never less than what the broker counts against max.message.bytes', async (t) => {
  const kafka = testKafka(t);
  const topic = uniqueName('batching');
  const limit = 20_000;
  await kafka.ensureTopics([{ topic, partitions: 1, maxMessageBytes: limit }]);
  const producer = await kafka.producer();
  t.after(() => producer.disconnect());
  const record = (size: number) => ({
    key: 'someone@example.com',
    value: Buffer.alloc(size, 7),
    headers: { 'dlq.error.code': 'EVENT_TOO_LARGE', 'dlq.stage': 'ingress' },
  });
  // The largest single record our estimate lets through is taken by the broker.
  let size = limit;
  while (recordBatchBytes([record(size)]) > limit) size--;
  await producer.send([{ topic, records: [record(size)] }]);
  // And the estimate is close: 100 bytes more is refused.
  await assert.rejects(producer.send([{ topic, records: [record(size + 100)] }]), /larger than the max/i);
});
