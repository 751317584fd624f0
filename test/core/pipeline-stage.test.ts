/**
 * The conformance test of the consuming stages: each real stage (the normalizer, the Segment sink, the
 * Mailjet destination's worker), in the one batch loop (startGroupConsumer), on a real topic, against
 * its real sink (Kafka, the local Segment and Mailjet servers), must:
 * - deliver in record order;
 * - dead-letter what cannot be decoded or mapped, naming its stage and origin, and go on;
 * - commit a batch only after its outcome is written (held in the middle, nothing is committed);
 * - at a graceful stop, finish the batch in flight and commit it.
 */
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { readToEnd } from '../../bench/harness.ts';
import { loadConnectorConfig, mappingOptionsOf } from '../../connector/config.ts';
import { createConnectorMetrics } from '../../connector/metrics.ts';
import { normalizerStage } from '../../connector/normalizer.ts';
import { segmentSinkStage } from '../../connector/segment-delivery.ts';
import { mapMailjetEvent } from '../../connector/segment-mapping.ts';
import { createSegmentSink } from '../../connector/segment-sink.ts';
import { createBatchingProducer } from '../../core/batching-producer.ts';
import { DEAD_LETTER_HEADERS } from '../../core/dead-letter.ts';
import type { KafkaClient, TransactionalProducer } from '../../core/kafka.ts';
import { silentLogger } from '../../core/logger.ts';
import { createStageHandler, type StageDefinition } from '../../core/pipeline-stage.ts';
import { startGroupConsumer } from '../../core/service-clients.ts';
import { loadDestinationConfig } from '../../destination/config.ts';
import { createContactWriter } from '../../destination/contact-writer.ts';
import { createMailjetClient } from '../../destination/mailjet-client.ts';
import { createDestinationMetrics } from '../../destination/metrics.ts';
import { workerStage } from '../../destination/worker.ts';
import {
  type MailjetEventNormalized,
  type MailjetEventRaw,
  mailjetEventNormalizedSchema,
  mailjetEventRawSchema,
  type SegmentIdentify,
  segmentIdentifySchema,
} from '../../schemas/index.ts';
import { SEGMENT_WRITE_KEY, startTestSegment } from '../helpers/connector.ts';
import { MAILJET_CREDENTIALS, startTestMailjet } from '../helpers/destination.ts';
import { testKafka, testRegistry, uniqueName } from '../helpers/stack.ts';

/** A stage as the conformance test drives it. */
interface StageUnderTest {
  // biome-ignore lint/suspicious/noExplicitAny: each stage has its own value and item types.
  definition: StageDefinition<any, any>;
  /** The value of the i-th good record (all of one recipient, so one key and one partition). */
  good(i: number): Promise<Buffer>;
  /** A value that decodes but that the stage's mapping refuses. */
  unmappable(): Promise<Buffer>;
  /** Read-process-write stages write their output in a transaction; the others by a producer. */
  transactional: boolean;
  /** The good records' numbers as the sink holds them, in the order it received them. */
  delivered(): Promise<number[]>;
}

const KEY = 'conformance@example.com';
const GOOD = 6;

function rawEvent(i: number): MailjetEventRaw {
  const time = 1_700_000_000 + i;
  return {
    event: 'open',
    time,
    email: KEY,
    message_id: String(1000 + i),
    message_guid: null,
    event_json: JSON.stringify({ event: 'open', time, email: KEY, MessageID: 1000 + i }),
    received_at: time * 1000,
    request_id: 'conformance',
  };
}

const stages: Record<
  string,
  (t: TestContext, kafka: KafkaClient, output: string) => Promise<StageUnderTest>
> = {
  async normalizer(_t, kafka, output) {
    const registry = testRegistry();
    const raw = await registry.serializer(`${uniqueName('raw')}-value`, mailjetEventRawSchema);
    const normalized = await registry.serializer(`${output}-value`, mailjetEventNormalizedSchema);
    return {
      definition: normalizerStage({
        decode: registry.decoder<MailjetEventRaw>(mailjetEventRawSchema),
        mapping: mappingOptionsOf(loadConnectorConfig({})),
        userIdOf: () => undefined,
        encode: (value) => normalized.encode(value),
        normalizedTopic: output,
        deadLetterTopic: uniqueName('unused'),
        metrics: createConnectorMetrics({ defaultMetrics: false }),
        logger: silentLogger(),
      }),
      good: async (i) => raw.encode(rawEvent(i)),
      unmappable: async () => raw.encode({ ...rawEvent(99), event_json: 'not json' }),
      transactional: true,
      async delivered() {
        const values: Buffer[] = [];
        await readToEnd(kafka, output, (records) => {
          for (const record of records) values.push(record.value as Buffer);
        });
        const decoded = await Promise.all(
          values.map((value) => registry.decode<MailjetEventNormalized>(value)),
        );
        return decoded.map((value) => Number(value.mailjet_message_id) - 1000);
      },
    };
  },

  async 'segment-sink'(t) {
    const segment = await startTestSegment(t);
    const registry = testRegistry();
    const serializer = await registry.serializer(
      `${uniqueName('normalized')}-value`,
      mailjetEventNormalizedSchema,
    );
    const normalizedOf = (i: number) => {
      const mapped = mapMailjetEvent(rawEvent(i), mappingOptionsOf(loadConnectorConfig({})), {});
      assert.ok(mapped.ok);
      return mapped.normalized;
    };
    return {
      definition: segmentSinkStage({
        decode: registry.decoder<MailjetEventNormalized>(mailjetEventNormalizedSchema),
        sink: createSegmentSink({
          endpoint: segment.url,
          writeKey: SEGMENT_WRITE_KEY,
          logger: silentLogger(),
        }),
        metrics: createConnectorMetrics({ defaultMetrics: false }),
      }),
      good: async (i) => serializer.encode(normalizedOf(i)),
      unmappable: async () => serializer.encode({ ...normalizedOf(99), event_type: 'teleported' }),
      transactional: false,
      delivered: async () =>
        segment.recorder
          .events(100)
          .map((event) => Number((event.properties as { message_id: string }).message_id) - 1000),
    };
  },

  async 'mailjet-worker'(t) {
    const mailjet = await startTestMailjet(t);
    const config = loadDestinationConfig({ DESTINATION_WRITE_KEY: 'conformance-write-key' });
    const writer = createContactWriter({
      client: createMailjetClient({ baseUrl: mailjet.url, ...MAILJET_CREDENTIALS, logger: silentLogger() }),
      listId: config.MAILJET_LIST_ID,
      action: config.MAILJET_CONTACT_ACTION,
      bulkMinContacts: config.MAILJET_BULK_MIN_CONTACTS,
      jobPollMs: 50,
      logger: silentLogger(),
    });
    await writer.start();
    const registry = testRegistry();
    const serializer = await registry.serializer(`${uniqueName('identifies')}-value`, segmentIdentifySchema);
    const identify = (traits: string): SegmentIdentify => ({
      message_id: uniqueName('call'),
      user_id: 'user-1',
      anonymous_id: null,
      email: KEY,
      traits_json: traits,
      audience_key: null,
      call_json: '{}',
      timestamp: 1_700_000_000_000,
      received_at: 1_700_000_000_000,
      request_id: 'conformance',
    });
    // Each call sets `n`; a contact's calls are folded in order, so the last one's value wins.
    const written: number[] = [];
    return {
      definition: workerStage({
        decode: registry.decoder<SegmentIdentify>(segmentIdentifySchema),
        writer: {
          ...writer,
          write: async (items, signal) => {
            for (const { update } of items) written.push(Number(update.properties.n));
            return writer.write(items, signal);
          },
        },
      }),
      good: async (i) => serializer.encode(identify(JSON.stringify({ n: i }))),
      unmappable: async () => serializer.encode(identify('not json')),
      transactional: false,
      async delivered() {
        // The store holds the contact as the last write left it: it must be the last call's.
        const last = mailjet.store.contact(KEY)?.Properties.n;
        return last === undefined || Number(last) !== written.at(-1) ? [] : written;
      },
    };
  },
};

for (const [name, setUp] of Object.entries(stages)) {
  test(`conformance, ${name}: in order, dead letters named, commit after the outcome, the batch in flight finished at a stop`, async (t) => {
    const kafka = testKafka(t);
    const input = uniqueName(`${name}-in`);
    const output = uniqueName(`${name}-out`);
    const dlq = uniqueName(`${name}-dlq`);
    await kafka.ensureTopics([
      { topic: input, partitions: 1 },
      { topic: output, partitions: 1 },
      { topic: dlq, partitions: 1 },
    ]);
    const stage = await setUp(t, kafka, output);

    // good 0, garbage, unmappable, good 1 … good 5: the first batch holds them all (one fetch).
    const values = [
      await stage.good(0),
      Buffer.from('not a Confluent record'),
      await stage.unmappable(),
      ...(await Promise.all(Array.from({ length: GOOD - 1 }, (_, i) => stage.good(i + 1)))),
    ];
    const producer = await kafka.producer();
    t.after(() => producer.disconnect());
    await producer.send([{ topic: input, records: values.map((value) => ({ key: KEY, value })) }]);

    // The stage's decode waits on a gate from the 5th record on: the batch is held in the middle.
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    let decoded = 0;
    let held!: () => void;
    const holding = new Promise<void>((resolve) => {
      held = resolve;
    });
    const definition = {
      ...stage.definition,
      decode: async (buffer: Buffer) => {
        decoded += 1;
        if (decoded === 5) {
          held();
          await gate;
        }
        return stage.definition.decode(buffer);
      },
    };
    const abort = new AbortController();
    const handler = createStageHandler(definition, {
      deadLetterTopic: dlq,
      logger: silentLogger(),
      signal: abort.signal,
      metrics: createDestinationMetrics(),
    });
    let transactional: TransactionalProducer | undefined;
    if (stage.transactional) {
      transactional = await kafka.transactionalProducer({ transactionalId: uniqueName('conformance') });
      t.after(() => transactional?.disconnect());
    }
    const batching = createBatchingProducer(producer);
    const groupId = uniqueName('conformance');
    const consumer = await startGroupConsumer({
      kafka,
      groupId,
      topics: [input],
      handler,
      ...(transactional ? { transactions: transactional } : { producer: batching, signal: abort.signal }),
      log: silentLogger(),
      onFatal: (err) => assert.fail(err),
    });
    t.after(() => consumer.disconnect());

    await holding;
    const committed = async () => (await kafka.committedOffsets(groupId, input)).get(0);
    assert.equal(await committed(), '-1', 'nothing is committed while the batch is in the stage');
    // A graceful stop while the batch is held: it is finished and committed, then the member leaves.
    const stopped = consumer.disconnect();
    open();
    await stopped;
    assert.equal(await committed(), String(values.length), 'the batch in flight finished and committed');

    assert.deepEqual(
      await stage.delivered(),
      Array.from({ length: GOOD }, (_, i) => i),
      'every good record delivered once, in order',
    );
    const letters: { offset: string; stage: string; code: string; origin: string }[] = [];
    await readToEnd(kafka, dlq, (records) => {
      for (const record of records) {
        letters.push({
          offset: record.headers[DEAD_LETTER_HEADERS.originOffset]?.toString() ?? '',
          stage: record.headers[DEAD_LETTER_HEADERS.stage]?.toString() ?? '',
          code: record.headers[DEAD_LETTER_HEADERS.errorCode]?.toString() ?? '',
          origin: record.headers[DEAD_LETTER_HEADERS.originTopic]?.toString() ?? '',
        });
      }
    });
    assert.deepEqual(
      letters.map(({ offset, stage: named, origin }) => [offset, named, origin]),
      [
        ['1', stage.definition.stage, input],
        ['2', stage.definition.stage, input],
      ],
      JSON.stringify(letters),
    );
    assert.equal(letters[0]?.code, 'UNDECODABLE_RECORD');
  });
}
