import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createBatchingProducer } from '../../core/batching-producer.ts';
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
