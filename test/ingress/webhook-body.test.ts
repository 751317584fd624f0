import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readWebhookBody } from '../../ingress/webhook-body.ts';
import { groupedBody, mailjetSamples } from '../fixtures/mailjet-events.ts';

const read = (text: string) => readWebhookBody(Buffer.from(text));

test('a bare event object (Version 1) is one accepted event', () => {
  const { accepted, rejected } = read(mailjetSamples.open);
  assert.equal(rejected.length, 0);
  assert.equal(accepted.length, 1);
  assert.deepEqual(
    { ...accepted[0], json: undefined },
    {
      type: 'open',
      time: 1433103519,
      email: 'api@mailjet.com',
      messageId: '19421777396190490',
      messageGuid: '1ab23cd4-e567-8901-2345-6789f0gh1i2j',
      json: undefined,
    },
  );
});

test('a grouped array (Version 2) of all seven types is accepted in order', () => {
  const { accepted, rejected } = read(groupedBody());
  assert.equal(rejected.length, 0);
  assert.deepEqual(
    accepted.map((e) => e.type),
    ['sent', 'open', 'click', 'bounce', 'blocked', 'spam', 'unsub'],
  );
});

test('MessageID keeps its exact digits beyond 2^53, in the field and in the JSON text', () => {
  const [event] = read(mailjetSamples.sent).accepted;
  assert.equal(event?.messageId, '19421777835146490');
  const rounded = BigInt(JSON.parse(mailjetSamples.sent).MessageID);
  assert.notEqual(rounded, 19421777835146490n, 'JSON.parse would round it');
  assert.match(event?.json ?? '', /"MessageID":19421777835146490,/);
});

test('every field is kept, unknown ones included, with the exact text of numbers', () => {
  const body =
    '{"event":"open","time":1,"email":"a@b.c","Brand_New":{"x":[1,2]},"ratio":1.50,"big":123456789012345678901}';
  const [event] = read(body).accepted;
  assert.deepEqual(JSON.parse(event?.json ?? '{}').Brand_New, { x: [1, 2] });
  assert.match(event?.json ?? '', /"ratio":1\.50/);
  assert.match(event?.json ?? '', /"big":123456789012345678901/);
});

test('the event JSON of every sample is the sample itself', () => {
  for (const [type, sample] of Object.entries(mailjetSamples)) {
    const [event] = read(sample).accepted;
    assert.equal(event?.json, sample, `${type} round-trips exactly`);
  }
});

test('invalid JSON is rejected whole, with the original bytes and the parser message', () => {
  const { accepted, rejected } = read('{"event":"open",');
  assert.equal(accepted.length, 0);
  assert.equal(rejected.length, 1);
  assert.equal(rejected[0]?.code, 'INVALID_JSON');
  assert.match(rejected[0]?.reason ?? '', /^Invalid JSON: /);
  assert.equal(rejected[0]?.raw.toString(), '{"event":"open",');
});

test('an empty body is invalid JSON', () => {
  const { rejected } = read('');
  assert.equal(rejected[0]?.code, 'INVALID_JSON');
  assert.match(rejected[0]?.reason ?? '', /the body is empty/);
});

test('an empty array is nothing to store and nothing to reject', () => {
  assert.deepEqual(read('[]'), { accepted: [], rejected: [] });
});

test('an unknown event type is rejected with the types we know; the rest of the array goes on', () => {
  const { accepted, rejected } = read(
    `[${mailjetSamples.open},{"event":"typofix","time":1,"email":"x@y.z"}]`,
  );
  assert.equal(accepted.length, 1);
  assert.equal(rejected[0]?.code, 'UNKNOWN_EVENT_TYPE');
  assert.match(
    rejected[0]?.reason ?? '',
    /element 1: unknown event type "typofix" \(expected one of sent, open/,
  );
  assert.equal(rejected[0]?.email, 'x@y.z');
  assert.equal(rejected[0]?.raw.toString(), '{"event":"typofix","time":1,"email":"x@y.z"}');
});

test('missing or mistyped event and time are rejected with the field named', () => {
  const cases: [string, RegExp][] = [
    ['{"time":1}', /"event" is missing or not a string/],
    ['{"event":7,"time":1}', /"event" is missing or not a string/],
    ['{"event":"open"}', /"time" must be Unix seconds as an integer, got nothing/],
    ['{"event":"open","time":"1433103519"}', /"time" must be Unix seconds as an integer, got "1433103519"/],
    ['{"event":"open","time":1.5}', /got 1.5/],
    ['{"event":"open","time":-1}', /got -1/],
  ];
  for (const [body, reason] of cases) {
    const { rejected } = read(body);
    assert.equal(rejected[0]?.code, 'INVALID_EVENT_FIELD', body);
    assert.match(rejected[0]?.reason ?? '', reason, body);
  }
});

test('values that are not objects are rejected as NOT_AN_EVENT', () => {
  assert.equal(read('"open"').rejected[0]?.code, 'NOT_AN_EVENT');
  assert.match(read('[null]').rejected[0]?.reason ?? '', /element 0 is null/);
  assert.match(read('[[1]]').rejected[0]?.reason ?? '', /element 0 is an array/);
});

test('an email that is not a string is stored as no email, and kept in the JSON', () => {
  const [event] = read('{"event":"open","time":1,"email":42}').accepted;
  assert.equal(event?.email, null);
  assert.match(event?.json ?? '', /"email":42/);
});
