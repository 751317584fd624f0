import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { loadConnectorConfig } from '../../connector/config.ts';
import { deadLetterRecord } from '../../core/dead-letter.ts';
import type { OutgoingRecord } from '../../core/kafka.ts';
import { silentLogger } from '../../core/logger.ts';
import { createTokenBucket } from '../../core/token-bucket.ts';
import { loadTopicConfig, type TopicConfig } from '../../core/topics.ts';
import type { LocalSegment } from '../../local-saas/segment/server.ts';
import type { ReplayOptions } from '../../replay/arguments.ts';
import type { ReplayProgress, ReplaySummary } from '../../replay/progress.ts';
import { type ReplayDependencies, runReplay } from '../../replay/run-replay.ts';
import { type MailjetEventRaw, mailjetEventRawSchema } from '../../schemas/index.ts';
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
          targets: ['segment', 'normalized'],
          dryRun: false,
          rate: undefined,
          deadLetters: false,
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

test('a range in the middle of the topic: only its events reach Segment and the normalized topic', async (t) => {
  const setup = await setUp(t);
  await produceThreeHours(setup);

  const summary = await setup.replay({ fromMs: t2, toMs: t3 });
  assert.equal(summary.complete, true);
  assert.equal(summary.total, 5);
  assert.equal(summary.records, 5);
  assert.deepEqual(summary.eventsByType, { open: 5 });
  assert.equal(summary.deadLettered, 0);
  assert.deepEqual(
    emailsAtSegment(setup.segment),
    [0, 1, 2, 3, 4].map((i) => `t2-${i}@example.com`),
  );
  assert.equal(await recordCount(testKafka(t), setup.topics.NORMALIZED_TOPIC), 5);

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
  assert.equal(setup.segment.recorder.stats().eventsReceived, 10);
  for (const event of setup.segment.recorder.events(100)) {
    const email = (event.context as { traits: { email: string } }).traits.email;
    assert.equal(event.userId, `user-${email}`, `${email} went out with its userId`);
  }
});

test('a dry run maps and counts, sends nothing and leaves no progress behind', async (t) => {
  const setup = await setUp(t);
  await produceThreeHours(setup);
  for (const run of [1, 2]) {
    const summary = await setup.replay({ fromMs: t2, toMs: t3, dryRun: true });
    assert.equal(summary.complete, true);
    assert.equal(summary.alreadyDone, 0, `run ${run} starts from the beginning of the range`);
    assert.deepEqual(summary.eventsByType, { open: 5 });
  }
  assert.equal(setup.segment.recorder.stats().eventsReceived, 0);
  assert.equal(await recordCount(testKafka(t), setup.topics.NORMALIZED_TOPIC), 0);
});

test('replaying twice sends the same messageIds; the same command again resumes a finished run', async (t) => {
  const setup = await setUp(t);
  await produceThreeHours(setup);
  await setup.replay({ fromMs: t2, toMs: t3 });
  const first = setup.segment.recorder.stats();
  assert.equal(first.distinctMessageIds, 5);

  const same = await setup.replay({ fromMs: t2, toMs: t3 });
  assert.equal(same.records, 0, 'the same command finds its group done');
  assert.equal(same.alreadyDone, 5, JSON.stringify(same));
  assert.equal(setup.segment.recorder.stats().eventsReceived, 5);

  // Another range holding the same events (another group): Segment gets them again, with the same ids.
  const again = await setup.replay({ fromMs: t2 - 1, toMs: t3 });
  assert.equal(again.records, 5);
  const stats = setup.segment.recorder.stats();
  assert.equal(stats.distinctMessageIds, 5, 'distinct messageIds unchanged');
  assert.equal(stats.eventsReceived, 10, 'total doubled');
  console.log(
    `replayed twice: ${stats.eventsReceived} events received, ${stats.distinctMessageIds} distinct`,
  );
});

test('an interrupted replay resumes where it stopped: every event at least once, not from zero', async (t) => {
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
  const seen: ReplayProgress[] = [];
  const first = await setup.replay(
    { fromMs: t2, toMs: t3 },
    {
      maxBatchRecords: 5,
      signal: stop.signal,
      onProgress: (progress) => {
        seen.push(progress);
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
  const stats = setup.segment.recorder.stats();
  assert.equal(stats.distinctMessageIds, 40, 'every event of the range delivered');
  assert.ok(stats.eventsReceived >= 40);
  console.log(
    `interrupt and resume: first run ${first.records} records, second ${second.records} from ${second.alreadyDone}; ` +
      `${stats.eventsReceived} events at Segment, ${stats.distinctMessageIds} distinct`,
  );
});

test('--rate: the bucket is asked for exactly the events sent, its waits add up to the rate, each event arrives once', async (t) => {
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
  const stats = setup.segment.recorder.stats();
  assert.equal(stats.eventsReceived, events, 'each event sent once');
  assert.equal(stats.distinctMessageIds, events);
  assert.equal(await recordCount(testKafka(t), setup.topics.NORMALIZED_TOPIC), events);
  console.log(
    `--rate ${rate}: ${takes.length} takes of ${takes.join(',')} events, ${waited.toFixed(0)} ms of waits asked, ` +
      `${stats.eventsReceived} events at Segment, ${stats.distinctMessageIds} distinct`,
  );
});

test('an empty range ends at once with 0 events', async (t) => {
  const setup = await setUp(t);
  await produceThreeHours(setup);
  const summary = await setup.replay({ fromMs: t1 - 2 * hour, toMs: t1 - hour });
  assert.equal(summary.complete, true);
  assert.equal(summary.total, 0);
  assert.equal(summary.records, 0);
  assert.equal(setup.segment.recorder.stats().eventsReceived, 0);
});

test('dead letters: a connector letter is delivered, an ingress letter now valid goes to the raw topic', async (t) => {
  const setup = await setUp(t);
  const dlq = setup.topics.DEAD_LETTER_TOPIC;
  // Every letter has a key. kafkajs partitioned a null key round-robin again when it retried a send,
  // and its idempotent producer then took a batch of other records for one it already wrote: one
  // letter was lost and another stored twice (records 4 !== 3, or two "fixed" letters and no "bogus").
  const letter = (
    stage: 'connector' | 'ingress',
    value: Buffer,
    key: string,
    extra: { requestId?: string } = {},
  ) => ({
    ...deadLetterRecord({
      stage,
      code: stage === 'ingress' ? 'UNKNOWN_EVENT_TYPE' : 'UNMAPPABLE_EVENT',
      message: 'refused before the fix',
      value,
      key,
      failedAt: new Date(t2),
      ...(stage === 'connector'
        ? { origin: { topic: setup.topics.RAW_TOPIC, partition: 0, offset: '7' } }
        : {}),
      ...extra,
    }),
    timestamp: t2,
  });
  await setup.produce(dlq, [
    letter('connector', setup.rawEvent('connector@example.com', t2), 'connector@example.com'),
    letter(
      'ingress',
      Buffer.from(`{"event":"open","time":${t2 / 1000},"email":"fixed@example.com"}`),
      'req-42',
      {
        requestId: 'req-42',
      },
    ),
    letter('ingress', Buffer.from(`{"event":"bogus","time":${t2 / 1000}}`), 'req-43'),
  ]);

  const summary = await setup.replay({ fromMs: t2, toMs: t3, deadLetters: true });
  assert.equal(summary.complete, true);
  assert.equal(summary.topic, dlq);
  assert.equal(summary.records, 3);
  assert.deepEqual(summary.eventsByType, { open: 1 });
  assert.equal(summary.toRawTopic, 1);
  assert.equal(summary.stillRejected, 1);
  assert.deepEqual(emailsAtSegment(setup.segment), ['connector@example.com']);

  const kafka = testKafka(t);
  const [raw] = await readRecords(t, kafka, setup.topics.RAW_TOPIC, 1);
  const event = await testRegistry().decode<MailjetEventRaw>(raw?.value as Buffer);
  assert.equal(event.email, 'fixed@example.com');
  assert.equal(event.request_id, 'req-42', 'the original request id is kept');
  assert.equal(event.received_at, t2, 'and its receipt time');
  assert.equal(raw?.key?.toString(), 'fixed@example.com');
  assert.equal(await recordCount(kafka, setup.topics.RAW_TOPIC), 1);
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
    deadLetters: true,
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
