import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEAD_LETTER_HEADERS } from '../../core/dead-letter.ts';
import type { IncomingRecord } from '../../core/kafka.ts';
import type { MailjetEventRaw } from '../../schemas/index.ts';
import { groupedBody, mailjetSamples } from '../fixtures/mailjet-events.ts';
import { postWebhook, recordCount, startTestIngress } from '../helpers/ingress.ts';
import { readRecords, testKafka, testRegistry } from '../helpers/stack.ts';

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
    checks: { kafka: true },
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
