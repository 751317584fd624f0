/**
 * Where the connector's CPU goes per event, stage by stage, in one process and without I/O: the same
 * events as bench/connector.ts, through the same functions the batch handler calls. A script that prints
 * figures, never a test:
 *
 *   node bench/connector-stages.ts [--events N] [--rounds R]
 *
 * Stages: Avro decode (avsc with a writer→reader resolver, as core/schema-registry.ts does), the mapping
 * (lossless JSON parse, identity, SHA-256 messageId, track and normalized objects), the Segment JSON
 * (JSON.stringify + byteLength, as the sink's chunking does), the request body join, and the normalized
 * record's Avro encode. Compare the sum with bench/connector.ts's events/s to see what is left for
 * Kafka, HTTP and the event loop.
 */
import { Buffer } from 'node:buffer';
import avro from 'avsc';
import {
  defaultMappingOptions,
  mapMailjetEvent,
  type SegmentTrack,
  segmentTrackOf,
} from '../connector/segment-mapping.ts';
import { createAvroSerializer } from '../core/schema-registry.ts';
import { rawEventValue } from '../ingress/event-publisher.ts';
import { readWebhookBody } from '../ingress/webhook-body.ts';
import {
  type MailjetEventNormalized,
  type MailjetEventRaw,
  mailjetEventNormalizedSchema,
  mailjetEventRawSchema,
} from '../schemas/index.ts';
import { mailjetSamples } from '../test/fixtures/mailjet-events.ts';
import { parseFlags } from './harness.ts';

const { values: args } = parseFlags('bench/connector-stages.ts [--events N] [--rounds R]', {
  options: {
    events: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '5' },
  },
});
const count = Number(args.events);
const rounds = Number(args.rounds);

const samples = Object.values(mailjetSamples);
const raws: MailjetEventRaw[] = Array.from({ length: count }, (_, i) => {
  const text = (samples[i % samples.length] as string)
    .replace(/"email":"[^"]*"/, `"email":"recipient-${i % 50_000}@example.com"`)
    .replace(/"MessageID":\d+/, `"MessageID":${19421777835146490n + BigInt(i)}`);
  const event = readWebhookBody(Buffer.from(text)).accepted[0];
  if (!event) throw new Error(`not accepted: ${text}`);
  return rawEventValue(event, { requestId: 'f'.repeat(32), receivedAt: Date.now() });
});

const rawType = avro.Type.forSchema(mailjetEventRawSchema as avro.Schema);
const resolver = rawType.createResolver(avro.Type.forSchema(mailjetEventRawSchema as avro.Schema));
const normalizedSerializer = createAvroSerializer('normalized-value', 1, mailjetEventNormalizedSchema);
const header = Buffer.from([0, 0, 0, 0, 1]);
const values = raws.map((raw) => Buffer.concat([header, rawType.toBuffer(raw)]));

const decoded: MailjetEventRaw[] = [];
const tracks: SegmentTrack[] = [];
const normalized: MailjetEventNormalized[] = [];
const jsons: string[] = [];
let jsonBytes = 0;
let normalizedBytes = 0;

const stages: [string, () => void][] = [
  [
    'Avro decode (resolver)',
    () => {
      decoded.length = 0;
      for (const value of values) decoded.push(rawType.fromBuffer(value.subarray(5), resolver));
    },
  ],
  [
    'mapping (parse, identity, messageId, normalized record)',
    () => {
      normalized.length = 0;
      for (const raw of decoded) {
        const result = mapMailjetEvent(raw, defaultMappingOptions, { knownUserId: undefined });
        if (!result.ok) throw new Error(result.message);
        normalized.push(result.normalized);
      }
    },
  ],
  [
    'Segment call of the normalized record',
    () => {
      tracks.length = 0;
      for (const record of normalized) {
        const result = segmentTrackOf(record);
        if (!result.ok) throw new Error(result.message);
        tracks.push(result.track);
      }
    },
  ],
  [
    'Segment JSON (stringify + byteLength)',
    () => {
      jsons.length = 0;
      jsonBytes = 0;
      for (const track of tracks) {
        const json = JSON.stringify(track);
        jsonBytes += Buffer.byteLength(json);
        jsons.push(json);
      }
    },
  ],
  [
    'request bodies (join per 480 KB)',
    () => {
      const perRequest = Math.max(1, Math.floor((480 * 1024) / (jsonBytes / jsons.length)));
      for (let i = 0; i < jsons.length; i += perRequest) {
        const body = `{"batch":[${jsons.slice(i, i + perRequest).join(',')}],"sentAt":"${new Date().toISOString()}"}`;
        Buffer.byteLength(body);
      }
    },
  ],
  [
    'normalized Avro encode',
    () => {
      normalizedBytes = 0;
      for (const record of normalized) normalizedBytes += normalizedSerializer.encode(record).length;
    },
  ],
];

const best = new Map<string, number>();
for (let round = 0; round < rounds; round++) {
  for (const [name, run] of stages) {
    const started = performance.now();
    run();
    const us = ((performance.now() - started) * 1000) / count;
    best.set(name, Math.min(best.get(name) ?? Number.POSITIVE_INFINITY, us));
  }
}
let total = 0;
console.log(`${count} events, best of ${rounds} rounds, µs of CPU per event (one core):`);
for (const [name, us] of best) {
  total += us;
  console.log(
    `  ${name.padEnd(48)} ${us.toFixed(2).padStart(7)} µs  (${(1e6 / us).toFixed(0)} events/s alone)`,
  );
}
console.log(
  `  ${'sum'.padEnd(48)} ${total.toFixed(2).padStart(7)} µs  (${(1e6 / total).toFixed(0)} events/s)`,
);
console.log(
  `sizes: raw Avro value ${(values.reduce((s, v) => s + v.length, 0) / count).toFixed(0)} B, Segment JSON ` +
    `${(jsonBytes / count).toFixed(0)} B/event, normalized Avro ${(normalizedBytes / count).toFixed(0)} B`,
);
