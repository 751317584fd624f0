import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { setImmediate } from 'node:timers/promises';
import { createBatchingProducer } from '../../core/batching-producer.ts';
import { DEAD_LETTER_HEADERS } from '../../core/dead-letter.ts';
import { ConnectorError } from '../../core/errors.ts';
import { createKafkaClient, type IncomingRecord, type KafkaClient } from '../../core/kafka.ts';
import { silentLogger } from '../../core/logger.ts';
import { type IdentifyBody, identifyValue, readIdentifyBody } from '../../destination/identify-body.ts';
import {
  createIdentifyPublisher,
  type IdentifyPublisherOptions,
} from '../../destination/identify-publisher.ts';
import { type SegmentIdentify, segmentIdentifySchema, valueSubject } from '../../schemas/index.ts';
import { recordCount } from '../helpers/ingress.ts';
import { readRecords, testKafka, testRegistry, testStack, uniqueName } from '../helpers/stack.ts';

interface Topics {
  identifyTopic: string;
  identityTopic: string;
  deadLetterTopic: string;
}

/** Topics of its own for one test, and a publisher on the test broker writing to them. */
async function testPublisher(
  t: TestContext,
  options: Partial<IdentifyPublisherOptions> = {},
  kafka: KafkaClient = testKafka(t),
) {
  const topics: Topics = {
    identifyTopic: uniqueName('identifies'),
    identityTopic: uniqueName('identities'),
    deadLetterTopic: uniqueName('intake-dlq'),
  };
  await kafka.ensureTopics([
    { topic: topics.identifyTopic, partitions: 3 },
    { topic: topics.identityTopic, partitions: 3, compacted: true },
    { topic: topics.deadLetterTopic },
  ]);
  const identifySerializer = await testRegistry().serializer(
    valueSubject(topics.identifyTopic),
    segmentIdentifySchema,
  );
  const producer = await kafka.producer({ idempotent: true });
  t.after(() => producer.disconnect());
  const batching = createBatchingProducer(producer);
  const publisher = createIdentifyPublisher({
    producer: batching,
    identifySerializer,
    ...topics,
    ackTimeoutMs: 30_000,
    maxPendingRecords: 1000,
    ...options,
  });
  return { kafka, topics, publisher, batching, identifySerializer };
}

const read = (value: unknown) => readIdentifyBody(Buffer.from(JSON.stringify(value)));
const context = { requestId: 'req-0001', receivedAt: Date.parse('2024-06-01T12:00:00.000Z') };
const header = (record: IncomingRecord | undefined, name: string) => record?.headers[name]?.toString();

test('identify calls are stored as Avro keyed by email, identities linked, rejects dead-lettered, one request', async (t) => {
  const { kafka, topics, publisher } = await testPublisher(t);
  const body = read([
    { type: 'identify', userId: 'u-1', traits: { email: 'Ann@Example.com', plan: 'pro' }, messageId: 'm-1' },
    { type: 'identify', anonymousId: 'anon-2', traits: { email: 'bob@example.com' }, messageId: 'm-2' },
    { type: 'identify', userId: 42, messageId: 'm-3' },
    { type: 'track', userId: 'u-1', event: 'Clicked' },
    { type: 'identify', traits: { email: 'nobody@example.com' } },
  ]);
  assert.deepEqual(await publisher.publish(body, context), { stored: 3, identities: 1, deadLettered: 1 });
  assert.equal(publisher.pending(), 0, 'resolved only once Kafka acked everything');

  const decode = testRegistry().decoder<SegmentIdentify>(segmentIdentifySchema);
  const stored = await readRecords(t, kafka, topics.identifyTopic, 3);
  const byId = new Map<string, { key: string | undefined; value: SegmentIdentify }>();
  for (const record of stored) {
    const value = await decode(record.value as Buffer);
    // avsc decodes into a class of the record's name; its fields are what matters.
    byId.set(value.message_id, { key: record.key?.toString(), value: { ...value } });
  }
  assert.equal(byId.get('m-1')?.key, 'ann@example.com');
  assert.equal(byId.get('m-2')?.key, 'bob@example.com');
  assert.equal(byId.get('m-3')?.key, '42', 'no email: keyed by the userId');
  const [first] = body.accepted;
  assert.ok(first);
  assert.deepEqual(
    byId.get('m-1')?.value,
    identifyValue(first, context),
    'the value round-trips the registry',
  );
  assert.equal(byId.get('m-1')?.value.request_id, 'req-0001');

  const identities = await readRecords(t, kafka, topics.identityTopic, 1);
  assert.equal(
    identities[0]?.key?.toString(),
    'ann@example.com',
    'the identity view reads lower-case emails',
  );
  assert.equal(identities[0]?.value?.toString('utf8'), 'u-1');
  assert.equal(
    await recordCount(kafka, topics.identityTopic),
    1,
    'no identity without both email and userId',
  );

  const [letter] = await readRecords(t, kafka, topics.deadLetterTopic, 1);
  assert.equal(
    letter?.value?.toString(),
    JSON.stringify({ type: 'identify', traits: { email: 'nobody@example.com' } }),
  );
  assert.equal(letter?.key?.toString(), 'nobody@example.com');
  assert.equal(header(letter, DEAD_LETTER_HEADERS.stage), 'intake');
  assert.equal(header(letter, DEAD_LETTER_HEADERS.errorCode), 'IDENTIFY_INVALID');
  assert.match(
    header(letter, DEAD_LETTER_HEADERS.errorMessage) ?? '',
    /^call 4: an identify needs a "userId"/,
  );
  assert.equal(header(letter, DEAD_LETTER_HEADERS.requestId), 'req-0001');
  assert.equal(header(letter, DEAD_LETTER_HEADERS.failedAt), '2024-06-01T12:00:00.000Z');
});

test('invalid JSON reaches the dead-letter topic byte for byte', async (t) => {
  const { kafka, topics, publisher } = await testPublisher(t);
  const body = readIdentifyBody(Buffer.from('{"type":"identify",'));
  assert.deepEqual(await publisher.publish(body, context), { stored: 0, identities: 0, deadLettered: 1 });
  const [letter] = await readRecords(t, kafka, topics.deadLetterTopic, 1);
  assert.equal(letter?.value?.toString(), '{"type":"identify",');
  assert.equal(letter?.key, null);
  assert.match(header(letter, DEAD_LETTER_HEADERS.errorMessage) ?? '', /^Invalid JSON: /);
});

test('a body of ignored calls writes nothing', async (t) => {
  const { kafka, topics, publisher } = await testPublisher(t);
  const body = read([{ type: 'track', userId: 'u', event: 'x' }]);
  assert.deepEqual(await publisher.publish(body, context), { stored: 0, identities: 0, deadLettered: 0 });
  for (const topic of Object.values(topics)) assert.equal(await recordCount(kafka, topic), 0, topic);
});

test('past DESTINATION_MAX_PENDING_RECORDS new bodies are refused as overloaded; an idle producer takes any body', async (t) => {
  const { kafka, topics, publisher } = await testPublisher(t, { maxPendingRecords: 2 });
  const call = (n: number) => ({
    type: 'identify',
    userId: `u-${n}`,
    traits: { email: `u${n}@example.com` },
  });
  // Two records each (identify + identity): the first takes the producer to its limit.
  const first = publisher.publish(read(call(1)), context);
  assert.equal(publisher.pending(), 2);
  await assert.rejects(publisher.publish(read(call(2)), context), (err: unknown) => {
    assert.ok(err instanceof ConnectorError);
    assert.equal(err.code, 'DESTINATION_OVERLOADED');
    assert.equal(err.retriable, true);
    assert.match(
      err.message,
      /2 records already wait for Kafka; 2 more would pass DESTINATION_MAX_PENDING_RECORDS=2/,
    );
    return true;
  });
  await first;
  // Six records, three times the limit: refused forever it would be lost after Segment's 4 h of retries.
  const big = await publisher.publish(read([call(3), call(4), call(5)]), context);
  assert.deepEqual(big, { stored: 3, identities: 3, deadLettered: 0 });
  assert.equal(await recordCount(kafka, topics.identifyTopic), 4, 'the refused body wrote nothing');
});

test('Kafka not acking in time or refusing gives KAFKA_UNAVAILABLE; a withdrawn body writes nothing', async (t) => {
  // Few retries: the refusal below comes after about a second instead of half a minute.
  const kafka = createKafkaClient({
    brokers: testStack().brokers,
    clientId: uniqueName('test'),
    logger: silentLogger(),
    retries: 2,
  });
  t.after(() => kafka.close());
  const { topics, publisher, batching, identifySerializer } = await testPublisher(
    t,
    { ackTimeoutMs: 100 },
    kafka,
  );
  // A topic that does not exist (auto-creation is off): the broker never acks, the client retries.
  const stuck = createIdentifyPublisher({
    producer: batching,
    identifySerializer,
    ...topics,
    identifyTopic: uniqueName('missing'),
    ackTimeoutMs: 60_000,
    maxPendingRecords: 1000,
  });
  const call: IdentifyBody = read({ type: 'identify', userId: 'u', traits: { email: 'u@example.com' } });
  const refused = stuck.publish(call, context);
  await setImmediate();
  // Queued behind the stuck request: its ack cannot come within 100 ms.
  await assert.rejects(publisher.publish(call, context), (err: unknown) => {
    assert.ok(err instanceof ConnectorError);
    assert.equal(err.code, 'KAFKA_UNAVAILABLE');
    assert.equal(err.retriable, true);
    assert.match(err.message, /^Kafka did not ack 2 records within DESTINATION_ACK_TIMEOUT_MS=100/);
    return true;
  });
  await assert.rejects(refused, (err: unknown) => {
    assert.ok(err instanceof ConnectorError);
    assert.equal(err.code, 'KAFKA_UNAVAILABLE');
    assert.match(err.message, /^Kafka refused 2 records: /);
    return true;
  });
  await batching.drain();
  assert.equal(await recordCount(kafka, topics.identifyTopic), 0, 'the timed-out body was withdrawn');
  assert.equal(await recordCount(kafka, topics.identityTopic), 0);

  // Segment sends the body again; Kafka takes it now.
  const retried = createIdentifyPublisher({
    producer: batching,
    identifySerializer,
    ...topics,
    ackTimeoutMs: 30_000,
    maxPendingRecords: 1000,
  });
  assert.deepEqual(await retried.publish(call, context), { stored: 1, identities: 1, deadLettered: 0 });
  assert.equal(await recordCount(kafka, topics.identifyTopic), 1);
});
