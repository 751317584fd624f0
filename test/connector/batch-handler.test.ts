import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createBatchHandler } from '../../connector/batch-handler.ts';
import { loadConnectorConfig, mappingOptionsOf } from '../../connector/config.ts';
import { createConnectorMetrics } from '../../connector/metrics.ts';
import { createSegmentSink } from '../../connector/segment-sink.ts';
import { createBatchingProducer } from '../../core/batching-producer.ts';
import { DEAD_LETTER_HEADERS } from '../../core/dead-letter.ts';
import type { IncomingRecord } from '../../core/kafka.ts';
import { silentLogger } from '../../core/logger.ts';
import type { AvroSerializer } from '../../core/schema-registry.ts';
import {
  type MailjetEventNormalized,
  type MailjetEventRaw,
  mailjetEventNormalizedSchema,
  mailjetEventRawSchema,
} from '../../schemas/index.ts';
import { SEGMENT_WRITE_KEY, startTestSegment } from '../helpers/connector.ts';
import { readRecords, testKafka, testRegistry, uniqueName } from '../helpers/stack.ts';

test('a record whose normalized value cannot be encoded is dead-lettered before Segment sees it; the others go on', async (t) => {
  // What broke: the normalized value was encoded after Segment took the batch, so one failing encode
  // threw the whole batch (retried for ever) after its events had already reached Segment.
  const segment = await startTestSegment(t);
  const kafka = testKafka(t);
  const topics = { raw: uniqueName('raw'), normalized: uniqueName('normalized'), dlq: uniqueName('dlq') };
  await kafka.ensureTopics([{ topic: topics.normalized }, { topic: topics.dlq }]);
  const registry = testRegistry();
  const rawSerializer = await registry.serializer(`${topics.raw}-value`, mailjetEventRawSchema);
  const real = await registry.serializer(`${topics.normalized}-value`, mailjetEventNormalizedSchema);
  // A value this schema cannot hold, as a mapping bug would make it: avsc refuses it when encoding.
  const normalizedSerializer: AvroSerializer = {
    ...real,
    encode: (value) => {
      const normalized = value as MailjetEventNormalized;
      return real.encode(
        normalized.email === 'unencodable@example.com'
          ? { ...normalized, message_id: undefined }
          : normalized,
      );
    },
  };
  const producer = await kafka.producer();
  t.after(() => producer.disconnect());
  const handle = createBatchHandler({
    decode: registry.decoder<MailjetEventRaw>(mailjetEventRawSchema),
    mapping: mappingOptionsOf(loadConnectorConfig({})),
    userIdOf: () => undefined,
    sink: createSegmentSink({ endpoint: segment.url, writeKey: SEGMENT_WRITE_KEY, logger: silentLogger() }),
    producer: createBatchingProducer(producer),
    normalizedSerializer,
    normalizedTopic: topics.normalized,
    deadLetterTopic: topics.dlq,
    metrics: createConnectorMetrics({ defaultMetrics: false }),
    logger: silentLogger(),
    signal: new AbortController().signal,
    onFatal: () => {},
  });
  const records: IncomingRecord[] = ['a@example.com', 'unencodable@example.com', 'b@example.com'].map(
    (email, offset) => ({
      topic: topics.raw,
      partition: 0,
      offset: String(offset),
      timestamp: '1700000000000',
      key: Buffer.from(email),
      value: rawSerializer.encode({
        event: 'open',
        time: 1700000000,
        email,
        message_id: '1',
        message_guid: null,
        event_json: `{"event":"open","time":1700000000,"email":"${email}","MessageID":1}`,
        received_at: 1700000000000,
        request_id: 'test',
      } satisfies MailjetEventRaw),
      headers: {},
    }),
  );

  const outcome = await handle({ topic: topics.raw, partition: 0, records, heartbeat: async () => {} });

  assert.deepEqual(outcome, { delivered: { open: 2 }, deadLettered: 1 });
  const atSegment = segment.recorder
    .events(10)
    .map((e) => (e.context as { traits: { email: string } }).traits.email);
  assert.deepEqual(atSegment.sort(), ['a@example.com', 'b@example.com'], 'Segment never saw the bad one');
  const [letter] = await readRecords(t, kafka, topics.dlq, 1);
  assert.equal(letter?.headers[DEAD_LETTER_HEADERS.errorCode]?.toString(), 'UNMAPPABLE_EVENT');
  assert.equal(letter?.headers[DEAD_LETTER_HEADERS.originOffset]?.toString(), '1');
  assert.match(letter?.headers[DEAD_LETTER_HEADERS.errorMessage]?.toString() ?? '', /invalid/i);
  assert.equal((await readRecords(t, kafka, topics.normalized, 2)).length, 2);
});
