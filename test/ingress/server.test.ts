import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { DEAD_LETTER_HEADERS } from '../../core/dead-letter.ts';
import type { IncomingRecord } from '../../core/kafka.ts';
import { loadTopicConfig } from '../../core/topics.ts';
import { loadIngressConfig } from '../../ingress/config.ts';
import { startIngress } from '../../ingress/server.ts';
import type { MailjetEventRaw } from '../../schemas/index.ts';
import { groupedBody, mailjetSamples } from '../fixtures/mailjet-events.ts';
import { postWebhook, recordCount, startTestIngress } from '../helpers/ingress.ts';
import { readRecords, testKafka, testRegistry, testStack, uniqueName } from '../helpers/stack.ts';

async function decodeRaw(records: IncomingRecord[]): Promise<MailjetEventRaw[]> {
  const registry = testRegistry();
  return Promise.all(records.map((r) => registry.decode<MailjetEventRaw>(r.value as Buffer)));
}

const header = (record: IncomingRecord | undefined, name: string) => record?.headers[name]?.toString();

test('a bare event object is stored as one Avro record keyed by the recipient, MessageID exact', async (t) => {
  const ingress = await startTestIngress(t);
  const response = await postWebhook(ingress, mailjetSamples.sent);
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), { stored: 1, deadLettered: 0 });

  const kafka = testKafka(t);
  const records = await readRecords(t, kafka, ingress.topics.RAW_TOPIC, 1);
  assert.equal(records[0]?.key?.toString(), 'api@mailjet.com');
  const [raw] = await decodeRaw(records);
  assert.equal(raw?.event, 'sent');
  assert.equal(raw?.time, 1433333949);
  assert.equal(raw?.email, 'api@mailjet.com');
  assert.equal(raw?.message_id, '19421777835146490');
  assert.equal(raw?.message_guid, '1ab23cd4-e567-8901-2345-6789f0gh1i2j');
  assert.equal(raw?.event_json, mailjetSamples.sent, 'the event JSON is byte for byte what Mailjet sent');
  assert.ok(raw && Date.now() - raw.received_at < 60_000);
  assert.match(raw?.request_id ?? '', /^[0-9a-f-]{36}$/);
});

test('a grouped body of all seven types is stored whole, in order per recipient, one request id', async (t) => {
  const ingress = await startTestIngress(t);
  const response = await postWebhook(ingress, groupedBody());
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), { stored: 7, deadLettered: 0 });

  const kafka = testKafka(t);
  const records = await readRecords(t, kafka, ingress.topics.RAW_TOPIC, 7);
  const raws = await decodeRaw(records);
  const byRecipient = (email: string) =>
    records
      .map((r, i) => ({ offset: Number(r.offset), partition: r.partition, raw: raws[i] }))
      .filter((x) => x.raw?.email === email)
      .sort((a, b) => a.offset - b.offset)
      .map((x) => x.raw?.event);
  assert.deepEqual(byRecipient('api@mailjet.com'), ['sent', 'open', 'click', 'unsub']);
  assert.deepEqual(byRecipient('bounce@mailjet.com'), ['bounce', 'blocked', 'spam']);
  assert.equal(new Set(raws.map((r) => r.request_id)).size, 1);
  assert.deepEqual(raws.map((r) => r.message_id).sort(), [
    '13792286917004336',
    '13792286917004336',
    '13792286917004336',
    '19421777396190490',
    '19421777835146490',
    '19421777836302490',
    '20547674933128000',
  ]);
});

test('every kind of auth failure is 401 and stores nothing; the token works too', async (t) => {
  const ingress = await startTestIngress(t, { INGRESS_TOKEN: 'token-0123456789abcdef' });
  const json = { 'content-type': 'application/json' };
  const basic = (s: string) => ({ ...json, authorization: `Basic ${Buffer.from(s).toString('base64')}` });
  const refused = [
    await postWebhook(ingress, mailjetSamples.open, json),
    await postWebhook(ingress, mailjetSamples.open, basic('mailjet:wrong-password')),
    await postWebhook(ingress, mailjetSamples.open, basic('intruder:test-password-123')),
    await postWebhook(ingress, mailjetSamples.open, { ...json, authorization: 'Bearer test-password-123' }),
    await fetch(`${ingress.webhook}?token=wrong-token-value-000`, {
      method: 'POST',
      headers: json,
      body: '{}',
    }),
  ];
  for (const response of refused) {
    assert.equal(response.status, 401);
    assert.match(response.headers.get('www-authenticate') ?? '', /^Basic realm=/);
  }
  const body = (await refused[0]?.json()) as { message: string };
  assert.match(body.message, /Credentials required: put them in the Mailjet callback URL/);

  const withToken = await fetch(`${ingress.webhook}?token=token-0123456789abcdef`, {
    method: 'POST',
    headers: json,
    body: mailjetSamples.open,
  });
  assert.equal(withToken.status, 200);
  const kafka = testKafka(t);
  assert.equal(
    await recordCount(kafka, ingress.topics.RAW_TOPIC),
    1,
    'only the authenticated event was stored',
  );
  assert.equal(await recordCount(kafka, ingress.topics.DEAD_LETTER_TOPIC), 0);
});

test('invalid JSON and unknown types reach the dead-letter topic with their reason, and get 200', async (t) => {
  const ingress = await startTestIngress(t);
  const invalid = await postWebhook(ingress, '{"event":"open","time":');
  assert.equal(invalid.status, 200);
  assert.deepEqual(await invalid.json(), { stored: 0, deadLettered: 1 });
  const mixed = await postWebhook(
    ingress,
    `[${mailjetSamples.open},{"event":"typofix","time":1,"email":"x@y.z"}]`,
  );
  assert.equal(mixed.status, 200);
  assert.deepEqual(await mixed.json(), { stored: 1, deadLettered: 1 });

  const kafka = testKafka(t);
  const letters = await readRecords(t, kafka, ingress.topics.DEAD_LETTER_TOPIC, 2);
  const invalidLetter = letters.find((r) => header(r, DEAD_LETTER_HEADERS.errorCode) === 'INVALID_JSON');
  assert.equal(invalidLetter?.value?.toString(), '{"event":"open","time":', 'the original bytes, untouched');
  assert.equal(header(invalidLetter, DEAD_LETTER_HEADERS.stage), 'ingress');
  assert.match(header(invalidLetter, DEAD_LETTER_HEADERS.errorMessage) ?? '', /^Invalid JSON: /);
  assert.match(header(invalidLetter, DEAD_LETTER_HEADERS.requestId) ?? '', /^[0-9a-f-]{36}$/);

  const unknown = letters.find((r) => header(r, DEAD_LETTER_HEADERS.errorCode) === 'UNKNOWN_EVENT_TYPE');
  assert.equal(unknown?.value?.toString(), '{"event":"typofix","time":1,"email":"x@y.z"}');
  assert.equal(unknown?.key?.toString(), 'x@y.z');
  assert.match(header(unknown, DEAD_LETTER_HEADERS.errorMessage) ?? '', /unknown event type "typofix"/);
  assert.equal(await recordCount(kafka, ingress.topics.RAW_TOPIC), 1);
});

test('a 12 KB webhook nested 6,000 deep with a MessageID above 2^53 is answered 200 and dead-lettered', async (t) => {
  // What broke: JSON.stringify of the deep event overflowed the stack outside readWebhookBody's try: a 500.
  const ingress = await startTestIngress(t);
  const deep = `{"event":"open","time":1433103519,"MessageID":19421777835146490,"email":"deep@example.com","x":${'['.repeat(6000)}${']'.repeat(6000)}}`;
  assert.ok(deep.length > 12_000);
  const grouped = await postWebhook(ingress, `[${mailjetSamples.sent},${deep}]`);
  assert.equal(grouped.status, 200);
  assert.deepEqual(await grouped.json(), { stored: 1, deadLettered: 1 });
  const bare = await postWebhook(ingress, deep);
  assert.equal(bare.status, 200);
  assert.deepEqual(await bare.json(), { stored: 0, deadLettered: 1 });

  const kafka = testKafka(t);
  const letters = await readRecords(t, kafka, ingress.topics.DEAD_LETTER_TOPIC, 2);
  for (const letter of letters) {
    assert.equal(header(letter, DEAD_LETTER_HEADERS.errorCode), 'JSON_TOO_DEEP');
    assert.match(header(letter, DEAD_LETTER_HEADERS.errorMessage) ?? '', /nests deeper than 64 levels/);
    assert.equal(letter.value?.toString(), deep, 'the event as received');
    assert.equal(letter.key?.toString(), 'deep@example.com');
  }
  const [sent] = await decodeRaw(await readRecords(t, kafka, ingress.topics.RAW_TOPIC, 1));
  assert.equal(sent?.message_id, '19421777835146490');
  assert.equal(await recordCount(kafka, ingress.topics.RAW_TOPIC), 1);
});

test('a 300 KB event type makes a dead letter whose reason header and log line stay short; its value is whole', async (t) => {
  // What broke: the reason quoted the whole type: a 300 KB dlq.error.message header and a 300 KB log line.
  const lines: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => lines.push(line) });
  const topics = loadTopicConfig({ RAW_TOPIC: uniqueName('raw'), DEAD_LETTER_TOPIC: uniqueName('dlq') });
  const config = loadIngressConfig({
    INGRESS_HOST: '127.0.0.1',
    INGRESS_PORT: '0',
    INGRESS_AUTH_DISABLED: 'true',
  });
  const ingress = await startIngress({ config, topics, ...testStack(), logger });
  t.after(() => ingress.shutdown());
  const body = `{"event":"${'x'.repeat(300_000)}","time":1433103519,"email":"long@example.com"}`;
  const response = await fetch(`${ingress.url}${config.INGRESS_PATH}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
  assert.equal(response.status, 200);

  const [letter] = await readRecords(t, testKafka(t), topics.DEAD_LETTER_TOPIC, 1);
  assert.equal(letter?.value?.toString(), body, 'the dead letter keeps every byte');
  const reason = header(letter, DEAD_LETTER_HEADERS.errorMessage) ?? '';
  assert.ok(Buffer.byteLength(reason) < 1024, `a bounded header, got ${Buffer.byteLength(reason)} bytes`);
  assert.match(reason, /^the body: unknown event type "x+…" \(300000 characters\) \(expected one of sent/);
  const logged = lines.filter((line) => line.includes('dead-lettered'));
  assert.equal(logged.length, 1);
  assert.ok((logged[0]?.length ?? Infinity) < 2048, `a bounded log line, got ${logged[0]?.length}`);
  assert.match(JSON.parse(logged[0] ?? '{}').msg, /unknown event type "x+…" \(300000 characters\)/);
});

test('wrong method, content type and oversize bodies get clear 4xx answers', async (t) => {
  const ingress = await startTestIngress(t, { INGRESS_BODY_LIMIT_BYTES: '2048' });
  const get = await fetch(ingress.webhook, { headers: ingress.headers });
  assert.equal(get.status, 405);
  assert.equal(get.headers.get('allow'), 'POST');

  const form = await postWebhook(ingress, 'event=open', {
    ...ingress.headers,
    'content-type': 'application/x-www-form-urlencoded',
  });
  assert.equal(form.status, 415);
  assert.match(((await form.json()) as { message: string }).message, /Content-Type: application\/json/);

  const big = await postWebhook(ingress, `[${Array(20).fill(mailjetSamples.click).join(',')}]`);
  assert.equal(big.status, 413);
  assert.match(
    ((await big.json()) as { message: string }).message,
    /INGRESS_BODY_LIMIT_BYTES=2048; raise it/,
  );
  assert.equal(await recordCount(testKafka(t), ingress.topics.RAW_TOPIC), 0);
});

test('readiness, liveness and metrics describe what happened', async (t) => {
  const ingress = await startTestIngress(t);
  assert.equal((await postWebhook(ingress, groupedBody())).status, 200);
  assert.equal((await postWebhook(ingress, 'nope')).status, 200);

  const ready = await fetch(`${ingress.url}/health/ready`);
  assert.equal(ready.status, 200);
  assert.deepEqual(await ready.json(), {
    status: 'ready',
    checks: { kafka: true, rawSchema: true },
    optional: { schemaRegistry: true },
  });
  assert.equal((await fetch(`${ingress.url}/health/live`)).status, 200);

  const metrics = await (await fetch(`${ingress.url}/metrics`)).text();
  assert.match(metrics, /mailjet_ingress_requests_total\{status="200"\} 2/);
  assert.match(metrics, /mailjet_ingress_events_total\{event_type="bounce"\} 1/);
  assert.match(metrics, /mailjet_ingress_dead_lettered_total\{code="INVALID_JSON"\} 1/);
  assert.match(metrics, /mailjet_ingress_produce_seconds_count 2/);
  assert.match(metrics, /mailjet_ingress_body_bytes_count 2/);
  assert.match(metrics, /mailjet_ingress_pending_events 0/);
  assert.match(metrics, /mailjet_ingress_process_resident_memory_bytes/);
});

/** `count` distinct open events of ~340 bytes for 100 recipients, as Mailjet groups them. */
function openEvents(count: number): string[] {
  return Array.from({ length: count }, (_, n) =>
    mailjetSamples.open
      .replace('19421777396190490', String(19421777396190490n + BigInt(n)))
      .replace('api@mailjet.com', `user-${n % 100}@example.com`),
  );
}

// A 4.1 MB grouped body of valid events got 503 with part of it written anyway (each Mailjet retry
// wrote that part again): one produce request carried it, over 1 MiB per partition.
test('a grouped body of 12,000 valid events (about 4 MB) is answered 200 and stored whole, each event once', async (t) => {
  const ingress = await startTestIngress(t);
  const body = `[${openEvents(12_000).join(',')}]`;
  assert.ok(body.length > 4_000_000, `${body.length} bytes`);
  const response = await postWebhook(ingress, body);
  assert.equal(response.status, 200, await response.clone().text());
  assert.deepEqual(await response.json(), { stored: 12_000, deadLettered: 0 });

  const kafka = testKafka(t);
  const records = await readRecords(t, kafka, ingress.topics.RAW_TOPIC, 12_000, 60_000);
  const raws = await decodeRaw(records);
  assert.equal(new Set(raws.map((r) => r.message_id)).size, 12_000, 'every event, none twice');
  assert.equal(await recordCount(kafka, ingress.topics.RAW_TOPIC), 12_000);
  assert.equal(await recordCount(kafka, ingress.topics.DEAD_LETTER_TOPIC), 0);
});

// One event with a 2 MB field got 503 on every retry (the broker refused the record), so after
// Mailjet's 24 hours of retries it was gone without a trace.
test('an event too large for the raw topic is answered 200 and dead-lettered whole as EVENT_TOO_LARGE', async (t) => {
  const ingress = await startTestIngress(t);
  const [small] = openEvents(1);
  const large = mailjetSamples.click.replace('"Payload":""', `"Payload":"${'x'.repeat(2_000_000)}"`);
  const response = await postWebhook(ingress, `[${small},${large}]`);
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), { stored: 1, deadLettered: 1 });

  const kafka = testKafka(t);
  const [letter] = await readRecords(t, kafka, ingress.topics.DEAD_LETTER_TOPIC, 1);
  assert.equal(letter?.value?.toString(), large, 'the event, byte for byte');
  assert.equal(letter?.key?.toString(), 'api@mailjet.com');
  assert.equal(header(letter, DEAD_LETTER_HEADERS.errorCode), 'EVENT_TOO_LARGE');
  assert.match(
    header(letter, DEAD_LETTER_HEADERS.errorMessage) ?? '',
    /^the click event \(MessageID 19421777836302490\) would make a raw record of \d+ bytes, over TOPIC_MAX_MESSAGE_BYTES=1048576/,
  );
  assert.equal(await recordCount(kafka, ingress.topics.RAW_TOPIC), 1);
});

// 30,000 `null` elements made 30,000 dead letters in one produce request, refused as too large on
// every retry.
test('a body of 30,000 null elements is answered 200 and every element dead-lettered', async (t) => {
  const ingress = await startTestIngress(t);
  const response = await postWebhook(ingress, `[${Array(30_000).fill('null').join(',')}]`);
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), { stored: 0, deadLettered: 30_000 });

  const kafka = testKafka(t);
  assert.equal(await recordCount(kafka, ingress.topics.DEAD_LETTER_TOPIC), 30_000);
  const [letter] = await readRecords(t, kafka, ingress.topics.DEAD_LETTER_TOPIC, 1);
  assert.equal(letter?.value?.toString(), 'null');
  assert.equal(header(letter, DEAD_LETTER_HEADERS.errorCode), 'NOT_AN_EVENT');
});
