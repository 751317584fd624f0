import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConnectorConfig, mappingOptionsOf, segmentSinkGroupId } from '../../connector/config.ts';
import { createConnectorMetrics } from '../../connector/metrics.ts';
import { createSegmentDeliveryHandler } from '../../connector/segment-delivery.ts';
import { mapMailjetEvent } from '../../connector/segment-mapping.ts';
import { createSegmentSink } from '../../connector/segment-sink.ts';
import { DEAD_LETTER_HEADERS } from '../../core/dead-letter.ts';
import { silentLogger } from '../../core/logger.ts';
import { loadTopicConfig } from '../../core/topics.ts';
import {
  type MailjetEventNormalized,
  type MailjetEventRaw,
  mailjetEventNormalizedSchema,
  mailjetEventRawSchema,
} from '../../schemas/index.ts';
import { groupedBody, mailjetSamples } from '../fixtures/mailjet-events.ts';
import {
  eventually,
  SEGMENT_WRITE_KEY,
  startTestConnector,
  startTestSegment,
  writeIdentityTable,
} from '../helpers/connector.ts';
import { postWebhook, recordCount, startTestIngress } from '../helpers/ingress.ts';
import { readRecords, testKafka, testRegistry, uniqueName, uniqueTopicEnv } from '../helpers/stack.ts';

const header = (headers: Record<string, Buffer | undefined>, name: string) => headers[name]?.toString();

test('a grouped body goes ingress → raw topic → connector → Segment and the normalized topic', async (t) => {
  const segment = await startTestSegment(t);
  const ingress = await startTestIngress(t);
  const connector = await startTestConnector(t, ingress.topics, segment);
  assert.equal((await postWebhook(ingress, groupedBody())).status, 200);

  await eventually('7 events at Segment', () => segment.recorder.stats().eventsReceived === 7);
  const stats = segment.recorder.stats();
  assert.deepEqual(stats.byEvent, {
    'Email Delivered': 1,
    'Email Opened': 1,
    'Email Link Clicked': 1,
    'Email Bounced': 1,
    'Email Dropped': 1,
    'Email Marked as Spam': 1,
    'Email Unsubscribed': 1,
  });
  assert.equal(stats.distinctMessageIds, 7);
  const sent = segment.recorder.events(10).find((e) => e.event === 'Email Delivered') as Record<
    string,
    unknown
  >;
  assert.equal(sent.anonymousId, 'api@mailjet.com');
  assert.equal(sent.timestamp, '2015-06-03T12:19:09.000Z');
  assert.equal((sent.properties as Record<string, unknown>).email_id, '19421777835146490');

  const kafka = testKafka(t);
  const normalizedRecords = await readRecords(t, kafka, ingress.topics.NORMALIZED_TOPIC, 7);
  const registry = testRegistry();
  const normalized = await Promise.all(
    normalizedRecords.map((r) => registry.decode<MailjetEventNormalized>(r.value as Buffer)),
  );
  assert.deepEqual(normalized.map((n) => n.event_type).sort(), [
    'blocked',
    'bounce',
    'click',
    'open',
    'sent',
    'spam',
    'unsub',
  ]);
  const open = normalized.find((n) => n.event_type === 'open');
  assert.equal(open?.mailjet_message_id, '19421777396190490');
  assert.equal(open?.event_name, 'Email Opened');
  assert.equal(
    open?.message_id,
    segment.recorder.events(10).find((e) => e.event === 'Email Opened')?.messageId,
  );
  assert.equal(normalizedRecords.find((r) => r.key?.toString() === 'bounce@mailjet.com') !== undefined, true);

  await eventually('offsets committed', async () => {
    const committed = await kafka.committedOffsets(
      connector.config.CONNECTOR_GROUP_ID,
      ingress.topics.RAW_TOPIC,
    );
    const ends = await kafka.endOffsets(ingress.topics.RAW_TOPIC);
    return [...ends].every(([partition, end]) => end === '0' || committed.get(partition) === end);
  });
  const ready = await fetch(`${connector.url}/health/ready`);
  assert.equal(ready.status, 200);
  const metrics = await (await fetch(`${connector.url}/metrics`)).text();
  assert.match(metrics, /mailjet_connector_records_total\{outcome="delivered"\} 7/);
  assert.match(metrics, /mailjet_connector_segment_events_total\{event="Email Dropped"\} 1/);
  assert.match(metrics, /mailjet_connector_segment_requests_total\{status="200"\} \d+/);
  assert.match(metrics, /mailjet_connector_normalized_total 7/);
  const lag = [...metrics.matchAll(/^mailjet_connector_lag_records\{partition="(\d+)"\} (\d+)$/gm)];
  assert.deepEqual(
    lag.map((m) => [m[1], m[2]]).sort(),
    [
      ['0', '0'],
      ['1', '0'],
      ['2', '0'],
    ],
    'every partition of the raw topic, nothing left to read',
  );
  // The Segment sink's group on the normalized topic, written in transactions: its commit markers
  // are no lag either.
  await eventually('the Segment sink reports no lag', async () => {
    const page = await (await fetch(`${connector.url}/metrics`)).text();
    const sinkLag = [
      ...page.matchAll(/^mailjet_connector_segment_lag_records\{partition="(\d+)"\} (\d+)$/gm),
    ];
    return sinkLag.length === 3 && sinkLag.every((m) => m[2] === '0');
  });
});

test('with Segment answering 503 to everything, the events still reach the normalized topic, then Segment once it is back', async (t) => {
  const segment = await startTestSegment(t);
  segment.faults.set({ failNext: { count: 1_000_000, status: 503 } });
  const ingress = await startTestIngress(t);
  await startTestConnector(t, ingress.topics, segment);
  assert.equal((await postWebhook(ingress, groupedBody())).status, 200);

  const kafka = testKafka(t);
  const normalized = await readRecords(t, kafka, ingress.topics.NORMALIZED_TOPIC, 7);
  assert.equal(normalized.length, 7);
  await eventually(
    'the sink trying Segment',
    () => (segment.recorder.stats().responsesByStatus['503'] ?? 0) > 0,
  );
  assert.equal(segment.recorder.stats().eventsReceived, 0, 'Segment took nothing meanwhile');

  segment.faults.clear();
  await eventually('7 events at Segment', () => segment.recorder.stats().eventsReceived === 7, 90_000);
  assert.equal(segment.recorder.stats().distinctMessageIds, 7);
});

test('userId comes from CustomID, from a Payload path, or from the identity topic; else the email', async (t) => {
  const segment = await startTestSegment(t);
  const ingress = await startTestIngress(t);
  const kafka = testKafka(t);
  // The identity table: what the Mailjet destination (or the user) writes, email → userId.
  await kafka.ensureTopics([{ topic: ingress.topics.IDENTITY_TOPIC, compacted: true }]);
  const producer = await kafka.producer();
  t.after(() => producer.disconnect());
  await producer.send([
    {
      topic: ingress.topics.IDENTITY_TOPIC,
      records: [{ key: 'Known@Example.com', value: Buffer.from('user-known') }],
    },
  ]);
  // No wait for the view here: the connector maps nothing before it read what the topic held at start.
  await startTestConnector(t, ingress.topics, segment, { IDENTITY_PAYLOAD_PATH: 'user.id' });

  const events = [
    '{"event":"open","time":1700000000,"email":"payload@example.com","Payload":"{\\"user\\":{\\"id\\":42}}"}',
    '{"event":"open","time":1700000001,"email":"known@example.com"}',
    '{"event":"open","time":1700000002,"email":"stranger@example.com","Payload":"not json"}',
  ];
  assert.equal((await postWebhook(ingress, `[${events.join(',')}]`)).status, 200);
  await eventually('3 events at Segment', () => segment.recorder.stats().eventsReceived === 3);
  const byEmail = new Map(
    segment.recorder.events(10).map((e) => [(e.context as { traits: { email: string } }).traits.email, e]),
  );
  assert.equal(byEmail.get('payload@example.com')?.userId, '42');
  assert.equal(byEmail.get('known@example.com')?.userId, 'user-known');
  assert.equal(byEmail.get('stranger@example.com')?.userId, undefined);
  assert.equal(byEmail.get('stranger@example.com')?.anonymousId, 'stranger@example.com');
});

test('CustomID as userId when configured', async (t) => {
  const segment = await startTestSegment(t);
  const ingress = await startTestIngress(t);
  await startTestConnector(t, ingress.topics, segment, { IDENTITY_FROM_CUSTOM_ID: 'true' });
  assert.equal((await postWebhook(ingress, mailjetSamples.click)).status, 200);
  await eventually('1 event at Segment', () => segment.recorder.stats().eventsReceived === 1);
  assert.equal(segment.recorder.events(1)[0]?.userId, 'helloworld');
});

test('poison records go to the dead-letter topic with their origin; the partition goes on', async (t) => {
  const segment = await startTestSegment(t);
  const ingress = await startTestIngress(t, {});
  const kafka = testKafka(t);
  const producer = await kafka.producer();
  t.after(() => producer.disconnect());
  const raw = ingress.topics.RAW_TOPIC;
  // All on one key, so one partition: the good event after the poison must still arrive.
  await producer.send([
    {
      topic: raw,
      records: [
        { key: 'poison@example.com', value: Buffer.from('{"event":"open"}') },
        { key: 'poison@example.com', value: Buffer.from([0, 0x7f, 0xff, 0xff, 0xf0, 1, 2, 3]) },
      ],
    },
  ]);
  const serializer = await testRegistry().serializer(`${raw}-value`, mailjetEventRawSchema);
  const good: MailjetEventRaw = {
    event: 'open',
    time: 1700000000,
    email: 'poison@example.com',
    message_id: '1',
    message_guid: null,
    event_json: '{"event":"open","time":1700000000,"email":"poison@example.com","MessageID":1}',
    received_at: 1700000000000,
    request_id: 'test',
  };
  const huge = {
    ...good,
    event_json: JSON.stringify({ ...JSON.parse(good.event_json), Payload: 'x'.repeat(40_000) }),
  };
  await producer.send([
    {
      topic: raw,
      records: [
        { key: 'poison@example.com', value: serializer.encode(huge) },
        { key: 'poison@example.com', value: serializer.encode(good) },
      ],
    },
  ]);
  await startTestConnector(t, ingress.topics, segment);
  await eventually('the good event at Segment', () => segment.recorder.stats().eventsReceived === 1);

  const letters = await readRecords(t, kafka, ingress.topics.DEAD_LETTER_TOPIC, 3);
  const codes = letters.map((r) => header(r.headers, DEAD_LETTER_HEADERS.errorCode)).sort();
  assert.deepEqual(codes, ['SEGMENT_EVENT_TOO_LARGE', 'UNDECODABLE_RECORD', 'UNDECODABLE_RECORD']);
  const notAvro = letters.find((r) => r.value?.toString() === '{"event":"open"}');
  assert.ok(notAvro, 'the original bytes, untouched');
  assert.equal(header(notAvro.headers, DEAD_LETTER_HEADERS.stage), 'connector');
  assert.equal(header(notAvro.headers, DEAD_LETTER_HEADERS.originTopic), raw);
  assert.equal(header(notAvro.headers, DEAD_LETTER_HEADERS.originOffset), '0');
  assert.match(header(notAvro.headers, DEAD_LETTER_HEADERS.errorMessage) ?? '', /Not Confluent wire format/);
  const unknownId = letters.find((r) => r.value?.[1] === 0x7f);
  assert.match(
    header(unknownId?.headers ?? {}, DEAD_LETTER_HEADERS.errorMessage) ?? '',
    /Schema id 2147483632 is unknown/,
  );
  // The Segment sink's letter holds the normalized record it could not deliver, from the normalized
  // topic (where the huge event is, as every event the normalizer could map).
  const tooLarge = letters.find((r) => header(r.headers, DEAD_LETTER_HEADERS.stage) === 'segment');
  assert.equal(
    header(tooLarge?.headers ?? {}, DEAD_LETTER_HEADERS.originTopic),
    ingress.topics.NORMALIZED_TOPIC,
  );
  assert.equal(header(tooLarge?.headers ?? {}, DEAD_LETTER_HEADERS.originOffset), '0');
  const normalized = await testRegistry().decode<MailjetEventNormalized>(tooLarge?.value as Buffer);
  assert.equal(normalized.payload?.length, 40_000);
});

test('Segment answering 429 and 5xx delays delivery but loses nothing', async (t) => {
  const segment = await startTestSegment(t);
  segment.faults.set({
    rateLimitNext: { count: 1, retryAfterSeconds: 1 },
    failNext: { count: 2, status: 503 },
  });
  const ingress = await startTestIngress(t);
  await startTestConnector(t, ingress.topics, segment);
  assert.equal((await postWebhook(ingress, groupedBody())).status, 200);
  await eventually('7 events at Segment', () => segment.recorder.stats().eventsReceived === 7);
  const stats = segment.recorder.stats();
  assert.equal(stats.distinctMessageIds, 7);
  assert.equal(stats.responsesByStatus['429'], 1);
  assert.equal(stats.responsesByStatus['503'], 2);
});

test('a crash of the Segment sink after Segment but before its commit redelivers the same messageIds, which Segment dedupes', async (t) => {
  const segment = await startTestSegment(t);
  const topics = loadTopicConfig(uniqueTopicEnv());
  const kafka = testKafka(t);
  await kafka.ensureTopics([{ topic: topics.NORMALIZED_TOPIC }]);
  const registry = testRegistry();
  const serializer = await registry.serializer(
    `${topics.NORMALIZED_TOPIC}-value`,
    mailjetEventNormalizedSchema,
  );
  // One recipient, so one partition and one batch: the crash hits all four events.
  const email = 'crash@example.com';
  const records = [0, 1, 2, 3].map((i) => {
    const mapped = mapMailjetEvent(
      rawEvent(email, 1700000000 + i),
      mappingOptionsOf(loadConnectorConfig({})),
      {},
    );
    assert.ok(mapped.ok);
    return { key: email, value: serializer.encode(mapped.normalized) };
  });
  const producer = await kafka.producer();
  t.after(() => producer.disconnect());
  await producer.send([{ topic: topics.NORMALIZED_TOPIC, records }]);
  const config = loadConnectorConfig({ CONNECTOR_GROUP_ID: uniqueName('crash') });

  // First instance: the sink's real batch handler in the sink's group, then a crash before it may commit.
  const deliver = createSegmentDeliveryHandler({
    decode: registry.decoder<MailjetEventNormalized>(mailjetEventNormalizedSchema),
    sink: createSegmentSink({ endpoint: segment.url, writeKey: SEGMENT_WRITE_KEY, logger: silentLogger() }),
    deadLetterTopic: topics.DEAD_LETTER_TOPIC,
    metrics: createConnectorMetrics({ defaultMetrics: false }),
    logger: silentLogger(),
    signal: new AbortController().signal,
  });
  const crashing = await kafka.consumer({ groupId: segmentSinkGroupId(config) });
  await crashing.subscribe([topics.NORMALIZED_TOPIC], { fromBeginning: true });
  let crashed = 0;
  await crashing.runBatches(async (batch) => {
    await deliver(batch);
    crashed += batch.records.length;
    throw new Error('simulated crash before commit');
  });
  await eventually('the first instance delivered everything', () => crashed >= 4);
  await crashing.disconnect();
  assert.equal(segment.recorder.stats().distinctMessageIds, 4);
  const firstIds = new Set(segment.recorder.events(100).map((e) => e.messageId));

  // Second instance, same group: nothing was committed, so everything comes again, with the same ids.
  const before = segment.recorder.stats().eventsReceived;
  await startTestConnector(t, topics, segment, { CONNECTOR_GROUP_ID: config.CONNECTOR_GROUP_ID });
  await eventually('the redelivery', () => segment.recorder.stats().eventsReceived >= before + 4);
  const stats = segment.recorder.stats();
  assert.equal(stats.distinctMessageIds, 4, 'redelivered events carry the same messageIds');
  assert.ok(stats.duplicates >= 4);
  for (const event of segment.recorder.events(100)) assert.ok(firstIds.has(event.messageId));
  console.log(
    `crash before commit: ${stats.eventsReceived} events received, ${stats.distinctMessageIds} distinct`,
  );
});

test('shutdown finishes the batch waiting for Segment, commits it, and stops cleanly', async (t) => {
  const segment = await startTestSegment(t);
  segment.faults.set({ latencyMs: 1500 });
  const ingress = await startTestIngress(t);
  const connector = await startTestConnector(t, ingress.topics, segment);
  // One recipient, so one partition and one batch: all four events are in flight together. (With two
  // recipients, shutdown could come before the second partition's batch was fetched at all.)
  const body = `[${[mailjetSamples.sent, mailjetSamples.open, mailjetSamples.click, mailjetSamples.unsub].join(',')}]`;
  assert.equal((await postWebhook(ingress, body)).status, 200);
  const kafka = testKafka(t);
  // The Segment sink's batch: the normalizer has committed the raw records, and four are in flight.
  await eventually('the Segment batch in flight', async () => {
    const normalizerDone = [
      ...(
        await kafka.committedOffsets(connector.config.CONNECTOR_GROUP_ID, ingress.topics.RAW_TOPIC)
      ).values(),
    ].some((offset) => offset === '4');
    const page = await (await fetch(`${connector.url}/metrics`)).text();
    return normalizerDone && /mailjet_connector_in_flight_records 4\b/.test(page);
  });
  assert.equal(await connector.shutdown(), true);
  assert.equal(segment.recorder.stats().eventsReceived, 4, 'the batch in flight was finished, not cut');
  const committed = await kafka.committedOffsets(
    connector.config.CONNECTOR_GROUP_ID,
    ingress.topics.RAW_TOPIC,
  );
  let committedTotal = 0;
  for (const offset of committed.values()) committedTotal += Math.max(0, Number(offset));
  assert.equal(
    committedTotal,
    await recordCount(kafka, ingress.topics.RAW_TOPIC),
    'committed = next offset of every partition',
  );
});

/** Raw events of one recipient (one key, so one partition), encoded as the ingress would. */
function rawEvent(email: string, time: number, extra = ''): MailjetEventRaw {
  return {
    event: 'open',
    time,
    email,
    message_id: '19421777396190490123',
    message_guid: null,
    // Built as text: an object this deep could not go through JSON.stringify to make the test itself.
    event_json: `{"event":"open","time":${time},"email":"${email}","MessageID":19421777396190490123${extra}}`,
    received_at: time * 1000,
    request_id: 'test',
  };
}

/** Waits until the group committed, on every partition of `topic` that has records, its end offset. */
async function committedToEnd(kafka: ReturnType<typeof testKafka>, groupId: string, topic: string) {
  await eventually('the committed offset past every record', async () => {
    const committed = await kafka.committedOffsets(groupId, topic);
    const ends = await kafka.endOffsets(topic);
    return [...ends].every(([partition, end]) => end === '0' || committed.get(partition) === end);
  });
}

test('a record of another registered schema in the raw topic is dead-lettered; the partition goes on', async (t) => {
  // What broke: avsc's plain "no alias found" Error was re-thrown, so the batch was retried for ever.
  const segment = await startTestSegment(t);
  const ingress = await startTestIngress(t, {});
  const kafka = testKafka(t);
  const producer = await kafka.producer();
  t.after(() => producer.disconnect());
  const raw = ingress.topics.RAW_TOPIC;
  const registry = testRegistry();
  const rawSerializer = await registry.serializer(`${raw}-value`, mailjetEventRawSchema);
  const normalizedSerializer = await registry.serializer(
    `${ingress.topics.NORMALIZED_TOPIC}-value`,
    mailjetEventNormalizedSchema,
  );
  const email = 'wrong-schema@example.com';
  const good = rawEvent(email, 1700000000);
  const mapped = mapMailjetEvent(good, mappingOptionsOf(loadConnectorConfig({})), {});
  assert.ok(mapped.ok);
  await producer.send([
    {
      topic: raw,
      records: [
        { key: email, value: rawSerializer.encode(good) },
        { key: email, value: normalizedSerializer.encode(mapped.normalized) },
        { key: email, value: rawSerializer.encode(rawEvent(email, 1700000001)) },
      ],
    },
  ]);
  const connector = await startTestConnector(t, ingress.topics, segment);

  const [letter] = await readRecords(t, kafka, ingress.topics.DEAD_LETTER_TOPIC, 1);
  assert.ok(letter);
  assert.equal(header(letter.headers, DEAD_LETTER_HEADERS.stage), 'connector');
  assert.equal(header(letter.headers, DEAD_LETTER_HEADERS.errorCode), 'WRONG_SCHEMA');
  assert.match(header(letter.headers, DEAD_LETTER_HEADERS.errorMessage) ?? '', /MailjetEventNormalized/);
  assert.equal(header(letter.headers, DEAD_LETTER_HEADERS.originTopic), raw);
  assert.equal(header(letter.headers, DEAD_LETTER_HEADERS.originOffset), '1');
  assert.deepEqual(letter.value, normalizedSerializer.encode(mapped.normalized), 'the original bytes');
  await eventually('both good events at Segment', () => segment.recorder.stats().eventsReceived === 2);
  await committedToEnd(kafka, connector.config.CONNECTOR_GROUP_ID, raw);
});

test('stored events nested thousands of levels deep with a number above 2^53 are delivered or dead-lettered, never a crash', async (t) => {
  // What broke: a RangeError (call stack) while mapping or serializing one event crashed the consumer for
  // good (and `start` exited 0). Depths around V8's recursion limit and far past it: the lossless parser
  // refuses each at its depth limit before anything recurses, so every one is a dead letter saying so
  // (records stored before the ingress bounded depth, or written by someone else, take this path).
  const segment = await startTestSegment(t);
  const ingress = await startTestIngress(t, {});
  const kafka = testKafka(t);
  const producer = await kafka.producer();
  t.after(() => producer.disconnect());
  const raw = ingress.topics.RAW_TOPIC;
  const rawSerializer = await testRegistry().serializer(`${raw}-value`, mailjetEventRawSchema);
  const email = 'deep@example.com';
  const depths = [4000, 4500, 5000, 5250, 5500, 5750, 6000, 6500, 7000, 7500, 8000, 20_000];
  const records = [{ key: email, value: rawSerializer.encode(rawEvent(email, 1700000000)) }];
  for (const [i, depth] of depths.entries()) {
    const deep = `,"deep":${'{"a":'.repeat(depth)}9007199254740993${'}'.repeat(depth)}`;
    records.push({ key: email, value: rawSerializer.encode(rawEvent(email, 1700000001 + i, deep)) });
  }
  records.push({ key: email, value: rawSerializer.encode(rawEvent(email, 1700001000)) });
  await producer.send([{ topic: raw, records }]);
  const connector = await startTestConnector(t, ingress.topics, segment);

  await committedToEnd(kafka, connector.config.CONNECTOR_GROUP_ID, raw);
  const atSegment = segment.recorder.events(100).map((e) => e.timestamp);
  assert.deepEqual(atSegment.sort(), ['2023-11-14T22:13:20.000Z', '2023-11-14T22:30:00.000Z']);
  const letters = await readRecords(t, kafka, ingress.topics.DEAD_LETTER_TOPIC, depths.length);
  const offsets = letters.map((letter) => Number(header(letter.headers, DEAD_LETTER_HEADERS.originOffset)));
  assert.deepEqual(
    offsets.sort((x, y) => x - y),
    depths.map((_, i) => i + 1),
  );
  for (const letter of letters) {
    assert.equal(header(letter.headers, DEAD_LETTER_HEADERS.errorCode), 'UNMAPPABLE_EVENT');
    assert.match(
      header(letter.headers, DEAD_LETTER_HEADERS.errorMessage) ?? '',
      /nests deeper than 64 levels/,
    );
  }
  assert.equal((await fetch(`${connector.url}/health/ready`)).status, 200, 'still running');
});

test('after a restart the backlog is mapped only once the identity view read the identity topic', async (t) => {
  // What broke: the raw backlog was mapped while the view was still reading, so events went out with
  // the email as anonymousId although the identity topic held their userId.
  const segment = await startTestSegment(t);
  const ingress = await startTestIngress(t, {});
  const kafka = testKafka(t);
  const emails = Array.from({ length: 20 }, (_, i) => `backlog-${i}@example.com`);
  await writeIdentityTable(
    t,
    kafka,
    ingress.topics.IDENTITY_TOPIC,
    emails.map((email) => [email, `user-${email}`]),
  );
  const raw = ingress.topics.RAW_TOPIC;
  const rawSerializer = await testRegistry().serializer(`${raw}-value`, mailjetEventRawSchema);
  const producer = await kafka.producer();
  t.after(() => producer.disconnect());
  await producer.send([
    {
      topic: raw,
      records: emails.map((email, i) => ({
        key: email,
        value: rawSerializer.encode(rawEvent(email, 1700000000 + i)),
      })),
    },
  ]);

  const connector = await startTestConnector(t, ingress.topics, segment);
  await eventually('the backlog at Segment', () => segment.recorder.stats().eventsReceived === emails.length);
  for (const event of segment.recorder.events(100)) {
    const email = (event.context as { traits: { email: string } }).traits.email;
    assert.equal(event.userId, `user-${email}`, `${email} went out with its userId`);
  }
  const ready = (await (await fetch(`${connector.url}/health/ready`)).json()) as { checks: object };
  assert.equal(
    (ready.checks as { identities?: boolean }).identities,
    true,
    'readiness says the view caught up',
  );
});
