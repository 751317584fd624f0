import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { readToEnd } from '../../bench/harness.ts';
import { type ConnectorConfig, loadConnectorConfig, mappingOptionsOf } from '../../connector/config.ts';
import { mapMailjetEvent } from '../../connector/segment-mapping.ts';
import { deadLetterRecord } from '../../core/dead-letter.ts';
import type { KafkaClient, OutgoingRecord } from '../../core/kafka.ts';
import { silentLogger } from '../../core/logger.ts';
import { createTokenBucket } from '../../core/token-bucket.ts';
import { loadTopicConfig, type TopicConfig } from '../../core/topics.ts';
import type { LocalSegment } from '../../local-saas/segment/server.ts';
import type { ReplayOptions } from '../../replay/arguments.ts';
import type { ReplaySummary } from '../../replay/progress.ts';
import { type ReplayDependencies, runReplay } from '../../replay/run-replay.ts';
import {
  type MailjetEventNormalized,
  type MailjetEventRaw,
  mailjetEventNormalizedSchema,
  mailjetEventRawSchema,
} from '../../schemas/index.ts';
import { eventually, SEGMENT_WRITE_KEY, startTestSegment, writeIdentityTable } from '../helpers/connector.ts';
import { startTestDestination, startTestMailjet } from '../helpers/destination.ts';
import { recordCount } from '../helpers/ingress.ts';
import {
  readRecords,
  testKafka,
  testRegistry,
  testStack,
  uniqueName,
  uniqueTopicEnv,
} from '../helpers/stack.ts';

// Record timestamps three days back, on the hour: far enough from the wall clock that nothing a test
// stamps with the current time falls in a range, yet within the broker's 7-day retention. Records
// older than retention.ms are deleted at the broker's first retention check, 30 s after it starts:
// "replaying twice" once found its range empty that way (total 0) when a loaded machine slowed the run.
const hour = 3_600_000;
const t1 = Math.floor(Date.now() / hour) * hour - 72 * hour;
const t2 = t1 + hour;
const t3 = t2 + hour;

interface Setup {
  topics: TopicConfig;
  segment: LocalSegment;
  produce(topic: string, records: OutgoingRecord[]): Promise<void>;
  rawEvent(email: string, time: number): Buffer;
  replay(options: Partial<ReplayOptions>, deps?: Partial<ReplayDependencies>): Promise<ReplaySummary>;
  output: string[];
  config: ConnectorConfig;
  kafka: KafkaClient;
}

async function setUp(t: import('node:test').TestContext): Promise<Setup> {
  const topics = loadTopicConfig(uniqueTopicEnv());
  const kafka = testKafka(t);
  await kafka.ensureTopics([
    { topic: topics.RAW_TOPIC, partitions: 3 },
    { topic: topics.DEAD_LETTER_TOPIC, partitions: 3 },
    { topic: topics.NORMALIZED_TOPIC, partitions: 3 },
    { topic: topics.IDENTITY_TOPIC, partitions: 1, compacted: true },
  ]);
  const producer = await kafka.producer();
  t.after(() => producer.disconnect());
  const serializer = await testRegistry().serializer(`${topics.RAW_TOPIC}-value`, mailjetEventRawSchema);
  const segment = await startTestSegment(t);
  // One connector group prefix per test: its replay groups are the test's own.
  const config = loadConnectorConfig({ CONNECTOR_GROUP_ID: uniqueName('connector') });
  const output: string[] = [];
  return {
    topics,
    segment,
    output,
    config,
    kafka,
    produce: (topic, records) => producer.send([{ topic, records }]),
    rawEvent(email, time) {
      const event: MailjetEventRaw = {
        event: 'open',
        time: Math.floor(time / 1000),
        email,
        message_id: '19421777396190490',
        message_guid: null,
        event_json: JSON.stringify({ event: 'open', time: Math.floor(time / 1000), email }),
        received_at: time,
        request_id: 'test',
      };
      return serializer.encode(event);
    },
    replay: (options, deps = {}) =>
      runReplay(
        {
          fromMs: t1,
          toMs: t3,
          topic: undefined,
          mode: 'renormalize',
          dryRun: false,
          rate: undefined,
          ...options,
        },
        {
          ...testStack(),
          topics,
          config,
          segment: { endpoint: segment.url, writeKey: SEGMENT_WRITE_KEY },
          logger: silentLogger(),
          output: {
            stdout: { write: (s: string) => output.push(s) },
            stderr: { write: () => {} },
            isTTY: false,
          },
          ...deps,
        },
      ),
  };
}

/** Five events at each of t1, t2, t3 (one second apart within each), on several keys and partitions. */
async function produceThreeHours(setup: Setup) {
  for (const [label, at] of [
    ['t1', t1],
    ['t2', t2],
    ['t3', t3],
  ] as const) {
    await setup.produce(
      setup.topics.RAW_TOPIC,
      [0, 1, 2, 3, 4].map((i) => ({
        key: `${label}-${i}@example.com`,
        value: setup.rawEvent(`${label}-${i}@example.com`, at + i * 1000),
        timestamp: at + i * 1000,
      })),
    );
  }
}

const emailsAtSegment = (segment: LocalSegment) =>
  segment.recorder
    .events(1000)
    .map((e) => (e.context as { traits: { email: string } }).traits.email)
    .sort();

/** The normalized topic as read_committed readers see it, decoded. */
async function normalizedRecords(setup: Setup): Promise<MailjetEventNormalized[]> {
  const values: Buffer[] = [];
  await readToEnd(setup.kafka, setup.topics.NORMALIZED_TOPIC, (records) => {
    for (const record of records) values.push(record.value as Buffer);
  });
  return Promise.all(values.map((value) => testRegistry().decode<MailjetEventNormalized>(value)));
}

/** A normalized record of an open by `email` at t2, as the normalizer writes it. */
async function normalizedValue(setup: Setup, email: string): Promise<Buffer> {
  const raw = await testRegistry().decode<MailjetEventRaw>(setup.rawEvent(email, t2));
  const mapped = mapMailjetEvent(raw, mappingOptionsOf(setup.config), {});
  assert.ok(mapped.ok);
  const serializer = await testRegistry().serializer(
    `${setup.topics.NORMALIZED_TOPIC}-value`,
    mailjetEventNormalizedSchema,
  );
  return serializer.encode(mapped.normalized);
}

const emailsOf = (records: MailjetEventNormalized[]) => records.map((r) => r.email).sort();

test('a range in the middle of the raw topic is re-normalized: its events, each once, in the normalized topic', async (t) => {
  const setup = await setUp(t);
  await produceThreeHours(setup);

  const summary = await setup.replay({ fromMs: t2, toMs: t3 });
  assert.equal(summary.complete, true);
  assert.equal(summary.mode, 'renormalize');
  assert.equal(summary.total, 5);
  assert.equal(summary.records, 5);
  assert.deepEqual(summary.eventsByType, { open: 5 });
  assert.equal(summary.deadLettered, 0);
  assert.deepEqual(
    emailsOf(await normalizedRecords(setup)),
    [0, 1, 2, 3, 4].map((i) => `t2-${i}@example.com`),
  );
  assert.equal(setup.segment.recorder.stats().eventsReceived, 0, "Segment is the Segment sink's business");

  const lines = setup.output.map((line) => JSON.parse(line) as { type: string });
  assert.equal(lines[0]?.type, 'replay.plan');
  assert.equal(lines.at(-1)?.type, 'replay.summary');
  const plan = lines[0] as unknown as { from: string; to: string; resumeCommand: string };
  assert.equal(plan.from, new Date(t2).toISOString());
  assert.ok(
    plan.resumeCommand.includes(`--from ${new Date(t2).toISOString()} --to ${new Date(t3).toISOString()}`),
    plan.resumeCommand,
  );
});

test('a replay maps nothing before its identity view read the identity topic: every event has its userId', async (t) => {
  // What broke: the replay mapped its range while its view was still reading the identity topic, so
  // events went out with the email as anonymousId although their userId was known.
  const setup = await setUp(t);
  await produceThreeHours(setup);
  const emails = [0, 1, 2, 3, 4].flatMap((i) => [`t1-${i}@example.com`, `t2-${i}@example.com`]);
  await writeIdentityTable(
    t,
    testKafka(t),
    setup.topics.IDENTITY_TOPIC,
    emails.map((email) => [email, `user-${email}`]),
  );

  const summary = await setup.replay({ fromMs: t1, toMs: t3 });
  assert.equal(summary.complete, true);
  const records = await normalizedRecords(setup);
  assert.equal(records.length, 10);
  for (const record of records)
    assert.equal(record.user_id, `user-${record.email}`, `${record.email} has its userId`);
});

test('a dry run maps and counts, writes nothing and leaves no progress behind', async (t) => {
  const setup = await setUp(t);
  await produceThreeHours(setup);
  for (const run of [1, 2]) {
    const summary = await setup.replay({ fromMs: t2, toMs: t3, dryRun: true });
    assert.equal(summary.complete, true);
    assert.equal(summary.alreadyDone, 0, `run ${run} starts from the beginning of the range`);
    assert.deepEqual(summary.eventsByType, { open: 5 });
  }
  assert.equal(await recordCount(testKafka(t), setup.topics.NORMALIZED_TOPIC), 0);
});

test('re-normalizing twice writes the same message_ids; the same command again resumes a finished run', async (t) => {
  const setup = await setUp(t);
  await produceThreeHours(setup);
  await setup.replay({ fromMs: t2, toMs: t3 });
  const first = await normalizedRecords(setup);
  assert.equal(new Set(first.map((r) => r.message_id)).size, 5);

  const same = await setup.replay({ fromMs: t2, toMs: t3 });
  assert.equal(same.records, 0, 'the same command finds its group done');
  assert.equal(same.alreadyDone, 5, JSON.stringify(same));
  assert.equal((await normalizedRecords(setup)).length, 5);

  // Another range holding the same events (another group): written again, with the same ids.
  const again = await setup.replay({ fromMs: t2 - 1, toMs: t3 });
  assert.equal(again.records, 5);
  const both = await normalizedRecords(setup);
  assert.equal(both.length, 10, 'total doubled');
  assert.deepEqual(new Set(both.map((r) => r.message_id)), new Set(first.map((r) => r.message_id)));
});

test('an interrupted re-normalization resumes where it stopped: every event exactly once in the normalized topic', async (t) => {
  const setup = await setUp(t);
  // One recipient, so one partition: batches of 5 are committed one after the other.
  const email = 'resume@example.com';
  await setup.produce(
    setup.topics.RAW_TOPIC,
    Array.from({ length: 40 }, (_, i) => ({
      key: email,
      value: setup.rawEvent(email, t2 + i * 1000),
      timestamp: t2 + i * 1000,
    })),
  );

  const stop = new AbortController();
  const first = await setup.replay(
    { fromMs: t2, toMs: t3 },
    {
      maxBatchRecords: 5,
      signal: stop.signal,
      onProgress: (progress) => {
        if (progress.done >= 10) stop.abort();
      },
    },
  );
  assert.equal(first.complete, false);
  assert.ok(first.records >= 10 && first.records < 40, `first run handled ${first.records}`);

  const second = await setup.replay({ fromMs: t2, toMs: t3 }, { maxBatchRecords: 5 });
  assert.equal(second.complete, true);
  assert.ok(second.alreadyDone >= 10, `second run resumed at ${second.alreadyDone}, not at 0`);
  assert.equal(second.alreadyDone + second.records, 40);
  assert.equal(first.records + second.records, 40, 'each run counts what it committed');
  const records = await normalizedRecords(setup);
  // Each batch's records and its offsets are committed in one transaction: what the first run wrote is
  // exactly what it committed, and the second starts after it.
  assert.equal(records.length, 40);
  assert.equal(new Set(records.map((r) => r.message_id)).size, 40);
  console.log(
    `interrupt and resume: first run ${first.records} records, second ${second.records} from ${second.alreadyDone}; ` +
      `${records.length} normalized records`,
  );
});

test('--rate: the bucket is asked for exactly the events handled, its waits add up to the rate, each event written once', async (t) => {
  const setup = await setUp(t);
  const events = 45;
  await setup.produce(
    setup.topics.RAW_TOPIC,
    Array.from({ length: events }, (_, i) => ({
      key: `rate-${i}@example.com`,
      value: setup.rawEvent(`rate-${i}@example.com`, t2 + i * 1000),
      timestamp: t2 + i * 1000,
    })),
  );
  // A clock that moves only when the bucket waits: the waits it asks for are the figures, and the run
  // spends no real time on them (speed is the bench's business, behaviour is this test's).
  let now = 0;
  const waits: number[] = [];
  const clock = {
    now: () => now,
    sleep: async (ms: number) => {
      waits.push(ms);
      now += ms;
    },
  };
  const takes: number[] = [];
  let granted = 0;
  const seen: { done: number; granted: number }[] = [];
  const rate = 10;
  const summary = await setup.replay(
    { fromMs: t2, toMs: t3, rate },
    {
      rateLimiter: (perSecond) => {
        const bucket = createTokenBucket(perSecond, clock);
        return {
          capacity: bucket.capacity,
          async take(count, signal) {
            takes.push(count);
            await bucket.take(count, signal);
            granted += count;
          },
        };
      },
      onProgress: (progress) => seen.push({ done: progress.done, granted }),
    },
  );

  assert.equal(summary.complete, true);
  assert.equal(summary.records, events);
  assert.deepEqual(summary.eventsByType, { open: events });
  assert.equal(
    takes.reduce((sum, n) => sum + n, 0),
    events,
    `takes ${takes.join(',')}: the bucket is asked for every event once`,
  );
  assert.ok(
    takes.every((n) => n >= 1 && n <= rate),
    `takes ${takes.join(',')}: batches are cut to one second of events`,
  );
  const waited = waits.reduce((sum, ms) => sum + ms, 0);
  // A full bucket lets the first second of events through; the rest wait for their tokens.
  assert.ok(Math.abs(waited - ((events - rate) / rate) * 1000) < 1e-6, `waited ${waited} ms`);
  for (const point of seen)
    assert.ok(point.done <= point.granted, `${point.done} handled with ${point.granted} tokens granted`);
  const records = await normalizedRecords(setup);
  assert.equal(records.length, events, 'each event written once');
  assert.equal(new Set(records.map((r) => r.message_id)).size, events);
  console.log(
    `--rate ${rate}: ${takes.length} takes of ${takes.join(',')} events, ${waited.toFixed(0)} ms of waits asked`,
  );
});

test('an empty range ends at once with 0 events', async (t) => {
  const setup = await setUp(t);
  await produceThreeHours(setup);
  const summary = await setup.replay({ fromMs: t1 - 2 * hour, toMs: t1 - hour });
  assert.equal(summary.complete, true);
  assert.equal(summary.total, 0);
  assert.equal(summary.records, 0);
});

test('--redeliver: a range of the normalized topic goes to Segment with the message_ids its records hold; a dry run sends none', async (t) => {
  const setup = await setUp(t);
  await produceThreeHours(setup);
  const from = Date.now() - 1000;
  await setup.replay({ fromMs: t2, toMs: t3 });
  const normalized = await normalizedRecords(setup);
  const range = { mode: 'redeliver' as const, fromMs: from, toMs: Date.now() + 60_000 };

  const dry = await setup.replay({ ...range, dryRun: true });
  assert.equal(dry.topic, setup.topics.NORMALIZED_TOPIC);
  assert.deepEqual(dry.eventsByType, { open: 5 });
  assert.equal(setup.segment.recorder.stats().eventsReceived, 0);

  const summary = await setup.replay(range);
  assert.equal(summary.complete, true);
  assert.equal(summary.records, 5);
  assert.deepEqual(summary.eventsByType, { open: 5 });
  assert.deepEqual(emailsAtSegment(setup.segment), emailsOf(normalized));
  assert.deepEqual(
    new Set(setup.segment.recorder.events(100).map((e) => e.messageId)),
    new Set(normalized.map((r) => r.message_id)),
  );
});

test('a topic read in a mode that cannot take its records is refused before anything is read', async (t) => {
  const setup = await setUp(t);
  await assert.rejects(
    setup.replay({ topic: setup.topics.NORMALIZED_TOPIC }),
    /holds normalized records: .*--redeliver/,
  );
  await assert.rejects(
    setup.replay({ topic: setup.topics.DEAD_LETTER_TOPIC }),
    /holds dead letters: .*--dead-letters/,
  );
  await assert.rejects(
    setup.replay({ mode: 'redeliver' }, { segment: undefined }),
    /Re-delivering to Segment needs SEGMENT_WRITE_KEY/,
  );
});

test('dead letters: a connector letter is normalized again, a Segment refusal goes to Segment, an ingress letter now valid goes to the raw topic', async (t) => {
  const setup = await setUp(t);
  const dlq = setup.topics.DEAD_LETTER_TOPIC;
  // Every letter has a key. kafkajs partitioned a null key round-robin again when it retried a send,
  // and its idempotent producer then took a batch of other records for one it already wrote: one
  // letter was lost and another stored twice (records 4 !== 3, or two "fixed" letters and no "bogus").
  const letter = (
    stage: 'connector' | 'segment' | 'ingress',
    value: Buffer,
    key: string,
    extra: { requestId?: string; origin?: string } = {},
  ) => ({
    ...deadLetterRecord({
      stage,
      code: stage === 'ingress' ? 'UNKNOWN_EVENT_TYPE' : 'UNMAPPABLE_EVENT',
      message: 'refused before the fix',
      value,
      key,
      failedAt: new Date(t2),
      ...(extra.origin ? { origin: { topic: extra.origin, partition: 0, offset: '7' } } : {}),
      ...(extra.requestId ? { requestId: extra.requestId } : {}),
    }),
    timestamp: t2,
  });
  await setup.produce(dlq, [
    letter('connector', setup.rawEvent('connector@example.com', t2), 'connector@example.com', {
      origin: setup.topics.RAW_TOPIC,
    }),
    letter('segment', await normalizedValue(setup, 'segment@example.com'), 'segment@example.com', {
      origin: setup.topics.NORMALIZED_TOPIC,
    }),
    letter(
      'ingress',
      Buffer.from(`{"event":"open","time":${t2 / 1000},"email":"fixed@example.com"}`),
      'req-42',
      { requestId: 'req-42' },
    ),
    letter('ingress', Buffer.from(`{"event":"bogus","time":${t2 / 1000}}`), 'req-43'),
  ]);

  const summary = await setup.replay({ fromMs: t2, toMs: t3, mode: 'dead-letters' });
  assert.equal(summary.complete, true);
  assert.equal(summary.topic, dlq);
  assert.equal(summary.records, 4);
  assert.deepEqual(summary.eventsByType, { open: 2 });
  assert.equal(summary.toRawTopic, 1);
  assert.equal(summary.stillRejected, 1);
  assert.deepEqual(emailsAtSegment(setup.segment), ['segment@example.com']);
  assert.deepEqual(emailsOf(await normalizedRecords(setup)), ['connector@example.com']);

  const kafka = testKafka(t);
  const [raw] = await readRecords(t, kafka, setup.topics.RAW_TOPIC, 1);
  const event = await testRegistry().decode<MailjetEventRaw>(raw?.value as Buffer);
  assert.equal(event.email, 'fixed@example.com');
  assert.equal(event.request_id, 'req-42', 'the original request id is kept');
  assert.equal(event.received_at, t2, 'and its receipt time');
  assert.equal(raw?.key?.toString(), 'fixed@example.com');
  assert.equal(await recordCount(kafka, setup.topics.RAW_TOPIC), 1);
});

test('dead letters: a letter Segment refused, re-driven without SEGMENT_WRITE_KEY, stops the replay saying so and commits nothing', async (t) => {
  const setup = await setUp(t);
  await setup.produce(setup.topics.DEAD_LETTER_TOPIC, [
    {
      ...deadLetterRecord({
        stage: 'segment',
        code: 'SEGMENT_REJECTED',
        message: 'refused before the fix',
        value: await normalizedValue(setup, 'segment@example.com'),
        key: 'segment@example.com',
        origin: { topic: setup.topics.NORMALIZED_TOPIC, partition: 0, offset: '3' },
        failedAt: new Date(t2),
      }),
      timestamp: t2,
    },
  ]);
  const options = { fromMs: t2, toMs: t3, mode: 'dead-letters' as const };
  await assert.rejects(
    setup.replay(options, { segment: undefined }),
    /Re-driving letters Segment refused needs SEGMENT_WRITE_KEY/,
  );
  // With the key, the same command finds the letter still to do.
  const summary = await setup.replay(options);
  assert.equal(summary.alreadyDone, 0);
  assert.equal(summary.records, 1);
  assert.deepEqual(emailsAtSegment(setup.segment), ['segment@example.com']);
});

test('dead letters of the Mailjet destination go back to its identify topic, and its worker takes them again', async (t) => {
  const setup = await setUp(t);
  const mailjet = await startTestMailjet(t);
  // The account has `age` as an int property: a text age cannot fit it.
  mailjet.store.defineProperty('age', 'int', 'static');
  const topicEnv = {
    IDENTIFY_TOPIC: setup.topics.IDENTIFY_TOPIC,
    DESTINATION_DEAD_LETTER_TOPIC: setup.topics.DESTINATION_DEAD_LETTER_TOPIC,
    IDENTITY_TOPIC: setup.topics.IDENTITY_TOPIC,
  };
  const before = await startTestDestination(t, mailjet, {}, topicEnv);
  const from = Date.now() - 1000;
  const refused = { userId: 'u-old', messageId: 'old-1', traits: { email: 'old@example.com', age: 'old' } };
  assert.equal((await before.post('/v1/identify', refused)).status, 200);
  // No userId and no anonymousId: the intake dead-letters it, and a re-drive cannot fix that.
  assert.equal((await before.post('/v1/identify', { traits: { email: 'nobody@example.com' } })).status, 200);
  const kafka = testKafka(t);
  const dlq = setup.topics.DESTINATION_DEAD_LETTER_TOPIC;
  await eventually('two dead letters', async () => (await recordCount(kafka, dlq)) === 2);
  await before.shutdown();

  // The fix: an admin deletes the property in Mailjet, so it is created again from the value's type.
  mailjet.store.reset();
  await startTestDestination(
    t,
    mailjet,
    { DESTINATION_GROUP_ID: before.config.DESTINATION_GROUP_ID },
    topicEnv,
  );
  const summary = await setup.replay({
    fromMs: from,
    toMs: Date.now() + 60_000,
    topic: dlq,
    mode: 'dead-letters',
  });
  assert.equal(summary.complete, true);
  assert.equal(summary.records, 2);
  assert.equal(summary.toIdentifyTopic, 1);
  assert.equal(summary.stillRejected, 1);
  await eventually(
    'the contact written after the re-drive',
    () => mailjet.store.contact('old@example.com')?.Properties.age === 'old',
  );
  assert.equal(mailjet.store.property('age')?.Datatype, 'str');
});

test('the command line: an empty range exits 0; an unknown topic or flag, a bad date or a reversed range exits 2 with one line', async (t) => {
  const setup = await setUp(t);
  const run = (args: string[]) =>
    promisify(execFile)(
      process.execPath,
      ['--disable-warning=TimeoutNegativeWarning', 'bin/mailjet-connector.ts', 'replay', ...args],
      {
        cwd: new URL('../..', import.meta.url),
        env: {
          ...process.env,
          KAFKA_BROKERS: testStack().brokers.join(','),
          SCHEMA_REGISTRY_URL: testStack().registryUrl,
          RAW_TOPIC: setup.topics.RAW_TOPIC,
          CONNECTOR_GROUP_ID: uniqueName('connector'),
          SEGMENT_WRITE_KEY: SEGMENT_WRITE_KEY,
          SEGMENT_ENDPOINT: setup.segment.url,
        },
      },
    ).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (err: { code: number; stdout: string; stderr: string }) => err,
    );

  const empty = await run([
    '--from',
    new Date(t1 - 2 * hour).toISOString(),
    '--to',
    new Date(t1 - hour).toISOString(),
  ]);
  assert.equal(empty.code, 0, empty.stderr);
  const summary = empty.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as ReplaySummary & { type?: string })
    .find((line) => line.type === 'replay.summary');
  assert.ok(summary, empty.stdout);
  assert.equal(summary.complete, true);
  assert.equal(summary.records, 0);

  const unknown = await run(['--from', '-1d', '--topic', uniqueName('missing')]);
  assert.equal(unknown.code, 2);
  assert.match(
    unknown.stderr,
    /^replay: --topic: topic "missing-[0-9a-f]+" does not exist on the cluster .*\n$/,
  );

  const flag = await run(['--from', '-1d', '--dryrun']);
  assert.equal(flag.code, 2);
  assert.equal(flag.stderr, "replay: Unknown option '--dryrun'. See --help.\n");

  const date = await run(['--from', 'yesterday']);
  assert.equal(date.code, 2);
  assert.match(date.stderr, /^replay: --from "yesterday" is not a time: [^\n]*\n$/);

  const reversed = await run(['--from', '-1h', '--to', '-2h']);
  assert.equal(reversed.code, 2);
  assert.match(reversed.stderr, /^replay: --from \S+ is after --to \S+\.\n$/);
});
