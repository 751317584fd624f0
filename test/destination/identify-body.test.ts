import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { type IdentifyBody, identifyValue, readIdentifyBody } from '../../destination/identify-body.ts';

const read = (text: string, impliedType?: 'identify'): IdentifyBody =>
  readIdentifyBody(Buffer.from(text), impliedType ? { impliedType } : {});
const json = (value: unknown) => JSON.stringify(value);

/** Segment's identify spec example, trimmed. */
const specCall = {
  anonymousId: '507f191e810c19729de860ea',
  context: { ip: '8.8.8.8', userAgent: 'Mozilla/5.0' },
  messageId: '022bb90c-bbac-11e4-8dfc-aa07a5b093db',
  receivedAt: '2015-02-23T22:28:55.387Z',
  sentAt: '2015-02-23T22:28:55.111Z',
  timestamp: '2015-02-23T22:28:55.111Z',
  traits: { name: 'Peter Gibbons', email: 'Peter@Example.com', plan: 'premium', logins: 5 },
  type: 'identify',
  userId: '97980cfea0067',
  version: '1.1',
};

test("a single identify call (Segment's spec example) is read into every field", () => {
  const body = read(json(specCall));
  assert.deepEqual(body.rejected, []);
  assert.equal(body.ignored, 0);
  assert.deepEqual(body.accepted, [
    {
      messageId: '022bb90c-bbac-11e4-8dfc-aa07a5b093db',
      userId: '97980cfea0067',
      anonymousId: '507f191e810c19729de860ea',
      email: 'Peter@Example.com',
      traitsJson: json(specCall.traits),
      audienceKey: null,
      callJson: json(specCall),
      timestamp: Date.parse('2015-02-23T22:28:55.111Z'),
      key: 'peter@example.com',
    },
  ]);
});

test('identifyValue builds the identify topic value, the receive time standing in for a missing timestamp', () => {
  const [call] = read(json(specCall)).accepted;
  assert.ok(call);
  assert.deepEqual(identifyValue(call, { requestId: 'req-1', receivedAt: 1_700_000_000_000 }), {
    message_id: '022bb90c-bbac-11e4-8dfc-aa07a5b093db',
    user_id: '97980cfea0067',
    anonymous_id: '507f191e810c19729de860ea',
    email: 'Peter@Example.com',
    traits_json: json(specCall.traits),
    audience_key: null,
    call_json: json(specCall),
    timestamp: Date.parse('2015-02-23T22:28:55.111Z'),
    received_at: 1_700_000_000_000,
    request_id: 'req-1',
  });
  const [bare] = read(json({ type: 'identify', userId: 'u1' })).accepted;
  assert.ok(bare);
  assert.equal(identifyValue(bare, { requestId: 'r', receivedAt: 42 }).timestamp, 42);
});

test('a /v1/batch body: every call read, the envelope writeKey and context taken, other types ignored', () => {
  const body = read(
    json({
      writeKey: 'wk-0123456789abcdef',
      context: { library: { name: 'analytics-python' }, traits: { email: 'batch@example.com' } },
      sentAt: '2024-05-01T10:00:00.000Z',
      batch: [
        { type: 'identify', userId: 'u1', traits: { plan: 'pro' } },
        { type: 'track', userId: 'u1', event: 'Signed Up' },
        { type: 'identify', userId: 'u2', context: { traits: { email: 'own@example.com' } } },
        { type: 'page', anonymousId: 'a1' },
      ],
    }),
  );
  assert.equal(body.writeKey, 'wk-0123456789abcdef');
  assert.equal(body.ignored, 2);
  assert.deepEqual(body.rejected, []);
  assert.deepEqual(
    body.accepted.map((c) => [c.userId, c.email]),
    [
      ['u1', 'batch@example.com'],
      ['u2', 'own@example.com'],
    ],
  );
  const merged = JSON.parse(body.accepted[0]?.callJson ?? '{}');
  assert.deepEqual(
    merged.context.library,
    { name: 'analytics-python' },
    "the envelope's context is merged in",
  );
});

test('a bare array (webhook batching) is read call by call', () => {
  const calls = [
    { type: 'track', userId: 'u1', event: 'Clicked' },
    { type: 'identify', userId: 'u1', traits: { email: 'a@example.com' } },
    { type: 'screen', userId: 'u1' },
    { type: 'group', userId: 'u1', groupId: 'g' },
    { type: 'alias', userId: 'u1', previousId: 'a1' },
  ];
  const body = read(json(calls));
  assert.equal(body.accepted.length, 1);
  assert.equal(body.ignored, 4);
  assert.equal(body.writeKey, undefined);
  assert.deepEqual(read('[]'), { accepted: [], rejected: [], ignored: 0 });
});

test('on /v1/identify the type may be absent; elsewhere a call without type is rejected', () => {
  const call = json({ userId: 'u1', traits: { email: 'x@example.com' } });
  assert.equal(read(call, 'identify').accepted.length, 1);
  const { rejected } = read(call);
  assert.equal(rejected[0]?.code, 'IDENTIFY_INVALID');
  assert.match(rejected[0]?.reason ?? '', /the body: "type" is missing \(only POST \/v1\/identify implies/);
  assert.equal(rejected[0]?.key, 'x@example.com', 'dead letters keep the key the call would have had');
  assert.equal(rejected[0]?.raw.toString(), call);
});

test('a writeKey in a single call authenticates but never reaches Kafka', () => {
  const body = read(json({ writeKey: 'wk-0123456789abcdef', userId: 'u1' }), 'identify');
  assert.equal(body.writeKey, 'wk-0123456789abcdef');
  assert.equal(body.accepted[0]?.callJson, json({ userId: 'u1' }));
  const bad = read(json({ writeKey: 'wk-0123456789abcdef', type: 'identify' }));
  assert.doesNotMatch(bad.rejected[0]?.raw.toString() ?? '', /wk-/);
});

test('each kind of invalid identify is rejected with a precise reason', () => {
  const cases: [unknown, RegExp][] = [
    [{ type: 'identify' }, /the body: an identify needs a "userId" or an "anonymousId"/],
    [{ type: 'identify', userId: null, anonymousId: '' }, /needs a "userId" or an "anonymousId"/],
    [{ type: 'identify', userId: { id: 1 } }, /"userId" must be a string or a number, got an object/],
    [{ type: 'identify', userId: true }, /"userId" must be a string or a number, got the boolean true/],
    [{ type: 'identify', anonymousId: ['a'] }, /"anonymousId" must be a string or a number, got an array/],
    [{ type: 'identify', userId: 'u', traits: ['x'] }, /"traits" must be an object, got an array/],
    [{ type: 'identify', userId: 'u', traits: 'x' }, /"traits" must be an object, got the string "x"/],
    [{ type: 7, userId: 'u' }, /"type" must be a string, got the number 7/],
    [{ type: 'identfy', userId: 'u' }, /unknown call type "identfy" \(Segment's are identify, track, page/],
  ];
  for (const [call, reason] of cases) {
    const body = read(json(call));
    assert.equal(body.accepted.length, 0, json(call));
    assert.equal(body.rejected[0]?.code, 'IDENTIFY_INVALID', json(call));
    assert.match(body.rejected[0]?.reason ?? '', reason, json(call));
  }
  assert.match(
    read('{"type":"identify","userId":1e400}').rejected[0]?.reason ?? '',
    /"userId" must be a finite number, got 1e400/,
  );
});

test('calls that are not objects are rejected, named by their place; the rest of the array goes on', () => {
  const body = read('[null, 3, {"type":"identify","userId":"u"}, [1]]');
  assert.equal(body.accepted.length, 1);
  assert.deepEqual(
    body.rejected.map((r) => [r.reason, r.raw.toString()]),
    [
      ['call 0 is null, not a call object', 'null'],
      ['call 1 is the number 3, not a call object', '3'],
      ['call 3 is an array, not a call object', '[1]'],
    ],
  );
  assert.match(read('"identify"').rejected[0]?.reason ?? '', /the body is the string "identify"/);
  assert.match(
    read(json({ batch: [{ type: 'identify' }] })).rejected[0]?.reason ?? '',
    /^batch call 0: an identify needs/,
  );
});

test('a batch envelope whose batch is not an array is rejected whole', () => {
  const { rejected, accepted, writeKey } = read(
    json({ writeKey: 'wk-0123456789abcdef', batch: { type: 'identify' } }),
  );
  assert.equal(writeKey, 'wk-0123456789abcdef', 'the sender can still authenticate, so it is dead-lettered');
  assert.equal(accepted.length, 0);
  assert.equal(rejected[0]?.reason, '"batch" must be an array of calls, got an object');
  assert.equal(rejected[0]?.raw.toString(), json({ batch: { type: 'identify' } }), 'without the write key');
});

test('invalid JSON is rejected whole, with the original bytes', () => {
  const { rejected } = read('{"type":"identify",');
  assert.equal(rejected.length, 1);
  assert.equal(rejected[0]?.code, 'IDENTIFY_INVALID');
  assert.match(rejected[0]?.reason ?? '', /^Invalid JSON: /);
  assert.equal(rejected[0]?.raw.toString(), '{"type":"identify",');
  assert.equal(rejected[0]?.key, null);
  assert.match(read('').rejected[0]?.reason ?? '', /the body is empty/);
});

test('a body that is not UTF-8 is invalid JSON, kept whole as received', () => {
  // The webhook's reader found it (ingress fuzz): invalid UTF-8 was read as U+FFFD and stored altered;
  // this intake reads bodies the same way.
  const body = Buffer.concat([
    Buffer.from('{"type":"identify","userId":"u'),
    Buffer.from([0xff]),
    Buffer.from('"}'),
  ]);
  const { accepted, rejected } = readIdentifyBody(body);
  assert.equal(accepted.length, 0);
  assert.deepEqual(
    rejected.map((r) => [r.code, r.reason, r.raw.equals(body)]),
    [['IDENTIFY_INVALID', 'Invalid JSON: the body is not UTF-8 (RFC 8259 requires it)', true]],
  );
});

test('email: traits.email, else context.traits.email, trimmed; blank or not a string is no email', () => {
  const emailOf = (call: object) => read(json({ type: 'identify', userId: 'u', ...call })).accepted[0]?.email;
  assert.equal(emailOf({ traits: { email: '  a@example.com ' } }), 'a@example.com');
  assert.equal(emailOf({ context: { traits: { email: 'c@example.com' } } }), 'c@example.com');
  assert.equal(
    emailOf({ traits: { email: 'a@example.com' }, context: { traits: { email: 'c@example.com' } } }),
    'a@example.com',
  );
  assert.equal(
    emailOf({ traits: { email: '   ' }, context: { traits: { email: 'c@example.com' } } }),
    'c@example.com',
  );
  assert.equal(emailOf({ traits: { email: 42 } }), null);
  assert.equal(emailOf({ traits: { email: '' } }), null);
  assert.equal(emailOf({}), null);
});

test('the key is the email in lower case, else the userId, else the anonymousId', () => {
  const keyOf = (call: object) => read(json({ type: 'identify', ...call })).accepted[0]?.key;
  assert.equal(
    keyOf({ userId: 'u', anonymousId: 'a', traits: { email: 'Mixed@Case.COM' } }),
    'mixed@case.com',
  );
  assert.equal(keyOf({ userId: 'u', anonymousId: 'a' }), 'u');
  assert.equal(keyOf({ anonymousId: 'a' }), 'a');
});

test('numeric ids become their decimal text, digits beyond 2^53 kept', () => {
  const idOf = (text: string) => read(`{"type":"identify","userId":${text}}`).accepted[0]?.userId;
  assert.equal(idOf('42'), '42');
  assert.equal(idOf('-7'), '-7');
  assert.equal(idOf('12345678901234567890'), '12345678901234567890');
  assert.equal(idOf('1e3'), '1000');
  assert.equal(idOf('2.50'), '2.5');
  assert.equal(read('{"type":"identify","anonymousId":9}').accepted[0]?.anonymousId, '9');
  const [call] = read(
    '{"type":"identify","userId":12345678901234567890,"traits":{"n":12345678901234567890}}',
  ).accepted;
  assert.match(call?.callJson ?? '', /"userId":12345678901234567890/);
  assert.equal(call?.traitsJson, '{"n":12345678901234567890}');
});

test('traits: "{}" when absent or null; kept whole, nested objects included', () => {
  assert.equal(read(json({ type: 'identify', userId: 'u' })).accepted[0]?.traitsJson, '{}');
  assert.equal(read(json({ type: 'identify', userId: 'u', traits: null })).accepted[0]?.traitsJson, '{}');
  const traits = { address: { city: 'Paris' }, tags: ['a'], vip: true };
  assert.equal(read(json({ type: 'identify', userId: 'u', traits })).accepted[0]?.traitsJson, json(traits));
});

test('without a messageId the id is intake- plus the SHA-256 of the call, the same on every retry', () => {
  const text = json({ type: 'identify', userId: 'u', traits: { plan: 'pro' } });
  const first = read(text).accepted[0]?.messageId;
  assert.equal(first, `intake-${createHash('sha256').update(text).digest('hex')}`);
  assert.equal(read(text).accepted[0]?.messageId, first);
  const other = read(json({ type: 'identify', userId: 'u', traits: { plan: 'free' } })).accepted[0]
    ?.messageId;
  assert.notEqual(other, first);
  assert.match(
    read(json({ type: 'identify', userId: 'u', messageId: '' })).accepted[0]?.messageId ?? '',
    /^intake-/,
  );
});

test('the audience key is the computation_key of an Engage audience only', () => {
  const personas = (computation_class: string) => ({
    type: 'identify',
    userId: 'u',
    traits: { email: 'a@example.com', high_value_users: true },
    context: {
      personas: {
        computation_class,
        computation_id: 'aud_123',
        computation_key: 'high_value_users',
        namespace: 'spa_abc',
        space_id: 'spa_abc',
      },
    },
  });
  assert.equal(read(json(personas('audience'))).accepted[0]?.audienceKey, 'high_value_users');
  assert.equal(read(json(personas('trait'))).accepted[0]?.audienceKey, null);
  assert.equal(read(json({ type: 'identify', userId: 'u' })).accepted[0]?.audienceKey, null);
});

test('timestamp: the call timestamp, else receivedAt, else null (the receive time)', () => {
  const timeOf = (call: object) =>
    read(json({ type: 'identify', userId: 'u', ...call })).accepted[0]?.timestamp;
  assert.equal(
    timeOf({ timestamp: '2024-01-02T03:04:05.678Z', receivedAt: '2024-02-01T00:00:00Z' }),
    Date.parse('2024-01-02T03:04:05.678Z'),
  );
  assert.equal(timeOf({ receivedAt: '2024-02-01T00:00:00Z' }), Date.parse('2024-02-01T00:00:00Z'));
  assert.equal(
    timeOf({ timestamp: 'not a date', receivedAt: '2024-02-01T00:00:00Z' }),
    Date.parse('2024-02-01T00:00:00Z'),
  );
  assert.equal(timeOf({ timestamp: 1_700_000_000 }), null);
  assert.equal(timeOf({}), null);
});

/** `depth` nested arrays around nothing: `[[…]]`. */
const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

test('a call nested deeper than the limit is dead-lettered; the other calls of the body are stored', () => {
  // What broke: 6,000 levels plus a number above 2^53 made JSON.stringify overflow the stack: a RangeError, a 500.
  const deep = `{"type":"identify","userId":19421777835146490,"traits":{"email":"d@example.com"},"x":${nested(6000)}}`;
  const fine = '{"type":"identify","userId":"u-1"}';
  for (const [body, where] of [
    [`[${fine},${deep}]`, 'call 1'],
    [`{"writeKey":"wk-0123456789abcdef","batch":[${fine},${deep}]}`, 'batch call 1'],
  ] as const) {
    const read_ = read(body);
    assert.deepEqual(
      read_.accepted.map((c) => c.userId),
      ['u-1'],
    );
    assert.equal(read_.rejected.length, 1);
    assert.equal(read_.rejected[0]?.code, 'JSON_TOO_DEEP');
    assert.match(read_.rejected[0]?.reason ?? '', new RegExp(`^${where}: nests deeper than 64 levels`));
    assert.equal(read_.rejected[0]?.raw.toString(), deep, 'the dead letter holds the call as received');
    assert.equal(read_.rejected[0]?.key, 'd@example.com');
  }
});

test('a body that is one deep value is one dead letter; a batch context past the limit rejects its calls', () => {
  // What broke: the same overflow for a single call and for a deep value with no call in it at all.
  for (const body of [
    `{"type":"identify","userId":19421777835146490,"x":${nested(6000)}}`,
    nested(100_000),
  ]) {
    const { accepted, rejected } = read(body, 'identify');
    assert.equal(accepted.length, 0);
    // A deep array is a grouped body of one element: its dead letter holds that element.
    const expected = body.startsWith('[[') ? body.slice(1, -1) : body;
    assert.deepEqual(
      rejected.map((r) => [r.code, r.raw.toString() === expected]),
      [['JSON_TOO_DEEP', true]],
    );
  }
  const withContext = read(
    `{"context":{"x":${nested(64)}},"batch":[{"type":"identify","userId":"u-1"},{"type":"identify","userId":"u-2"}]}`,
  );
  assert.equal(withContext.accepted.length, 0);
  assert.deepEqual(
    withContext.rejected.map((r) => r.code),
    ['JSON_TOO_DEEP', 'JSON_TOO_DEEP'],
  );
});

test('a \\u0000 escape beside a deep call: the call is dead-lettered, the other calls stored', () => {
  // The webhook's reader found it (ingress fuzz): such a body was one JSON_TOO_DEEP dead letter whole.
  const { accepted, rejected } = read(`[{"type":"identify","userId":"\\u0000"},${nested(6000)}]`);
  assert.deepEqual(
    accepted.map((call) => call.userId),
    ['\u0000'],
  );
  assert.deepEqual(
    rejected.map((r) => [r.code, r.raw.toString() === nested(6000)]),
    [['JSON_TOO_DEEP', true]],
  );
});

test('a call of exactly 64 levels is stored, single, in an array or in a batch; one more level is not', () => {
  const call = (depth: number) => `{"type":"identify","userId":"u","x":${nested(depth - 1)}}`;
  for (const wrap of [(c: string) => c, (c: string) => `[${c}]`, (c: string) => `{"batch":[${c}]}`]) {
    assert.equal(read(wrap(call(64))).accepted.length, 1, wrap('…'));
    assert.equal(read(wrap(call(65))).rejected[0]?.code, 'JSON_TOO_DEEP', wrap('…'));
  }
});

test('a reason quotes a bounded part of the offending value; the dead letter keeps all of it', () => {
  // What broke: a 300 KB call type made a 300 KB reason, so a 300 KB dead-letter header and log line.
  const long = 'x'.repeat(300_000);
  const cases: [string, RegExp][] = [
    [
      `{"type":"${long}","userId":"u"}`,
      /^the body: unknown call type "x+…" \(300000 characters\) \(Segment's/,
    ],
    [
      `{"type":"identify","userId":${'9'.repeat(300_000)}.5}`,
      /"userId" must be a finite number, got 9+… \(300002 characters\)$/,
    ],
    [`["${long}"]`, /^call 0 is the string "x+…" \(300000 characters\), not a call object$/],
  ];
  for (const [body, reason] of cases) {
    const { rejected } = read(body);
    assert.ok(
      (rejected[0]?.reason.length ?? Infinity) < 1024,
      `a bounded reason, got ${rejected[0]?.reason.length}`,
    );
    assert.match(rejected[0]?.reason ?? '', reason);
    assert.ok(body.includes(rejected[0]?.raw.toString() ?? '-'), 'the dead letter keeps the whole call');
    assert.ok((rejected[0]?.raw.length ?? 0) >= 300_000);
  }
});
