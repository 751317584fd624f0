/**
 * Phase 1 of bench/producer.ts, in a process of its own: encodes record batches of raw events with
 * kafkajs's protocol modules, as published (`kafkajs`) or with the project's encoder (`project`), and
 * prints the CPU per record as JSON. Nothing here may load core/kafka.ts, which installs the project's
 * encoder before kafkajs loads.
 *
 *   node bench/encoder-child.ts kafkajs|project BATCHES RECORDS_PER_BATCH
 */
import { createRequire } from 'node:module';
import { createAvroSerializer } from '../core/schema-registry.ts';
import { mailjetEventRawSchema } from '../schemas/index.ts';
import { mailjetRawEvents } from './raw-events.ts';

const [encoder, batches, perBatch] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
if (encoder === 'project') await import('../core/kafkajs-encoder.ts');
const require = createRequire(import.meta.url);
const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0/index.js');
const Record = require('kafkajs/src/protocol/recordBatch/record/v0/index.js');

// Avro-framed as the ingress writes them; the schema id is any, encoding needs no registry.
const serializer = createAvroSerializer('bench', 1, mailjetEventRawSchema);
const records = mailjetRawEvents(perBatch).map((event) => ({
  key: event.email,
  value: serializer.encode(event),
}));
const encode = () =>
  RecordBatch({
    records: records.map(({ key, value }, offsetDelta) => Record({ offsetDelta, key, value })),
    lastOffsetDelta: records.length - 1,
  });
for (let i = 0; i < 20; i++) await encode();
const cpu = process.cpuUsage();
for (let i = 0; i < batches; i++) await encode();
const used = process.cpuUsage(cpu);
process.stdout.write(
  `${JSON.stringify({ usPerRecord: (used.user + used.system) / (batches * perBatch) })}\n`,
);
