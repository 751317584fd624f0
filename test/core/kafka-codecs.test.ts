/**
 * Topics written by Apache Kafka's own Java producer with each compression codec (the jars of the local
 * stack, test/fixtures/CompressedProducer.java) are read by our consumers, and what our producers
 * compress with each codec is read by Kafka's Java consumer. (kafkajs, the project's first client,
 * stopped its consumer for good on snappy, lz4 and zstd batches; @platformatic/kafka has all four.)
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { compressionsAlgorithms } from '@platformatic/kafka';
import { createKafkaClient, producerCompressions } from '../../core/kafka.ts';
import { silentLogger } from '../../core/logger.ts';
import { findJava } from '../../stack/java.ts';
import { kafkaJars } from '../../stack/maven-artifacts.ts';
import { mailjetSamples } from '../fixtures/mailjet-events.ts';
import { eventually, startTestConnector, startTestSegment } from '../helpers/connector.ts';
import { postWebhook, startTestIngress } from '../helpers/ingress.ts';
import { readRecords, testKafka, testStack, uniqueName } from '../helpers/stack.ts';

const run = promisify(execFile);
const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));

/** Runs one of the Java fixtures with the Kafka client jars of the local stack; its standard output. */
async function runJava(source: string, args: string[]): Promise<string> {
  const [java, jars] = await Promise.all([findJava(17, 'the Java fixtures'), kafkaJars()]);
  const { stdout } = await run(java.executable, ['-cp', join(jars, '*'), fixture(source), ...args], {
    timeout: 60_000,
  });
  return stdout;
}

/** Writes key/value pairs to `topic` with Kafka's Java producer compressing with `codec`. */
async function javaProduce(topic: string, codec: string, pairs: [string, string][]): Promise<void> {
  await runJava('CompressedProducer.java', [testStack().brokers.join(','), topic, codec, ...pairs.flat()]);
}

/**
 * Counts the batches each codec compresses (@platformatic/kafka calls compressionsAlgorithms), so "none"
 * sent by mistake cannot pass for compression.
 */
function countCompressions(t: TestContext, codecs: readonly string[]): Map<string, number> {
  const compressed = new Map<string, number>();
  const count = (codec: string) => compressed.set(codec, (compressed.get(codec) ?? 0) + 1);
  const algorithms = compressionsAlgorithms as unknown as Record<string, Record<string, unknown>>;
  for (const codec of codecs) {
    const algorithm = algorithms[codec] as Record<string, unknown>;
    for (const phase of ['compress', 'compressSync'] as const) {
      const original = algorithm[phase] as ((data: unknown) => unknown) | undefined;
      if (!original) continue;
      algorithm[phase] = (data: unknown) => {
        count(codec);
        return original(data);
      };
      t.after(() => {
        algorithm[phase] = original;
      });
    }
  }
  return compressed;
}

test(`records compressed with gzip, snappy, lz4 and zstd by the Java producer are all read`, async (t) => {
  const kafka = testKafka(t);
  const codecs = ['gzip', 'snappy', 'lz4', 'zstd'];
  const topics = codecs.map((codec) => uniqueName(`compressed-${codec}`));
  await kafka.ensureTopics(topics.map((topic) => ({ topic, partitions: 1 })));
  // Values long and repetitive enough that every codec really compresses them.
  const pairs = (codec: string): [string, string][] =>
    Array.from({ length: 50 }, (_, i) => [`user-${i}@example.com`, `${codec}:${i}:${'x'.repeat(200 + i)}`]);
  await Promise.all(codecs.map((codec, i) => javaProduce(topics[i] as string, codec, pairs(codec))));

  for (const [i, codec] of codecs.entries()) {
    const records = await readRecords(t, kafka, topics[i] as string, 50);
    assert.deepEqual(
      records.map((r) => [r.key?.toString(), r.value?.toString()]),
      pairs(codec),
      `the ${codec} records, in order`,
    );
  }
});

test(`an identity topic written with lz4 by another team still gives the connector its userIds`, async (t) => {
  const segment = await startTestSegment(t);
  const ingress = await startTestIngress(t);
  const kafka = testKafka(t);
  await kafka.ensureTopics([{ topic: ingress.topics.IDENTITY_TOPIC, compacted: true }]);
  await javaProduce(ingress.topics.IDENTITY_TOPIC, 'lz4', [['api@mailjet.com', 'user-from-lz4']]);
  // No wait for the view: the connector maps nothing before it read what the topic held at start.
  await startTestConnector(t, ingress.topics, segment);

  assert.equal((await postWebhook(ingress, mailjetSamples.open)).status, 200);
  await eventually('the event at Segment', () => segment.recorder.stats().eventsReceived === 1);
  const [event] = segment.recorder.events(1);
  assert.equal(event?.userId, 'user-from-lz4');
});

test(`KAFKA_COMPRESSION: our producers compress with gzip, snappy, zstd and lz4, and Kafka's Java consumer reads them`, async (t) => {
  const codecs = producerCompressions.filter((codec) => codec !== 'none');
  const compressed = countCompressions(t, codecs);
  for (const codec of codecs) {
    const kafka = createKafkaClient({
      brokers: testStack().brokers,
      clientId: uniqueName('compressing'),
      logger: silentLogger(),
      compression: codec,
    });
    t.after(() => kafka.close());
    const topic = uniqueName(`ours-${codec}`);
    await kafka.ensureTopics([{ topic, partitions: 1 }]);
    const producer = await kafka.producer();
    t.after(() => producer.disconnect());
    const records = Array.from({ length: 30 }, (_, i) => ({
      key: `user-${i}@example.com`,
      value: Buffer.from(`${codec}:${i}:${'y'.repeat(300)}`),
    }));
    await producer.send([{ topic, records }]);
    const read = await runJava('TopicReader.java', [testStack().brokers.join(','), topic, '30']);
    assert.deepEqual(
      read.trim().split('\n'),
      records.map((r) => `${r.key}=${r.value.toString()}`),
      `the ${codec} batch, read by the Java consumer`,
    );
  }
  assert.deepEqual([...compressed.keys()].sort(), [...codecs].sort(), 'each codec compressed a batch');
});
