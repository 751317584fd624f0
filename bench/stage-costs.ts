/**
 * What each step of the connector's work costs per event on one core, without Kafka or HTTP: the same
 * functions the stages call, over the benchmarks' events in one process. bench/connector-stages.ts prints
 * them; bench/connector.ts sets the normalizer's own steps against the passthrough in the same run.
 */
import avro from 'avsc';
import {
  defaultMappingOptions,
  mapMailjetEvent,
  type SegmentTrack,
  segmentTrackOf,
} from '../connector/segment-mapping.ts';
import { createAvroSerializer } from '../core/schema-registry.ts';
import {
  type MailjetEventNormalized,
  type MailjetEventRaw,
  mailjetEventNormalizedSchema,
  mailjetEventRawSchema,
} from '../schemas/index.ts';

export const STEPS = {
  decode: 'Avro decode (resolver)',
  map: 'mapping (parse, identity, messageId, normalized record)',
  track: 'Segment call of the normalized record',
  json: 'Segment JSON (stringify + byteLength)',
  bodies: 'request bodies (join per 480 KB)',
  encode: 'normalized Avro encode',
} as const;

/** The normalizer's own steps: what it does beyond the passthrough's consume + decode + produce. */
export const NORMALIZER_STEPS = [STEPS.decode, STEPS.map, STEPS.encode] as const;

export interface StageCosts {
  /** µs of CPU per event by step (STEPS), the best of the rounds. */
  us: Map<string, number>;
  /** Mean bytes per event: the raw Avro value, the Segment JSON, the normalized Avro value. */
  bytes: { raw: number; json: number; normalized: number };
}

export function measureStageCosts(raws: MailjetEventRaw[], rounds: number): StageCosts {
  const count = raws.length;
  const rawType = avro.Type.forSchema(mailjetEventRawSchema as avro.Schema);
  // A writer → reader resolver, as core/schema-registry.ts reads every record.
  const resolver = rawType.createResolver(avro.Type.forSchema(mailjetEventRawSchema as avro.Schema));
  const normalizedSerializer = createAvroSerializer('normalized-value', 1, mailjetEventNormalizedSchema);
  const header = Buffer.from([0, 0, 0, 0, 1]);
  const values = raws.map((raw) => Buffer.concat([header, rawType.toBuffer(raw)]));

  const decoded: MailjetEventRaw[] = [];
  const normalized: MailjetEventNormalized[] = [];
  const tracks: SegmentTrack[] = [];
  const jsons: string[] = [];
  let jsonBytes = 0;
  let normalizedBytes = 0;
  const steps: [string, () => void][] = [
    [
      STEPS.decode,
      () => {
        decoded.length = 0;
        for (const value of values) decoded.push(rawType.fromBuffer(value.subarray(5), resolver));
      },
    ],
    [
      STEPS.map,
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
      STEPS.track,
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
      STEPS.json,
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
      STEPS.bodies,
      () => {
        const perRequest = Math.max(1, Math.floor((480 * 1024) / (jsonBytes / jsons.length)));
        for (let i = 0; i < jsons.length; i += perRequest) {
          const body = `{"batch":[${jsons.slice(i, i + perRequest).join(',')}],"sentAt":"${new Date().toISOString()}"}`;
          Buffer.byteLength(body);
        }
      },
    ],
    [
      STEPS.encode,
      () => {
        normalizedBytes = 0;
        for (const record of normalized) normalizedBytes += normalizedSerializer.encode(record).length;
      },
    ],
  ];

  const us = new Map<string, number>();
  for (let round = 0; round < rounds; round++) {
    for (const [name, run] of steps) {
      const started = process.cpuUsage();
      run();
      const { user, system } = process.cpuUsage(started);
      us.set(name, Math.min(us.get(name) ?? Number.POSITIVE_INFINITY, (user + system) / count));
    }
  }
  return {
    us,
    bytes: {
      raw: values.reduce((sum, value) => sum + value.length, 0) / count,
      json: jsonBytes / count,
      normalized: normalizedBytes / count,
    },
  };
}
