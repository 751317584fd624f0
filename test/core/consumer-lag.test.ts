import assert from 'node:assert/strict';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { consumerLagGauge } from '../../core/consumer-lag.ts';
import { createKafkaClient, type KafkaClient } from '../../core/kafka.ts';
import { silentLogger } from '../../core/logger.ts';
import { testKafka, uniqueName } from '../helpers/stack.ts';

/** The gauge's values by partition, as Prometheus scrapes them. */
async function scrape(registry: Registry): Promise<Record<string, number>> {
  const text = await registry.metrics();
  return Object.fromEntries(
    [...text.matchAll(/^lag_records\{partition="(\d+)"\} (\d+)$/gm)].map((m) => [m[1], Number(m[2])]),
  );
}

/** Reads the topic to its end as `groupId`, committing each batch. */
async function consumeAll(kafka: KafkaClient, groupId: string, topic: string, count: number) {
  const consumer = await kafka.consumer({ groupId });
  let seen = 0;
  const done = new Promise<void>((resolve) => {
    void consumer.subscribe([topic], { fromBeginning: true }).then(() =>
      consumer.runBatches(async (batch) => {
        seen += batch.records.length;
        if (seen >= count) setImmediate(resolve);
      }),
    );
  });
  await done;
  await consumer.disconnect();
}

test('the lag per partition is what the group has not committed: all before any commit, then only what came after', async (t) => {
  const kafka = testKafka(t);
  const topic = uniqueName('lag');
  const groupId = uniqueName('lag-group');
  await kafka.ensureTopics([{ topic, partitions: 2 }]);
  const producer = await kafka.producer();
  t.after(() => producer.disconnect());
  const send = (keys: string[]) =>
    producer.send([{ topic, records: keys.map((key) => ({ key, value: Buffer.from(key) })) }]);
  const keys = ['a@example.com', 'b@example.com', 'c@example.com', 'd@example.com', 'e@example.com'];
  await send(keys);

  const registry = new Registry();
  consumerLagGauge({ name: 'lag_records', registry, kafka, groupId, topic, logger: silentLogger() });
  const before = await scrape(registry);
  assert.equal(Object.keys(before).length, 2, JSON.stringify(before));
  assert.equal((before['0'] ?? 0) + (before['1'] ?? 0), 5, 'nothing committed: every record is lag');

  await consumeAll(kafka, groupId, topic, 5);
  assert.deepEqual(await scrape(registry), { 0: 0, 1: 0 });

  await send(['f@example.com', 'g@example.com']);
  const after = await scrape(registry);
  assert.equal((after['0'] ?? 0) + (after['1'] ?? 0), 2, JSON.stringify(after));
});

test('Kafka unreachable: a scrape keeps the last values; one that hangs ends at the timeout', {
  // Only a guard: with the gauge's timeout broken, the hung read below would hold the scrape for the
  // client's 60 s connection timeout.
  timeout: 30_000,
}, async (t) => {
  const scrapeOf = async (brokers: string[], connectionTimeoutMs: number) => {
    const kafka = createKafkaClient({
      brokers,
      clientId: uniqueName('lag'),
      logger: silentLogger(),
      connectionTimeoutMs,
      retries: 0,
    });
    t.after(() => kafka.close());
    const registry = new Registry();
    const gauge = consumerLagGauge({
      name: 'lag_records',
      registry,
      kafka,
      groupId: 'g',
      topic: 't',
      logger: silentLogger(),
      timeoutMs: 300,
    });
    gauge.set({ partition: '0' }, 42);
    return scrape(registry);
  };

  // Nothing listens: the read fails at once.
  assert.deepEqual(await scrapeOf(['127.0.0.1:1'], 200), { 0: 42 });

  // A broker that takes the connection and never answers: the read is still pending when the scrape ends.
  const held = new Set<Socket>();
  const silent = createServer((socket) => held.add(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const socket of held) socket.destroy();
    return new Promise((resolve) => silent.close(resolve));
  });
  const port = (silent.address() as AddressInfo).port;
  assert.deepEqual(await scrapeOf([`127.0.0.1:${port}`], 60_000), { 0: 42 });
  assert.ok(held.size >= 1, 'the read reached the silent broker and waits on it');
});
