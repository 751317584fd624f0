/**
 * The producer benchmark: what the project's Kafka producer (core/kafka.ts) costs per record with each
 * KAFKA_COMPRESSION codec, as a ratio to no compression in the same run. A script that prints figures,
 * never a test:
 *
 *   node --disable-warning=TimeoutNegativeWarning bench/producer.ts [--requests N]
 *
 * On the local stack (or KAFKA_BROKERS/SCHEMA_REGISTRY_URL): N requests of 2,000 raw events (acks=all, idempotent, 6 partitions) with each codec,
 *    one after the other on topics of their own: records/s and CPU per record of the bench process (the
 *    codecs' own threads included), and the bytes of one request's values before and after the codec.
 */
import { randomBytes } from 'node:crypto';
import { compressionsAlgorithms } from '@platformatic/kafka';
import {
  createKafkaClient,
  type OutgoingRecord,
  type ProducerCompression,
  producerCompressions,
} from '../core/kafka.ts';
import { createSchemaRegistryClient } from '../core/schema-registry.ts';
import { mailjetEventRawSchema, valueSubject } from '../schemas/index.ts';
import {
  benchLogger,
  checkFlags,
  fmt,
  parseFlags,
  printMachine,
  printTable,
  runBench,
  startBenchStack,
  writeResults,
} from './harness.ts';
import { mailjetRawEvents } from './raw-events.ts';

const RECORDS_PER_REQUEST = 2000;
const PARTITIONS = 6;
const WARM_UP_REQUESTS = 20;

const USAGE = 'bench/producer.ts [--requests 10..10000]';
const { values: args } = parseFlags(USAGE, {
  options: {
    requests: { type: 'string', default: '60' },
  },
});
const requests = Number(args.requests);
checkFlags(USAGE, [Number.isInteger(requests) && requests >= 10 && requests <= 10_000]);

runBench({ stopping: 'the stack', main });

async function main(): Promise<number> {
  printMachine(
    `${requests} requests of ${RECORDS_PER_REQUEST} raw events per phase (after ${WARM_UP_REQUESTS} to warm up), ${PARTITIONS} partitions`,
  );
  const { stack } = await startBenchStack();
  const registry = createSchemaRegistryClient(stack.registryUrl);
  const suffix = randomBytes(4).toString('hex');
  const serializer = await registry.serializer(
    valueSubject(`bench.producer.${suffix}`),
    mailjetEventRawSchema,
  );
  const records: OutgoingRecord[] = mailjetRawEvents(RECORDS_PER_REQUEST).map((event) => ({
    key: event.email,
    value: serializer.encode(event),
  }));
  const values = Buffer.concat(records.map((r) => r.value as Buffer));
  const rows: string[][] = [];
  let baselineRate = 0;
  for (const compression of producerCompressions) {
    const kafka = createKafkaClient({
      brokers: stack.brokers,
      clientId: `bench-producer-${compression}`,
      logger: benchLogger,
      compression,
    });
    const topic = `bench.producer.${suffix}.${compression}`;
    await kafka.ensureTopics([{ topic, partitions: PARTITIONS }]);
    const producer = await kafka.producer();
    for (let i = 0; i < WARM_UP_REQUESTS; i++) await producer.send([{ topic, records }]);
    const cpu = process.cpuUsage();
    const started = performance.now();
    for (let i = 0; i < requests; i++) await producer.send([{ topic, records }]);
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    await producer.disconnect();
    await kafka.close();
    const rate = (requests * RECORDS_PER_REQUEST) / seconds;
    // producerCompressions starts with 'none': the baseline of the ratios.
    if (compression === 'none') baselineRate = rate;
    rows.push([
      `produce, KAFKA_COMPRESSION=${compression}`,
      rate.toFixed(0),
      fmt(rate / baselineRate, 2),
      fmt((used.user + used.system) / (requests * RECORDS_PER_REQUEST), 2),
      `${values.length} → ${compressedLength(compression, values)}`,
    ]);
  }
  printTable(['phase', 'records/s', '/ none', 'CPU µs/record', 'bytes of one request’s values'], rows, 1);
  writeResults('producer');
  return 0;
}

/** Bytes of `values` once `compression`'s codec compressed them (the same algorithm whichever client). */
function compressedLength(compression: ProducerCompression, values: Buffer): number {
  return compressionsAlgorithms[compression].compressSync(values).length;
}
