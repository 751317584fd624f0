import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { DEAD_LETTER_HEADERS } from '../../core/dead-letter.ts';
import { ConnectorError } from '../../core/errors.ts';
import { silentLogger } from '../../core/logger.ts';
import { loadTopicConfig } from '../../core/topics.ts';
import { loadDestinationConfig } from '../../destination/config.ts';
import { startDestination } from '../../destination/server.ts';
import type { LocalMailjet } from '../../local-saas/mailjet/server.ts';
import {
  type MailjetEventRaw,
  mailjetEventRawSchema,
  type SegmentIdentify,
  segmentIdentifySchema,
} from '../../schemas/index.ts';
import { eventually, startTestConnector, startTestSegment } from '../helpers/connector.ts';
import {
  DESTINATION_WRITE_KEY,
  MAILJET_CREDENTIALS,
  startTestDestination,
  startTestMailjet,
} from '../helpers/destination.ts';
import { postWebhook, startTestIngress } from '../helpers/ingress.ts';
import { readRecords, testKafka, testRegistry, testStack, uniqueName } from '../helpers/stack.ts';

const header = (headers: Record<string, Buffer | undefined>, name: string) => headers[name]?.toString();

test('an identify call becomes a contact of the list with typed properties, and an identity record', async (t) => {
  const mailjet = await startTestMailjet(t);
  const destination = await startTestDestination(t, mailjet);
  const response = await destination.post('/v1/identify', {
    userId: 'user-ada',
    messageId: 'm-ada-1',
    traits: {
      email: 'Ada@Example.com',
      firstName: 'Ada',
      logins: 5,
      score: 9.5,
      vip: true,
      createdAt: '2024-02-29T10:00:00Z',
      address: { city: 'London' },
    },
  });
  assert.equal(response.status, 200);

  await eventually('the contact in list 1', () => mailjet.store.contactsOf(1).length === 1);
  const [contact] = mailjet.store.contactsOf(1);
  assert.equal(contact?.Email, 'Ada@Example.com');
  assert.equal(contact?.Name, 'Ada');
  assert.deepEqual(contact?.Properties, {
    first_name: 'Ada',
    logins: 5,
    score: 9.5,
    vip: true,
    created_at: '2024-02-29T10:00:00Z',
    address_city: 'London',
  });
  assert.deepEqual(
    contact?.Lists.map((l) => [l.ListID, l.IsUnsubscribed]),
    [[1, false]],
  );
  const types = Object.fromEntries(mailjet.store.properties().map((p) => [p.Name, p.Datatype]));
  assert.deepEqual(types, {
    first_name: 'str',
    logins: 'int',
    score: 'float',
    vip: 'bool',
    created_at: 'datetime',
    address_city: 'str',
  });

  const kafka = testKafka(t);
  const [identity] = await readRecords(t, kafka, destination.topics.IDENTITY_TOPIC, 1);
  assert.equal(identity?.key?.toString(), 'ada@example.com');
  assert.equal(identity?.value?.toString(), 'user-ada');
});

test('Engage audience membership: true, then false, as a boolean property', async (t) => {
  const mailjet = await startTestMailjet(t);
  const destination = await startTestDestination(t, mailjet);
  const audienceCall = (member: boolean, messageId: string) => ({
    type: 'identify',
    userId: 'user-bob',
    messageId,
    traits: { email: 'bob@example.com', order_completed_last_30days: member },
    context: {
      personas: {
        computation_class: 'audience',
        computation_id: 'aud_1',
        computation_key: 'order_completed_last_30days',
        namespace: 'spa_1',
        space_id: 'spa_1',
      },
    },
    integrations: { All: false, Webhooks: true },
  });
  assert.equal((await destination.post('/webhooks/segment', audienceCall(true, 'aud-in'))).status, 200);
  await eventually('bob entered the audience', () => {
    const bob = mailjet.store.contact('bob@example.com');
    return bob?.Properties.order_completed_last_30days === true;
  });
  assert.equal((await destination.post('/webhooks/segment', audienceCall(false, 'aud-out'))).status, 200);
  await eventually('bob left the audience', () => {
    const bob = mailjet.store.contact('bob@example.com');
    return bob?.Properties.order_completed_last_30days === false;
  });
  assert.equal(mailjet.store.property('order_completed_last_30days')?.Datatype, 'bool');
});

test('a property Mailjet does not know is created once, whatever the number of calls naming it', async (t) => {
  const mailjet = await startTestMailjet(t);
  const destination = await startTestDestination(t, mailjet);
  for (let i = 0; i < 3; i++) {
    const call = {
      userId: `u-${i}`,
      messageId: `plan-${i}`,
      traits: { email: `p${i}@example.com`, plan: 'pro' },
    };
    assert.equal((await destination.post('/v1/identify', call)).status, 200);
    await eventually(`contact ${i}`, () => mailjet.store.contact(`p${i}@example.com`) !== undefined);
  }
  const creations = mailjet.store
    .requests(1000)
    .filter((r) => r.route === 'POST /v3/REST/contactmetadata' && r.status === 201);
  assert.equal(creations.length, 1);
  assert.deepEqual(
    mailjet.store.contactsOf(1).map((c) => c.Properties.plan),
    ['pro', 'pro', 'pro'],
  );
});

test('what Mailjet refuses goes to the dead-letter topic with its reason; the stream goes on', async (t) => {
  const mailjet = await startTestMailjet(t);
  // A property of the account typed int: a text value cannot fit it.
  mailjet.store.defineProperty('age', 'int', 'static');
  const destination = await startTestDestination(t, mailjet);
  const batch = {
    batch: [
      {
        type: 'identify',
        userId: 'u-1',
        messageId: 'bad-email',
        traits: { email: 'not an email', plan: 'x' },
      },
      {
        type: 'identify',
        userId: 'u-2',
        messageId: 'bad-age',
        traits: { email: 'old@example.com', age: 'old' },
      },
      { type: 'identify', userId: 'u-3', messageId: 'good', traits: { email: 'fine@example.com', age: 33 } },
      { type: 'identify', userId: 'u-4', messageId: 'no-email', traits: { plan: 'x' } },
      { type: 'track', userId: 'u-5', event: 'Ignored' },
    ],
  };
  const response = await destination.post('/v1/batch', batch);
  assert.equal(response.status, 200);

  await eventually('the good contact', () => mailjet.store.contact('fine@example.com') !== undefined);
  assert.equal(mailjet.store.contact('fine@example.com')?.Properties.age, 33);
  assert.equal(mailjet.store.contact('old@example.com'), undefined);

  const kafka = testKafka(t);
  const letters = await readRecords(t, kafka, destination.topics.DESTINATION_DEAD_LETTER_TOPIC, 2);
  const byCode = new Map(letters.map((r) => [header(r.headers, DEAD_LETTER_HEADERS.errorCode), r]));
  const rejected = byCode.get('MAILJET_REJECTED');
  const mismatch = byCode.get('PROPERTY_TYPE_MISMATCH');
  assert.ok(rejected && mismatch, `codes: ${[...byCode.keys()].join(', ')}`);
  assert.equal(header(rejected.headers, DEAD_LETTER_HEADERS.stage), 'mailjet');
  assert.match(
    header(rejected.headers, DEAD_LETTER_HEADERS.errorMessage) ?? '',
    /Mailjet answered 400: .*Email/,
  );
  assert.equal(header(rejected.headers, DEAD_LETTER_HEADERS.originTopic), destination.topics.IDENTIFY_TOPIC);
  assert.match(header(mismatch.headers, DEAD_LETTER_HEADERS.errorMessage) ?? '', /age is int, got "old"/);

  const metrics = await (await fetch(`${destination.url}/metrics`)).text();
  assert.match(metrics, /mailjet_destination_worker_calls_total\{outcome="skipped"\} 1/);
  assert.match(metrics, /mailjet_destination_worker_calls_total\{outcome="dead_lettered"\} 2/);
  assert.match(metrics, /mailjet_destination_worker_calls_total\{outcome="upserted"\} 1/);
});

// Broke: the worker folded a contact's calls of one batch into one update before fitting the values, so a
// call whose value did not fit took its contact's valid calls into the dead-letter topic with it, and
// one whose bad value a later call replaced was written (its other traits too) without a dead letter.
test('a call whose value does not fit is dead-lettered alone, as if the calls were sent one by one', async (t) => {
  const mailjet = await startTestMailjet(t);
  mailjet.store.defineProperty('age', 'int', 'static');
  const destination = await startTestDestination(t, mailjet);
  const call = (messageId: string, traits: Record<string, unknown>) => ({
    type: 'identify',
    userId: `u-${traits.email}`,
    messageId,
    traits,
  });
  // One body: each contact's calls are one key, so the worker fetches them in one batch.
  const response = await destination.post('/v1/batch', {
    batch: [
      call('bad-then-replaced', { email: 'a@example.com', age: 'old', plan: 'team' }),
      call('replaces-age', { email: 'a@example.com', age: 40 }),
      call('bad', { email: 'b@example.com', age: 'young', plan: 'pro' }),
      call('audience', { email: 'b@example.com', vip: true }),
    ],
  });
  assert.equal(response.status, 200);

  const kafka = testKafka(t);
  const registry = testRegistry();
  const letters = await readRecords(t, kafka, destination.topics.DESTINATION_DEAD_LETTER_TOPIC, 2);
  const lettered = await Promise.all(
    letters.map(async (letter) => ({
      code: header(letter.headers, DEAD_LETTER_HEADERS.errorCode),
      messageId: (await registry.decode<SegmentIdentify>(letter.value as Buffer)).message_id,
    })),
  );
  assert.deepEqual(
    lettered.sort((x, y) => x.messageId.localeCompare(y.messageId)),
    [
      { code: 'PROPERTY_TYPE_MISMATCH', messageId: 'bad' },
      { code: 'PROPERTY_TYPE_MISMATCH', messageId: 'bad-then-replaced' },
    ],
  );
  await eventually('both contacts', () =>
    ['a@example.com', 'b@example.com'].every((email) => mailjet.store.contact(email) !== undefined),
  );
  assert.deepEqual(mailjet.store.contact('a@example.com')?.Properties, { age: 40 });
  assert.deepEqual(mailjet.store.contact('b@example.com')?.Properties, { vip: true });
  const metrics = await (await fetch(`${destination.url}/metrics`)).text();
  assert.match(metrics, /mailjet_destination_worker_calls_total\{outcome="dead_lettered"\} 2/);
  assert.match(metrics, /mailjet_destination_worker_calls_total\{outcome="upserted"\} 2/);
});

test('a trait above 2^53 reaches Mailjet with its exact digits, as text in a str property', async (t) => {
  // What broke: the worker read traits_json with JSON.parse: 19421777835146490 was rounded, typed int, refused.
  const mailjet = await startTestMailjet(t);
  const destination = await startTestDestination(t, mailjet);
  const big = (JSON as JSON & { rawJSON(text: string): unknown }).rawJSON('19421777835146490');
  const response = await destination.post('/v1/identify', {
    userId: 'user-big',
    traits: { email: 'big@example.com', big },
  });
  assert.equal(response.status, 200);
  await eventually('the contact', () => mailjet.store.contact('big@example.com') !== undefined);
  assert.equal(mailjet.store.contact('big@example.com')?.Properties.big, '19421777835146490');
  assert.equal(mailjet.store.property('big')?.Datatype, 'str');
});

test('an identify body nested 6,000 deep with a number above 2^53 is answered 200 and dead-lettered', async (t) => {
  // What broke: JSON.stringify of the deep call overflowed the stack in readIdentifyBody: a 500, before any credential check.
  const mailjet = await startTestMailjet(t);
  const destination = await startTestDestination(t, mailjet);
  const deep = `{"type":"identify","userId":19421777835146490,"traits":{"email":"deep@example.com"},"x":${'['.repeat(6000)}${']'.repeat(6000)}}`;
  const fine = '{"type":"identify","userId":"u-fine","traits":{"email":"fine@example.com"}}';
  const response = await fetch(`${destination.url}/webhooks/segment`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Basic ${Buffer.from(`${DESTINATION_WRITE_KEY}:`).toString('base64')}`,
    },
    body: `[${fine},${deep}]`,
  });
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), { success: true, stored: 1, ignored: 0, deadLettered: 1 });

  const [letter] = await readRecords(t, testKafka(t), destination.topics.DESTINATION_DEAD_LETTER_TOPIC, 1);
  assert.equal(header(letter?.headers ?? {}, DEAD_LETTER_HEADERS.errorCode), 'JSON_TOO_DEEP');
  assert.match(
    header(letter?.headers ?? {}, DEAD_LETTER_HEADERS.errorMessage) ?? '',
    /^call 1: nests deeper than 64 levels/,
  );
  assert.equal(letter?.value?.toString(), deep, 'the call as received');
  await eventually('the other call', () => mailjet.store.contact('fine@example.com') !== undefined);
});

test('Mailjet 429s and 5xx are retried until the contact is stored', async (t) => {
  const mailjet = await startTestMailjet(t);
  const destination = await startTestDestination(t, mailjet);
  mailjet.faults.set({ rateLimitNext: { count: 3 }, failNext: { count: 2, status: 503 } });
  const call = { userId: 'u-r', messageId: 'retry-1', traits: { email: 'retry@example.com', plan: 'pro' } };
  assert.equal((await destination.post('/v1/identify', call)).status, 200);
  await eventually(
    'the contact after the faults',
    () => mailjet.store.contact('retry@example.com') !== undefined,
  );
  const statuses = mailjet.store.requests(1000).map((r) => r.status);
  assert.equal(statuses.filter((s) => s === 429).length, 3);
  assert.equal(statuses.filter((s) => s === 503).length, 2);
  const metrics = await (await fetch(`${destination.url}/metrics`)).text();
  assert.match(metrics, /mailjet_destination_mailjet_requests_total\{operation="[a-z-]+",status="429"\} \d/);
});

test('many contacts in one batch go through one bulk job', async (t) => {
  const mailjet = await startTestMailjet(t);
  const destination = await startTestDestination(t, mailjet, {}, { TOPIC_PARTITIONS: '1' });
  const batch = Array.from({ length: 40 }, (_, i) => ({
    type: 'identify',
    userId: `bulk-${i}`,
    messageId: `bulk-${i}`,
    traits: { email: `bulk${i}@example.com`, rank: i },
  }));
  assert.equal((await destination.post('/webhooks/segment', batch)).status, 200);
  await eventually('40 contacts', () => mailjet.store.contactsOf(1).length === 40);
  const routes = mailjet.store.requests(1000).map((r) => r.route);
  assert.ok(routes.includes('POST /v3/REST/contactslist/:id/managemanycontacts'), routes.join('\n'));
  assert.equal(routes.filter((r) => r === 'POST /v3/REST/contactslist/:id/managecontact').length < 40, true);
  assert.equal(mailjet.store.contact('bulk39@example.com')?.Properties.rank, 39);
});

test('the identity topic the destination feeds gives the connector the userId of later email events', async (t) => {
  const mailjet = await startTestMailjet(t);
  const segment = await startTestSegment(t);
  const ingress = await startTestIngress(t);
  const destination = await startTestDestination(
    t,
    mailjet,
    {},
    { IDENTITY_TOPIC: ingress.topics.IDENTITY_TOPIC },
  );
  const call = { userId: 'user-42', messageId: 'link-1', traits: { email: 'Linked@Example.com' } };
  assert.equal((await destination.post('/v1/identify', call)).status, 200);
  // The identity in the topic, then the connector: it maps nothing before its view read the topic.
  const [identity] = await readRecords(t, testKafka(t), ingress.topics.IDENTITY_TOPIC, 1);
  assert.equal(identity?.value?.toString(), 'user-42');
  await startTestConnector(t, ingress.topics, segment);
  const open = '{"event":"open","time":1700000000,"email":"linked@example.com","MessageID":1}';
  assert.equal((await postWebhook(ingress, open)).status, 200);
  await eventually('the open at Segment', () => segment.recorder.stats().eventsReceived === 1);
  assert.equal(segment.recorder.events(1)[0]?.userId, 'user-42');
});

/**
 * A destination started as its process starts it (auth off, one partition), shut down when the test
 * ends; returned as soon as it listens, whatever Mailjet answers meanwhile.
 */
async function startAsProcess(
  t: TestContext,
  mailjet: LocalMailjet,
  env: NodeJS.ProcessEnv = {},
  options: { credentials?: typeof MAILJET_CREDENTIALS; onFatal?: (error: Error) => void } = {},
) {
  const destination = await startDestination({
    config: loadDestinationConfig({
      DESTINATION_HOST: '127.0.0.1',
      DESTINATION_PORT: '0',
      DESTINATION_GROUP_ID: uniqueName('destination'),
      DESTINATION_AUTH_DISABLED: 'true',
      MAILJET_MAX_REQUESTS_PER_SECOND: '1000',
      MAILJET_RETRY_MAX_DELAY_MS: '200',
      ...env,
    }),
    topics: loadTopicConfig({
      IDENTIFY_TOPIC: uniqueName('identifies'),
      DESTINATION_DEAD_LETTER_TOPIC: uniqueName('identifies-dlq'),
      IDENTITY_TOPIC: uniqueName('identities'),
      TOPIC_PARTITIONS: '1',
    }),
    ...testStack(),
    mailjet: { baseUrl: mailjet.url, ...(options.credentials ?? MAILJET_CREDENTIALS) },
    logger: silentLogger(),
    ...(options.onFatal ? { onFatal: options.onFatal } : {}),
  });
  t.after(() => destination.shutdown());
  return destination;
}

const readiness = async (url: string) => {
  const answer = await fetch(`${url}/health/ready`);
  return {
    status: answer.status,
    body: (await answer.json()) as {
      status: string;
      checks: Record<string, boolean>;
      reasons?: Record<string, string>;
    },
  };
};

const answered503 = (mailjet: LocalMailjet) =>
  mailjet.store.requests(100_000).filter((r) => r.status === 503).length;

// What broke: start-up gave Mailjet 4 × MAILJET_REQUEST_TIMEOUT_MS to answer, then the worker exited 1
// with MAILJET_UNAVAILABLE: a Mailjet outage longer than that crash-looped every worker.
test('Mailjet failing at start-up: the worker waits, not ready and saying why, and writes once Mailjet answers', async (t) => {
  const mailjet = await startTestMailjet(t);
  // Every request answers 503, each after latencyMs, one at a time: 30 of them outlast the old start-up
  // deadline (4 × 500 ms) whatever the backoff.
  mailjet.faults.set({ failNext: { count: 1_000_000, status: 503 }, latencyMs: 100 });
  const destination = await startAsProcess(t, mailjet, { MAILJET_REQUEST_TIMEOUT_MS: '500' });
  await eventually('30 answers 503 to the start-up', () => answered503(mailjet) >= 30);

  const waiting = await readiness(destination.url);
  assert.equal(waiting.status, 503);
  assert.equal(waiting.body.status, 'not ready');
  assert.equal(waiting.body.checks.mailjet, false);
  assert.equal(waiting.body.checks.consumerGroup, false);
  assert.match(waiting.body.reasons?.mailjet ?? '', /waiting for Mailjet: get-list answered 503/);
  const metrics = await (await fetch(`${destination.url}/metrics`)).text();
  const failed =
    /^mailjet_destination_mailjet_requests_total\{operation="get-list",status="503"\} (\d+)$/m.exec(
      metrics,
    )?.[1];
  assert.ok(Number(failed) >= 30, `the failing requests in /metrics: ${failed}`);

  const call = {
    userId: 'u-early',
    messageId: 'early-1',
    traits: { email: 'early@example.com', plan: 'pro' },
  };
  const stored = await fetch(`${destination.url}/v1/identify`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(call),
  });
  assert.equal(stored.status, 200, 'the intake takes calls while the worker waits');

  mailjet.faults.clear();
  await eventually(
    'ready once Mailjet answers',
    async () => (await readiness(destination.url)).status === 200,
  );
  await eventually('the contact', () => mailjet.store.contact('early@example.com') !== undefined);
  assert.deepEqual(mailjet.store.contact('early@example.com')?.Properties, { plan: 'pro' });
});

// What broke: a start-up waiting for Mailjet could not be stopped: the process had no destination to
// shut down until the wait ended.
test('shutdown while start-up waits for Mailjet ends the wait at once, cleanly', {
  timeout: 120_000,
}, async (t) => {
  const mailjet = await startTestMailjet(t);
  mailjet.faults.set({ failNext: { count: 1_000_000, status: 503 } });
  // A deadline the test would not outlive: a shutdown that waited for it would fail the test.
  const destination = await startAsProcess(t, mailjet, {
    MAILJET_REQUEST_TIMEOUT_MS: '500',
    DESTINATION_SHUTDOWN_TIMEOUT_MS: '600000',
  });
  await eventually('the start-up waiting for Mailjet', () => answered503(mailjet) >= 3);
  assert.equal(await destination.shutdown(), true, 'clean: nothing was in flight');
  await assert.rejects(fetch(`${destination.url}/health/live`), 'the process stopped listening');
  assert.equal(mailjet.store.contactsOf(1).length, 0);
});

test('a wrong key pair or list stops start-up with what to do', async (t) => {
  const mailjet = await startTestMailjet(t);
  const fatalOf = async (env: NodeJS.ProcessEnv, credentials = MAILJET_CREDENTIALS) => {
    let report: (error: Error) => void = () => {};
    const fatal = new Promise<Error>((resolve) => {
      report = resolve;
    });
    const destination = await startAsProcess(t, mailjet, env, { credentials, onFatal: report });
    const error = await fatal;
    const { status, body } = await readiness(destination.url);
    assert.equal(status, 503);
    assert.equal(body.checks.mailjet, false);
    assert.ok(error instanceof ConnectorError);
    assert.equal(body.reasons?.mailjet, `start-up failed: ${error.code}: ${error.message.split('\n')[0]}`);
    assert.equal(await destination.shutdown(), false, 'a stop on an error is not clean');
    return error;
  };
  const missingList = await fatalOf({ MAILJET_LIST_ID: '777' });
  assert.ok(missingList instanceof ConnectorError);
  assert.equal(missingList.code, 'MAILJET_LIST_NOT_FOUND');
  assert.match(missingList.message, /no contact list 777/);
  // Even after Mailjet failed for a while: a refusal ends the wait.
  mailjet.faults.set({ failNext: { count: 5, status: 503 } });
  const wrongKeys = await fatalOf({}, { apiKey: 'wrong', apiSecret: 'wrong' });
  assert.ok(wrongKeys instanceof ConnectorError);
  assert.equal(wrongKeys.code, 'MAILJET_AUTH_FAILED');
  assert.match(wrongKeys.message, /MAILJET_API_KEY/);
});

test('while Mailjet fails nothing is committed and the lag shows the call; once it answers, the contact is written and committed', async (t) => {
  const mailjet = await startTestMailjet(t);
  const destination = await startTestDestination(t, mailjet, {}, { TOPIC_PARTITIONS: '1' });
  const kafka = testKafka(t);
  mailjet.faults.set({ failNext: { count: 1_000_000, status: 503 } });
  const call = { userId: 'u-down', messageId: 'down-1', traits: { email: 'down@example.com', plan: 'pro' } };
  assert.equal(
    (await destination.post('/v1/identify', call)).status,
    200,
    'the intake does not need Mailjet',
  );
  await eventually(
    'the worker tried Mailjet at least 3 times',
    () => mailjet.store.requests(1000).filter((r) => r.status === 503).length >= 3,
  );
  const committed = async () =>
    (
      await kafka.committedOffsets(destination.config.DESTINATION_GROUP_ID, destination.topics.IDENTIFY_TOPIC)
    ).get(0);
  assert.equal(await committed(), '-1', 'nothing committed while Mailjet fails');
  assert.equal(mailjet.store.contact('down@example.com'), undefined);
  const lag = async () =>
    /^mailjet_destination_lag_records\{partition="0"\} (\d+)$/m.exec(
      await (await fetch(`${destination.url}/metrics`)).text(),
    )?.[1];
  assert.equal(await lag(), '1', 'the lag shows the call waiting for Mailjet');

  mailjet.faults.clear();
  await eventually(
    'the contact once Mailjet answers',
    () => mailjet.store.contact('down@example.com') !== undefined,
  );
  await eventually('the offset committed', async () => (await committed()) === '1');
  assert.equal(await lag(), '0');
});

test('shutdown while Mailjet is down: stops at the deadline, commits nothing, and the calls come again', async (t) => {
  const mailjet = await startTestMailjet(t);
  const env = { DESTINATION_SHUTDOWN_TIMEOUT_MS: '1500' };
  const destination = await startTestDestination(t, mailjet, env, { TOPIC_PARTITIONS: '1' });
  const kafka = testKafka(t);
  mailjet.faults.set({ failNext: { count: 1_000_000, status: 503 } });
  const call = { userId: 'u-stop', messageId: 'stop-1', traits: { email: 'stop@example.com', plan: 'pro' } };
  assert.equal((await destination.post('/v1/identify', call)).status, 200);
  await eventually('the worker waiting for Mailjet', () =>
    mailjet.store.requests(1000).some((r) => r.status === 503),
  );
  const started = Date.now();
  assert.equal(await destination.shutdown(), false, 'not clean: a batch was cut at the deadline');
  const tookMs = Date.now() - started;
  assert.ok(tookMs < 15_000, `shutdown took ${tookMs} ms`);
  const committed = await kafka.committedOffsets(
    destination.config.DESTINATION_GROUP_ID,
    destination.topics.IDENTIFY_TOPIC,
  );
  assert.equal(committed.get(0), '-1', 'the cut batch is not committed');

  // The next start (same group, same topics) writes the contact once Mailjet answers.
  mailjet.faults.clear();
  await startTestDestination(
    t,
    mailjet,
    { DESTINATION_GROUP_ID: destination.config.DESTINATION_GROUP_ID },
    {
      IDENTIFY_TOPIC: destination.topics.IDENTIFY_TOPIC,
      DESTINATION_DEAD_LETTER_TOPIC: destination.topics.DESTINATION_DEAD_LETTER_TOPIC,
      IDENTITY_TOPIC: destination.topics.IDENTITY_TOPIC,
      TOPIC_PARTITIONS: '1',
    },
  );
  await eventually(
    'the contact after the restart',
    () => mailjet.store.contact('stop@example.com') !== undefined,
  );
});

test('DESTINATION_ROLE=intake stores identify calls without asking Mailjet; a worker-only process writes them', async (t) => {
  const mailjet = await startTestMailjet(t);
  const intake = await startTestDestination(t, mailjet, { DESTINATION_ROLE: 'intake' });
  const stored = await intake.post('/v1/identify', {
    userId: 'user-role',
    messageId: 'm-role-1',
    traits: { email: 'role@example.com', plan: 'pro' },
  });
  assert.equal(stored.status, 200);
  const ready = await fetch(`${intake.url}/health/ready`);
  assert.equal(ready.status, 200, 'an intake is ready without a consumer group or Mailjet');
  const kafka = testKafka(t);
  const [identify] = await readRecords(t, kafka, intake.topics.IDENTIFY_TOPIC, 1);
  assert.equal(identify?.key?.toString(), 'role@example.com');
  assert.equal(mailjet.store.stats().requests, 0, 'the intake never calls Mailjet');

  // The worker of the same topics and group, in a process of its own.
  const worker = await startTestDestination(
    t,
    mailjet,
    { DESTINATION_ROLE: 'worker', DESTINATION_GROUP_ID: intake.config.DESTINATION_GROUP_ID },
    {
      IDENTIFY_TOPIC: intake.topics.IDENTIFY_TOPIC,
      DESTINATION_DEAD_LETTER_TOPIC: intake.topics.DESTINATION_DEAD_LETTER_TOPIC,
      IDENTITY_TOPIC: intake.topics.IDENTITY_TOPIC,
    },
  );
  await eventually('the contact in list 1', () => mailjet.store.contactsOf(1).length === 1);
  assert.deepEqual(mailjet.store.contactsOf(1)[0]?.Properties, { plan: 'pro' });

  const refused = await worker.post('/v1/identify', { userId: 'u', traits: { email: 'x@example.com' } });
  assert.equal(refused.status, 404);
  assert.match(((await refused.json()) as { message: string }).message, /DESTINATION_ROLE=worker/);
});

test('a record of another registered schema in the identify topic is dead-lettered; the partition goes on', async (t) => {
  // What broke: avsc's plain "no alias found" Error was re-thrown, so the batch was retried for ever.
  const mailjet = await startTestMailjet(t);
  const destination = await startTestDestination(t, mailjet);
  const { IDENTIFY_TOPIC, DESTINATION_DEAD_LETTER_TOPIC } = destination.topics;
  const registry = testRegistry();
  const identifySerializer = await registry.serializer(`${IDENTIFY_TOPIC}-value`, segmentIdentifySchema);
  // The raw Mailjet schema, registered under a subject of its own: a known schema id, not an identify.
  const rawSerializer = await registry.serializer(uniqueName('raw-value'), mailjetEventRawSchema);
  const identify = (email: string): SegmentIdentify => ({
    message_id: `m-${email}`,
    user_id: `user-${email}`,
    anonymous_id: null,
    email,
    traits_json: JSON.stringify({ email }),
    audience_key: null,
    call_json: JSON.stringify({ type: 'identify', userId: `user-${email}`, traits: { email } }),
    timestamp: 1700000000000,
    received_at: 1700000000000,
    request_id: 'test',
  });
  const notAnIdentify: MailjetEventRaw = {
    event: 'open',
    time: 1700000000,
    email: 'raw@example.com',
    message_id: '1',
    message_guid: null,
    event_json: '{"event":"open","time":1700000000,"email":"raw@example.com","MessageID":1}',
    received_at: 1700000000000,
    request_id: 'test',
  };
  const kafka = testKafka(t);
  const producer = await kafka.producer();
  t.after(() => producer.disconnect());
  // One key, so one partition: the contact after the wrong record must still be written.
  await producer.send([
    {
      topic: IDENTIFY_TOPIC,
      records: [
        { key: 'same', value: identifySerializer.encode(identify('before@example.com')) },
        { key: 'same', value: rawSerializer.encode(notAnIdentify) },
        { key: 'same', value: identifySerializer.encode(identify('after@example.com')) },
      ],
    },
  ]);

  const [letter] = await readRecords(t, kafka, DESTINATION_DEAD_LETTER_TOPIC, 1);
  assert.ok(letter);
  assert.equal(header(letter.headers, DEAD_LETTER_HEADERS.errorCode), 'WRONG_SCHEMA');
  assert.match(header(letter.headers, DEAD_LETTER_HEADERS.errorMessage) ?? '', /MailjetEventRaw/);
  assert.equal(header(letter.headers, DEAD_LETTER_HEADERS.originTopic), IDENTIFY_TOPIC);
  assert.equal(header(letter.headers, DEAD_LETTER_HEADERS.originOffset), '1');
  await eventually('both contacts', () => mailjet.store.contact('after@example.com') !== undefined);
  assert.ok(mailjet.store.contact('before@example.com'));
  await eventually('the committed offset past every record', async () => {
    const committed = await kafka.committedOffsets(destination.config.DESTINATION_GROUP_ID, IDENTIFY_TOPIC);
    const ends = await kafka.endOffsets(IDENTIFY_TOPIC);
    return [...ends].every(([partition, end]) => end === '0' || committed.get(partition) === end);
  });
});
