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

/** `depth` nested arrays around nothing: `[[…]]`. */
const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

test('an event nested deeper than the limit is dead-lettered with its bytes; the rest of the body is stored', () => {
  // What broke: 6,000 levels plus a MessageID above 2^53 made JSON.stringify overflow the stack: a RangeError, a 500.
  const deep = `{"event":"open","time":1,"MessageID":19421777835146490,"email":"d@example.com","x":${nested(6000)}}`;
  const { accepted, rejected } = read(`[${mailjetSamples.sent},${deep},${mailjetSamples.open}]`);
  assert.deepEqual(
    accepted.map((e) => [e.type, e.messageId]),
    [
      ['sent', '19421777835146490'],
      ['open', '19421777396190490'],
    ],
  );
  assert.equal(rejected.length, 1);
  assert.equal(rejected[0]?.code, 'JSON_TOO_DEEP');
  assert.match(rejected[0]?.reason ?? '', /^element 1: nests deeper than 64 levels/);
  assert.equal(rejected[0]?.raw.toString(), deep, 'the dead letter holds the event as received');
  assert.equal(rejected[0]?.email, 'd@example.com');
});

test('a body that is one deep value is one dead letter holding the whole body', () => {
  // What broke: the same overflow for a bare event, and for a deep array with no event in it at all.
  for (const body of [
    `{"event":"open","time":1,"MessageID":19421777835146490,"x":${nested(6000)}}`,
    nested(100_000),
  ]) {
    const { accepted, rejected } = read(body);
    assert.equal(accepted.length, 0);
    // A deep array is a grouped body of one element: its dead letter holds that element.
    const expected = body.startsWith('[[') ? body.slice(1, -1) : body;
    assert.deepEqual(
      rejected.map((r) => [r.code, r.raw.toString() === expected]),
      [['JSON_TOO_DEEP', true]],
    );
  }
});

test('a deep event holding strings that look like markers is dead-lettered byte for byte', () => {
  // What breaks if a cut's marker can be data: "\u00000" would be written back as the deep value.
  const deep = `{"event":"open","time":1,"a":"\\u00000","b":"\\u0000~0~0","x":${nested(100)}}`;
  const { rejected } = read(`[${deep}]`);
  assert.deepEqual(
    rejected.map((r) => [r.code, r.raw.toString()]),
    [['JSON_TOO_DEEP', deep]],
  );
});

test('a \\u0000 escape beside a deep element: the element is dead-lettered, the rest of the body stored', () => {
  // What broke (ingress fuzz): a text holding a \u0000 escape could not be read part by part, so the
  // whole body was one JSON_TOO_DEEP dead letter and its valid events never reached the raw topic.
  const open = '{"event":"open","time":1,"note":"\\u0000","MessageID":19421777835146490}';
  const { accepted, rejected } = read(`[${open},${nested(6000)}]`);
  assert.deepEqual(
    accepted.map((e) => [e.type, e.messageId, e.json]),
    [['open', '19421777835146490', open]],
  );
  assert.deepEqual(
    rejected.map((r) => [r.code, r.reason, r.raw.toString() === nested(6000)]),
    [['JSON_TOO_DEEP', 'element 1: nests deeper than 64 levels of objects and arrays', true]],
  );
});

test('an event of exactly 64 levels is stored, bare or grouped; one more level is not', () => {
  const event = (depth: number) =>
    `{"event":"open","time":1,"MessageID":19421777835146490,"x":${nested(depth - 1)}}`;
  assert.equal(read(event(64)).accepted.length, 1);
  assert.equal(read(`[${event(64)}]`).accepted.length, 1);
  assert.equal(read(event(65)).rejected[0]?.code, 'JSON_TOO_DEEP');
  assert.equal(read(`[${event(65)}]`).rejected[0]?.code, 'JSON_TOO_DEEP');
});

test('a reason quotes a bounded part of the offending value; the dead letter keeps all of it', () => {
  // What broke: a 300 KB event type made a 300 KB reason, so a 300 KB dead-letter header and log line.
  const long = 'x'.repeat(300_000);
  const cases: [string, RegExp][] = [
    [
      `{"event":"${long}","time":1}`,
      /^the body: unknown event type "x+…" \(300000 characters\) \(expected one of sent/,
    ],
    [
      `{"event":"open","time":"${long}"}`,
      /^the body: "time" must be Unix seconds as an integer, got "x+…" \(300000 characters\)$/,
    ],
    [`{"event":"open","time":[${'1,'.repeat(150_000)}1]}`, /got \[1,1,1.*… \(300003 characters\)$/],
  ];
  for (const [body, reason] of cases) {
    const [rejected] = read(body).rejected;
    assert.ok(
      (rejected?.reason.length ?? Infinity) < 1024,
      `a bounded reason, got ${rejected?.reason.length}`,
    );
    assert.match(rejected?.reason ?? '', reason);
    assert.equal(rejected?.raw.toString(), body, 'the dead letter keeps the whole event');
  }
});

test('a body that is not UTF-8 is invalid JSON, dead-lettered whole with the bytes as received', () => {
  // What broke (ingress fuzz): invalid UTF-8 was read as U+FFFD, so the events were stored altered and
  // the bytes Mailjet sent were in no topic; a broken key even turned an event into INVALID_EVENT_FIELD.
  for (const bad of [[0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82]]) {
    const body = Buffer.concat([
      Buffer.from('[{"event":"open","time":1433103519,"MessageID":19421777396190490,"email":"a'),
      Buffer.from(bad),
      Buffer.from('@example.com"},{"'),
      Buffer.from(bad),
      Buffer.from('event":"sent","time":1433103519}]'),
    ]);
    const { accepted, rejected } = readWebhookBody(body);
    assert.equal(accepted.length, 0, `bytes ${bad}`);
    assert.deepEqual(
      rejected.map((r) => [r.code, r.reason, r.raw.equals(body)]),
      [['INVALID_JSON', 'Invalid JSON: the body is not UTF-8 (RFC 8259 requires it)', true]],
    );
  }
});

test('a number element is NOT_AN_EVENT, however large', () => {
  // What broke (ingress fuzz): a number JavaScript would round is kept as a JSON.rawJSON object, so
  // `[18446744073709551616]` was read as an object without "event": INVALID_EVENT_FIELD.
  for (const number of ['18446744073709551616', '-1e400', '0.10']) {
    for (const [body, where] of [
      [`[${number}]`, 'element 0'],
      [number, 'the body'],
    ] as const) {
      assert.deepEqual(
        read(body).rejected.map((r) => [r.code, r.reason, r.raw.toString()]),
        [['NOT_AN_EVENT', `${where} is number, not an event object`, number]],
        body,
      );
    }
  }
});

test('a duplicate key in one event does not take the other events of a too-deep body with it', () => {
  // What broke (ingress fuzz): an event repeating a key whose first value is a number JavaScript would
  // round, in a body with an event past the nesting limit, made the whole body one JSON_TOO_DEEP dead
  // letter: its valid events never reached the raw topic.
  const repeated =
    '{"event":"bounce","time":1700000000,"MessageID":42800001903,"":-0,"":-31103259077873111983911}';
  const deep = `{"event":"open","time":1700000000,"MessageID":42800001905,"x_deep":${nested(2760)}}`;
  const { accepted, rejected } = read(`[${mailjetSamples.sent},${repeated},${deep}]`);
  assert.deepEqual(
    accepted.map((e) => [e.type, e.messageId]),
    [
      ['sent', '19421777835146490'],
      ['bounce', '42800001903'],
    ],
  );
  assert.match(accepted[1]?.json ?? '', /^\{"event":"bounce",.*"":-31103259077873111983911\}$/);
  assert.deepEqual(
    rejected.map((r) => [r.code, r.raw.toString() === deep]),
    [['JSON_TOO_DEEP', true]],
  );
});
