/**
 * The faults each scenario injects while the sender's load runs, at moments the run's seeded PRNG picks,
 * and what each requires beyond lost = 0 and segment_effective_duplicates = 0. A scenario's `inject`
 * returns when its last fault is over (every process it stopped is running again); the run measures
 * recovery from then.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { KafkaClient } from '../core/kafka.ts';
import type { SchemaRegistryClient } from '../core/schema-registry.ts';
import {
  type MailjetEventRaw,
  mailjetEventRawSchema,
  type SegmentIdentify,
  segmentIdentifySchema,
  valueSubject,
} from '../schemas/index.ts';
import type { RunRecords } from './count.ts';
import { messageIdOf } from './mailjet-sender.ts';
import type { Pipeline } from './pipeline.ts';
import type { Random } from './seeded-random.ts';

export interface ScenarioContext {
  pipeline: Pipeline;
  random: Random;
  kafka: KafkaClient;
  registry: SchemaRegistryClient;
  /** How long the sender's load lasts; faults happen within it. */
  loadMs: number;
  /** Events the sender makes in the first second of its load, at least. */
  eventsPerSecond: number;
  messageIdPrefix: string;
  quick: boolean;
}

/** What a scenario did that its check needs: events chosen to be refused, poison records written. */
export interface Injected {
  refused?: Set<string>;
  unreadablePoison?: number;
  unmappable?: Set<string>;
}

export interface Scenario {
  name: string;
  /** The number of the scenario. */
  number: number;
  description: string;
  /** Settings of the connector for this scenario. */
  connectorEnv?: NodeJS.ProcessEnv;
  inject(context: ScenarioContext): Promise<Injected>;
  /** Failures beyond the common checks. */
  check?(records: RunRecords, injected: Injected): string[];
}

export const scenarios: Scenario[] = [
  {
    name: 'connector-kill',
    number: 3,
    description:
      'The connector is SIGKILLed at seeded random moments under load (between Segment answering and the offset commit, among others), then restarted each time.',
    async inject({ pipeline, random, loadMs, quick }) {
      // A SIGKILLed member stays in the group until its session times out (30 s): the restarted one
      // joins only then, so each kill costs that long.
      const kills = quick ? 2 : 5;
      // Each kill in its own slice of the load, so they spread over it whatever the seed.
      const slice = (loadMs * 0.8) / kills;
      for (let i = 0; i < kills; i++) {
        await sleep(random.between(0.2, 0.8) * slice);
        await pipeline.killConnector();
        await sleep(random.int(100, 1500));
        await pipeline.startConnector();
      }
      return {};
    },
  },
  {
    name: 'sigterm-all',
    number: 7,
    description:
      'The ingress and the connector get SIGTERM together under load (as a rolling deploy does), then both start again; the sender retries what was not answered 200.',
    async inject({ pipeline, random, loadMs }) {
      await sleep(random.between(0.2, 0.5) * loadMs);
      await Promise.all([pipeline.stop('ingress'), pipeline.stop('connector')]);
      await sleep(random.int(200, 2000));
      await Promise.all([pipeline.startIngress(), pipeline.startConnector()]);
      return {};
    },
    check(records) {
      const total = records.normalized.length;
      const distinct = new Set(records.normalized.map((event) => event.mailjetMessageId)).size;
      return total > distinct
        ? [`${total - distinct} duplicate normalized records after a clean shutdown`]
        : [];
    },
  },
  {
    name: 'segment-faults',
    number: 5,
    description:
      'The local Segment server answers bursts of 429 with Retry-After and of 5xx, answers too late (the connector times out), and refuses chosen events with 400: those must end in the dead-letter topic.',
    // Shorter than the injected latency, so slow answers are timeouts to the connector.
    connectorEnv: { SEGMENT_REQUEST_TIMEOUT_MS: '2000' },
    async inject({ pipeline, random, loadMs, eventsPerSecond, messageIdPrefix, quick }) {
      const refused = new Set<string>();
      const early = Math.max(1, Math.floor((eventsPerSecond * loadMs) / 2000));
      // Not among the very first events: the fault must be in force before the connector can send them.
      while (refused.size < (quick ? 3 : 10))
        refused.add(messageIdOf(messageIdPrefix, random.int(20, 20 + early)));
      await setFaults(pipeline, { refuseEvents: { property: 'message_id', values: [...refused] } });
      const steps = quick ? 3 : 8;
      const slice = (loadMs * 0.8) / steps;
      for (let i = 0; i < steps; i++) {
        await sleep(random.between(0.1, 0.5) * slice);
        const fault = random.pick(['rate-limit', 'server-errors', 'timeouts'] as const);
        if (fault === 'rate-limit') {
          await setFaults(pipeline, {
            rateLimitNext: { count: random.int(1, 5), retryAfterSeconds: random.int(1, 2) },
          });
        } else if (fault === 'server-errors') {
          await setFaults(pipeline, {
            failNext: { count: random.int(2, 10), status: random.pick([500, 502, 503, 504]) },
          });
        } else {
          await setFaults(pipeline, { latencyMs: 3000 });
          await sleep(random.int(1000, 4000));
          await setFaults(pipeline, { latencyMs: 0 });
        }
      }
      return { refused };
    },
    check(records, { refused = new Set() }) {
      const deadLettered = new Set(records.deadLetters.map((letter) => letter.mailjetMessageId));
      const inSegment = new Set(records.segment.map((event) => event.mailjetMessageId));
      const problems: string[] = [];
      for (const id of refused) {
        if (!records.acked.has(id)) continue; // Never acked (the load ended first): nothing to check.
        if (!deadLettered.has(id)) problems.push(`refused event ${id} is not in the dead-letter topic`);
        if (inSegment.has(id)) problems.push(`refused event ${id} reached Segment`);
      }
      return problems;
    },
  },
  {
    name: 'poison-records',
    number: 6,
    description:
      'Records no ingress would write are produced straight into the raw topic under load: a bad magic byte, an unknown schema id, the schema id of another subject, an event that cannot be mapped. Each must be dead-lettered exactly once while the valid traffic flows.',
    async inject({ pipeline, random, kafka, registry, loadMs, messageIdPrefix, quick }) {
      const topic = pipeline.topics.RAW_TOPIC;
      const rawSerializer = await registry.serializer(valueSubject(topic), mailjetEventRawSchema);
      const otherSerializer = await registry.serializer(
        valueSubject(`${topic}.other-subject`),
        segmentIdentifySchema,
      );
      const producer = await kafka.producer({ idempotent: true });
      const rounds = quick ? 2 : 5;
      const unmappable = new Set<string>();
      try {
        for (let round = 0; round < rounds; round++) {
          await sleep(random.between(0.1, 0.7) * ((loadMs * 0.8) / rounds));
          // MessageIDs the sender never makes (its own have 8 digits after the prefix).
          const id = `${messageIdPrefix}9${String(round).padStart(8, '0')}`;
          unmappable.add(id);
          const noIdentity: MailjetEventRaw = {
            event: 'open',
            time: Math.floor(Date.now() / 1000),
            email: null,
            message_id: id,
            message_guid: null,
            event_json: `{"event":"open","time":${Math.floor(Date.now() / 1000)},"MessageID":${id}}`,
            received_at: Date.now(),
            request_id: `integrity-poison-${round}`,
          };
          const records = [
            { key: 'poison', value: Buffer.from([0x01, 0x00, 0x00, 0x00, 0x01, 0x02]) },
            { key: 'poison', value: Buffer.from([0x00, 0x7f, 0xff, 0xff, 0x00 + round, 0x02, 0x02]) },
            {
              key: 'poison',
              value: otherSerializer.encode({
                message_id: `poison-${round}`,
                user_id: 'someone',
                anonymous_id: null,
                email: 'someone@example.com',
                traits_json: '{}',
                audience_key: null,
                call_json: '{}',
                timestamp: Date.now(),
                received_at: Date.now(),
                request_id: `integrity-poison-${round}`,
              } satisfies SegmentIdentify),
            },
            { key: 'poison', value: rawSerializer.encode(noIdentity) },
          ];
          await producer.send([{ topic, records }]);
        }
      } finally {
        await producer.disconnect();
      }
      return { unreadablePoison: rounds * 3, unmappable };
    },
    check(records, { unreadablePoison = 0, unmappable = new Set() }) {
      const problems: string[] = [];
      const unreadable = records.deadLetters.filter((letter) => letter.mailjetMessageId === undefined).length;
      if (unreadable !== unreadablePoison) {
        problems.push(`${unreadable} unreadable records dead-lettered, ${unreadablePoison} written`);
      }
      for (const id of unmappable) {
        const letters = records.deadLetters.filter((letter) => letter.mailjetMessageId === id).length;
        if (letters !== 1) problems.push(`unmappable event ${id} dead-lettered ${letters} times, not once`);
      }
      return problems;
    },
  },
];

export const scenarioNames = scenarios.map((s) => s.name);

async function setFaults(pipeline: Pipeline, faults: object): Promise<void> {
  const response = await fetch(`${pipeline.segmentUrl}/_local/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(faults),
  });
  if (!response.ok) throw new Error(`the Segment server refused the faults: ${await response.text()}`);
}
