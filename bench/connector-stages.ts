/**
 * Where the connector's CPU goes per event, stage by stage, in one process and without I/O: the same
 * events as bench/connector.ts, through the same functions the stages call (bench/stage-costs.ts). A
 * script that prints figures, never a test:
 *
 *   node bench/connector-stages.ts [--events N] [--rounds R]
 *
 * Steps: Avro decode (avsc with a writer→reader resolver, as core/schema-registry.ts does), the mapping
 * (lossless JSON parse, identity, SHA-256 messageId, normalized record), the Segment call built from the
 * normalized record, the Segment JSON (JSON.stringify + byteLength, as the sink's chunking does), the
 * request body join, and the normalized record's Avro encode. Compare the sum with bench/connector.ts's
 * events/s to see what is left for Kafka, HTTP and the event loop.
 */
import { parseFlags } from './harness.ts';
import { mailjetRawEvents } from './raw-events.ts';
import { measureStageCosts } from './stage-costs.ts';

const { values: args } = parseFlags('bench/connector-stages.ts [--events N] [--rounds R]', {
  options: {
    events: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '5' },
  },
});
const count = Number(args.events);
const rounds = Number(args.rounds);
const { us, bytes } = measureStageCosts(mailjetRawEvents(count), rounds);

let total = 0;
console.log(`${count} events, best of ${rounds} rounds, µs of CPU per event (one core):`);
for (const [name, perEvent] of us) {
  total += perEvent;
  console.log(
    `  ${name.padEnd(48)} ${perEvent.toFixed(2).padStart(7)} µs  (${(1e6 / perEvent).toFixed(0)} events/s alone)`,
  );
}
console.log(
  `  ${'sum'.padEnd(48)} ${total.toFixed(2).padStart(7)} µs  (${(1e6 / total).toFixed(0)} events/s)`,
);
console.log(
  `sizes: raw Avro value ${bytes.raw.toFixed(0)} B, Segment JSON ${bytes.json.toFixed(0)} B/event, ` +
    `normalized Avro ${bytes.normalized.toFixed(0)} B`,
);
