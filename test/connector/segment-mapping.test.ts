import assert from 'node:assert/strict';
import { test } from 'node:test';
import avro from 'avsc';
import {
  carriedFields,
  defaultMappingOptions,
  isoTimeOfSeconds,
  type MappingOptions,
  type MappingResult,
  mapMailjetEvent,
  type SegmentTrack,
  segmentTrackOf,
} from '../../connector/segment-mapping.ts';
import { exactText, parseLosslessJson } from '../../core/lossless-json.ts';
import {
  type MailjetEventNormalized,
  type MailjetEventRaw,
  mailjetEventNormalizedSchema,
} from '../../schemas/index.ts';
import { mailjetSamples } from '../fixtures/mailjet-events.ts';

const RECEIVED_AT = Date.parse('2015-06-03T12:40:00.000Z');

/** A raw-topic record around one event's JSON text, as the ingress writes it. */
function rawRecord(eventJson: string, overrides: Partial<MailjetEventRaw> = {}): MailjetEventRaw {
  const event = parseLosslessJson(eventJson) as Record<string, unknown>;
  return {
    event: String(event.event),
    time: Number(event.time),
    email: typeof event.email === 'string' ? event.email : null,
    message_id: exactText(event.MessageID) ?? null,
    message_guid: typeof event.Message_GUID === 'string' ? event.Message_GUID : null,
    event_json: eventJson,
    received_at: RECEIVED_AT,
    request_id: 'req-1',
    ...overrides,
  };
}

/** A documented sample with some fields replaced, added (or removed with undefined), as JSON text. */
function sampleWith(type: keyof typeof mailjetSamples, changes: Record<string, unknown>): string {
  const event = parseLosslessJson(mailjetSamples[type]) as Record<string, unknown>;
  return JSON.stringify({ ...event, ...changes });
}

const normalizedType = avro.Type.forSchema(mailjetEventNormalizedSchema as avro.Schema);

/** A JSON number written with exactly these digits (JSON.rawJSON, which TypeScript's lib lacks). */
const exactNumber = (digits: string): unknown => parseLosslessJson(digits);

/**
 * The normalized record of a mapping, and the track call the Segment sink builds from it after the
 * normalized topic's Avro round trip: the two stages end to end.
 */
function mapped(result: MappingResult): { track: SegmentTrack; normalized: MailjetEventNormalized } {
  if (!result.ok) assert.fail(`expected a mapping, got ${result.code}: ${result.message}`);
  const stored = { ...normalizedType.fromBuffer(normalizedType.toBuffer(result.normalized)) };
  const call = segmentTrackOf(stored);
  if (!call.ok) assert.fail(`expected a track call, got ${call.code}: ${call.message}`);
  return { normalized: result.normalized, track: call.track };
}

function map(eventJson: string, options: Partial<MappingOptions> = {}, knownUserId?: string) {
  return mapMailjetEvent(rawRecord(eventJson), { ...defaultMappingOptions, ...options }, { knownUserId });
}

const GUID = '1ab23cd4-e567-8901-2345-6789f0gh1i2j';
const MAC_AGENT = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_10_0) AppleWebKit/537.36';
const CHROME_AGENT = `${MAC_AGENT} (KHTML, like Gecko) Chrome/42.0.2311.135 Safari/537.36`;
const BOUNCE_COMMENT =
  'Host or domain name not found. Name service error for name=lbjsnrftlsiuvbsren.com type=A: Host not found';

/** Every nullable column of the normalized record, as null: the fixtures below say which are not. */
const none = {
  email: null,
  user_id: null,
  anonymous_id: null,
  mailjet_message_id: null,
  message_guid: null,
  campaign_id: null,
  campaign_name: null,
  contact_id: null,
  list_id: null,
  link_url: null,
  ip: null,
  user_agent: null,
  geo: null,
  custom_id: null,
  payload: null,
  smtp_reply: null,
  hard_bounce: null,
  blocked: null,
  error_related_to: null,
  error: null,
  comment: null,
  spam_source: null,
} satisfies Partial<MailjetEventNormalized>;

/** One fixture per Mailjet event type: Mailjet's documented sample in, the whole output expected. */
const fixtures: { input: string; track: SegmentTrack; normalized: MailjetEventNormalized }[] = [
  {
    input: mailjetSamples.sent,
    track: {
      type: 'track',
      event: 'Email Delivered',
      anonymousId: 'api@mailjet.com',
      messageId: 'mj-447d523721e2bcb9d625f663decbce087e4ef754ec7c2af414384937a619dbb1',
      timestamp: '2015-06-03T12:19:09.000Z',
      properties: {
        email_id: '19421777835146490',
        campaign_id: '7257',
        message_id: '19421777835146490',
        message_guid: GUID,
        contact_id: '4',
        custom_id: 'helloworld',
        smtp_reply: 'sent (250 2.0.0 OK 1433333948 fa5si855896wjc.199 - gsmtp)',
        mailjet_event: 'sent',
      },
      context: { traits: { email: 'api@mailjet.com' } },
    },
    normalized: {
      ...none,
      message_id: 'mj-447d523721e2bcb9d625f663decbce087e4ef754ec7c2af414384937a619dbb1',
      event_type: 'sent',
      event_name: 'Email Delivered',
      occurred_at: 1433333949000,
      email: 'api@mailjet.com',
      anonymous_id: 'api@mailjet.com',
      mailjet_message_id: '19421777835146490',
      message_guid: GUID,
      campaign_id: '7257',
      contact_id: '4',
      custom_id: 'helloworld',
      smtp_reply: 'sent (250 2.0.0 OK 1433333948 fa5si855896wjc.199 - gsmtp)',
      extra_json: '{}',
      received_at: RECEIVED_AT,
    },
  },
  {
    input: mailjetSamples.open,
    track: {
      type: 'track',
      event: 'Email Opened',
      anonymousId: 'api@mailjet.com',
      messageId: 'mj-aefbb39c2cbe7617a3b2e9838692684b2c2a182bf74439a80c865b52d21ac222',
      timestamp: '2015-05-31T20:18:39.000Z',
      properties: {
        email_id: '19421777396190490',
        campaign_id: '7173',
        message_id: '19421777396190490',
        message_guid: GUID,
        contact_id: '320',
        custom_id: 'helloworld',
        geo: 'US',
        mailjet_event: 'open',
      },
      context: {
        traits: { email: 'api@mailjet.com' },
        ip: '127.0.0.1',
        userAgent: 'Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0',
      },
    },
    normalized: {
      ...none,
      message_id: 'mj-aefbb39c2cbe7617a3b2e9838692684b2c2a182bf74439a80c865b52d21ac222',
      event_type: 'open',
      event_name: 'Email Opened',
      occurred_at: 1433103519000,
      email: 'api@mailjet.com',
      anonymous_id: 'api@mailjet.com',
      mailjet_message_id: '19421777396190490',
      message_guid: GUID,
      campaign_id: '7173',
      contact_id: '320',
      ip: '127.0.0.1',
      user_agent: 'Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0',
      geo: 'US',
      custom_id: 'helloworld',
      extra_json: '{}',
      received_at: RECEIVED_AT,
    },
  },
  {
    input: mailjetSamples.click,
    track: {
      type: 'track',
      event: 'Email Link Clicked',
      anonymousId: 'api@mailjet.com',
      messageId: 'mj-7d0e65ca165db718f57481a1ae7f8e15ae39d8051130c1bbdb56fb77de63be9e',
      timestamp: '2015-06-03T12:30:53.000Z',
      properties: {
        email_id: '19421777836302490',
        campaign_id: '7272',
        link_url: 'https://mailjet.com',
        message_id: '19421777836302490',
        message_guid: GUID,
        contact_id: '4',
        custom_id: 'helloworld',
        geo: 'FR',
        mailjet_event: 'click',
      },
      context: { traits: { email: 'api@mailjet.com' }, ip: '127.0.0.1', userAgent: MAC_AGENT },
    },
    normalized: {
      ...none,
      message_id: 'mj-7d0e65ca165db718f57481a1ae7f8e15ae39d8051130c1bbdb56fb77de63be9e',
      event_type: 'click',
      event_name: 'Email Link Clicked',
      occurred_at: 1433334653000,
      email: 'api@mailjet.com',
      anonymous_id: 'api@mailjet.com',
      mailjet_message_id: '19421777836302490',
      message_guid: GUID,
      campaign_id: '7272',
      contact_id: '4',
      link_url: 'https://mailjet.com',
      ip: '127.0.0.1',
      user_agent: MAC_AGENT,
      geo: 'FR',
      custom_id: 'helloworld',
      extra_json: '{}',
      received_at: RECEIVED_AT,
    },
  },
  {
    input: mailjetSamples.bounce,
    track: {
      type: 'track',
      event: 'Email Bounced',
      anonymousId: 'bounce@mailjet.com',
      messageId: 'mj-6a06b4e733c95f1d6f5c3d73915ae05e58c8f850cad92af630001df09340a7d7',
      timestamp: '2015-05-05T07:49:55.000Z',
      properties: {
        email_id: '13792286917004336',
        message_id: '13792286917004336',
        message_guid: GUID,
        custom_id: 'helloworld',
        hard_bounce: true,
        blocked: false,
        error_related_to: 'recipient',
        error: 'user unknown',
        comment: BOUNCE_COMMENT,
        mailjet_event: 'bounce',
      },
      context: { traits: { email: 'bounce@mailjet.com' } },
    },
    normalized: {
      ...none,
      message_id: 'mj-6a06b4e733c95f1d6f5c3d73915ae05e58c8f850cad92af630001df09340a7d7',
      event_type: 'bounce',
      event_name: 'Email Bounced',
      occurred_at: 1430812195000,
      email: 'bounce@mailjet.com',
      anonymous_id: 'bounce@mailjet.com',
      mailjet_message_id: '13792286917004336',
      message_guid: GUID,
      custom_id: 'helloworld',
      hard_bounce: true,
      blocked: false,
      error_related_to: 'recipient',
      error: 'user unknown',
      comment: BOUNCE_COMMENT,
      extra_json: '{}',
      received_at: RECEIVED_AT,
    },
  },
  {
    input: mailjetSamples.blocked,
    track: {
      type: 'track',
      event: 'Email Dropped',
      anonymousId: 'bounce@mailjet.com',
      messageId: 'mj-9f9dc11d5186903ef675d9e8273d96daca0f45ec76a015526eb4dde1a5b63f0d',
      timestamp: '2015-05-05T07:49:55.000Z',
      properties: {
        email_id: '13792286917004336',
        message_id: '13792286917004336',
        message_guid: GUID,
        custom_id: 'helloworld',
        error_related_to: 'recipient',
        error: 'user unknown',
        mailjet_event: 'blocked',
      },
      context: { traits: { email: 'bounce@mailjet.com' } },
    },
    normalized: {
      ...none,
      message_id: 'mj-9f9dc11d5186903ef675d9e8273d96daca0f45ec76a015526eb4dde1a5b63f0d',
      event_type: 'blocked',
      event_name: 'Email Dropped',
      occurred_at: 1430812195000,
      email: 'bounce@mailjet.com',
      anonymous_id: 'bounce@mailjet.com',
      mailjet_message_id: '13792286917004336',
      message_guid: GUID,
      custom_id: 'helloworld',
      error_related_to: 'recipient',
      error: 'user unknown',
      extra_json: '{}',
      received_at: RECEIVED_AT,
    },
  },
  {
    input: mailjetSamples.spam,
    track: {
      type: 'track',
      event: 'Email Marked as Spam',
      anonymousId: 'bounce@mailjet.com',
      messageId: 'mj-0877de6709cafe271bed30aa76e1e2e658e45f24f122af28802f286039093076',
      timestamp: '2015-05-05T07:49:55.000Z',
      properties: {
        email_id: '13792286917004336',
        message_id: '13792286917004336',
        message_guid: GUID,
        custom_id: 'helloworld',
        source: 'JMRPP',
        mailjet_event: 'spam',
      },
      context: { traits: { email: 'bounce@mailjet.com' } },
    },
    normalized: {
      ...none,
      message_id: 'mj-0877de6709cafe271bed30aa76e1e2e658e45f24f122af28802f286039093076',
      event_type: 'spam',
      event_name: 'Email Marked as Spam',
      occurred_at: 1430812195000,
      email: 'bounce@mailjet.com',
      anonymous_id: 'bounce@mailjet.com',
      mailjet_message_id: '13792286917004336',
      message_guid: GUID,
      custom_id: 'helloworld',
      spam_source: 'JMRPP',
      extra_json: '{}',
      received_at: RECEIVED_AT,
    },
  },
  {
    input: mailjetSamples.unsub,
    track: {
      type: 'track',
      event: 'Email Unsubscribed',
      anonymousId: 'api@mailjet.com',
      messageId: 'mj-133dbef804a6c800b0e0a031e79d3ba171b12a3bc961ff1bb94d8dc31a637feb',
      timestamp: '2015-06-03T12:35:41.000Z',
      properties: {
        email_id: '20547674933128000',
        campaign_id: '7276',
        list_id: '1',
        message_id: '20547674933128000',
        message_guid: GUID,
        contact_id: '126',
        custom_id: 'helloworld',
        geo: 'FR',
        mailjet_event: 'unsub',
      },
      context: { traits: { email: 'api@mailjet.com' }, ip: '127.0.0.1', userAgent: CHROME_AGENT },
    },
    normalized: {
      ...none,
      message_id: 'mj-133dbef804a6c800b0e0a031e79d3ba171b12a3bc961ff1bb94d8dc31a637feb',
      event_type: 'unsub',
      event_name: 'Email Unsubscribed',
      occurred_at: 1433334941000,
      email: 'api@mailjet.com',
      anonymous_id: 'api@mailjet.com',
      mailjet_message_id: '20547674933128000',
      message_guid: GUID,
      campaign_id: '7276',
      contact_id: '126',
      list_id: '1',
      ip: '127.0.0.1',
      user_agent: CHROME_AGENT,
      geo: 'FR',
      custom_id: 'helloworld',
      extra_json: '{}',
      received_at: RECEIVED_AT,
    },
  },
];

function assertValidNormalized(value: MailjetEventNormalized): void {
  const errors: string[] = [];
  const valid = normalizedType.isValid(value, { errorHook: (path) => errors.push(path.join('.')) });
  assert.ok(valid, `invalid fields: ${errors.join(', ')}`);
}

test('there is one fixture per Mailjet event type', () => {
  assert.deepEqual(
    fixtures.map((f) => f.track.properties.mailjet_event).sort(),
    Object.keys(mailjetSamples).sort(),
  );
});

for (const fixture of fixtures) {
  const type = fixture.track.properties.mailjet_event;
  test(`${type}: Mailjet's sample maps to the whole expected track call and normalized record`, () => {
    const { track, normalized } = mapped(map(fixture.input));
    assert.deepEqual(track, fixture.track);
    assert.deepEqual(normalized, fixture.normalized);
    // What goes into /v1/batch: plain JSON, no "" anywhere.
    assert.deepEqual(JSON.parse(JSON.stringify(track)), fixture.track);
    assert.ok(!JSON.stringify(track).includes('""'));
  });

  test(`${type}: the normalized record is a valid MailjetEventNormalized and survives Avro`, () => {
    const { normalized } = mapped(map(fixture.input));
    assertValidNormalized(normalized);
    assert.deepEqual({ ...normalizedType.fromBuffer(normalizedType.toBuffer(normalized)) }, normalized);
  });
}

test('the normalized schema documents every field, and its fields are the TypeScript interface', () => {
  assert.ok(mailjetEventNormalizedSchema.doc);
  assert.equal(mailjetEventNormalizedSchema.namespace, 'mailjet_connector.normalized');
  for (const field of mailjetEventNormalizedSchema.fields) assert.ok(field.doc, `${field.name} has no doc`);
  const { normalized } = mapped(map(mailjetSamples.open));
  assert.deepEqual(
    mailjetEventNormalizedSchema.fields.map((f) => f.name),
    Object.keys(normalized),
  );
});

test('every row of the mapping table is a nullable field of the normalized schema, of its kind, and reaches its place in the track call', () => {
  const schemaFields = new Map(mailjetEventNormalizedSchema.fields.map((f) => [f.name, f]));
  const values: Record<string, unknown> = {};
  for (const [i, field] of carriedFields.entries()) {
    const inSchema = schemaFields.get(field.normalized);
    assert.ok(inSchema, `${field.mailjet}: no field ${field.normalized} in the normalized schema`);
    assert.deepEqual(inSchema.type, ['null', field.kind === 'flag' ? 'boolean' : 'string'], field.normalized);
    values[field.mailjet] = field.kind === 'flag' ? true : field.kind === 'id' ? 7000 + i : `value-${i}`;
  }
  assert.equal(
    new Set(carriedFields.map((f) => f.mailjet)).size,
    carriedFields.length,
    'one row per Mailjet field',
  );
  const { normalized, track } = mapped(map(sampleWith('bounce', values)));
  const context = track.context as Record<string, unknown>;
  const properties = track.properties as unknown as Record<string, unknown>;
  for (const [i, field] of carriedFields.entries()) {
    const expected = field.kind === 'flag' ? true : field.kind === 'id' ? String(7000 + i) : `value-${i}`;
    assert.equal(normalized[field.normalized], expected, `${field.mailjet} → ${field.normalized}`);
    const place = field.segment.startsWith('context.')
      ? context[field.segment.slice('context.'.length)]
      : properties[field.segment];
    assert.equal(place, expected, `${field.mailjet} → ${field.segment}`);
  }
  assert.equal(normalized.extra_json, '{}', 'nothing of the table lands in extra_json');
});

test('identity: CustomID is the userId when userIdFromCustomId is on', () => {
  const { track, normalized } = mapped(map(mailjetSamples.open, { userIdFromCustomId: true }));
  assert.equal(track.userId, 'helloworld');
  assert.equal(track.anonymousId, undefined);
  assert.deepEqual(track.context.traits, { email: 'api@mailjet.com' });
  assert.equal(normalized.user_id, 'helloworld');
  assert.equal(normalized.anonymous_id, null);
});

test('identity: an empty CustomID gives no userId, and the option is off by default', () => {
  const empty = mapped(map(sampleWith('open', { CustomID: '' }), { userIdFromCustomId: true })).track;
  assert.equal(empty.userId, undefined);
  assert.equal(empty.anonymousId, 'api@mailjet.com');
  assert.equal(mapped(map(mailjetSamples.open)).track.userId, undefined);
});

test('identity: a nested string at the Payload path is the userId', () => {
  const input = sampleWith('click', { Payload: '{"user":{"id":"u-42","plan":"pro"}}' });
  const { track, normalized } = mapped(map(input, { userIdPayloadPath: 'user.id' }));
  assert.equal(track.userId, 'u-42');
  assert.equal(track.anonymousId, undefined);
  assert.equal(track.properties.payload, '{"user":{"id":"u-42","plan":"pro"}}');
  assert.equal(normalized.user_id, 'u-42');
  assert.equal(normalized.payload, '{"user":{"id":"u-42","plan":"pro"}}');
});

test('identity: a number at the Payload path is the userId with its exact digits', () => {
  const small = sampleWith('open', { Payload: '{"uid":42}' });
  assert.equal(mapped(map(small, { userIdPayloadPath: 'uid' })).track.userId, '42');
  const big = sampleWith('open', { Payload: '{"user":{"id":12345678901234567891}}' });
  assert.equal(mapped(map(big, { userIdPayloadPath: 'user.id' })).track.userId, '12345678901234567891');
});

test('identity: a Payload that is not JSON, or has no usable value at the path, gives no userId', () => {
  const payloads = [
    'user=42',
    '<user id="42"/>',
    '{"user":{"id":null}}',
    '{"user":{"id":{"x":1}}}',
    '{"user":7}',
    '{"user":{"id":true}}',
    '{"user":{"id":""}}',
  ];
  for (const Payload of payloads) {
    const { track } = mapped(map(sampleWith('open', { Payload }), { userIdPayloadPath: 'user.id' }));
    assert.equal(track.userId, undefined, Payload);
    assert.equal(track.anonymousId, 'api@mailjet.com', Payload);
    assert.equal(track.properties.payload, Payload);
  }
});

test('identity: the userId the caller knows comes after CustomID and Payload, before the email', () => {
  const input = sampleWith('open', { Payload: '{"uid":"from-payload"}' });
  assert.equal(mapped(map(mailjetSamples.open, {}, 'known-7')).track.userId, 'known-7');
  assert.equal(mapped(map(input, { userIdPayloadPath: 'uid' }, 'known-7')).track.userId, 'from-payload');
  const all = { userIdPayloadPath: 'uid', userIdFromCustomId: true };
  assert.equal(mapped(map(input, all, 'known-7')).track.userId, 'helloworld');
  const known = mapped(map(mailjetSamples.open, {}, 'known-7')).normalized;
  assert.equal(known.user_id, 'known-7');
  assert.equal(known.anonymous_id, null);
});

test('identity: without a userId the email is the anonymousId, as in Segment’s Mailjet source', () => {
  const { track, normalized } = mapped(map(mailjetSamples.sent, {}, ''));
  assert.equal(track.userId, undefined);
  assert.equal(track.anonymousId, 'api@mailjet.com');
  assert.equal(normalized.anonymous_id, 'api@mailjet.com');
});

test('no email and no userId: dead-lettered by default', () => {
  for (const email of [undefined, '']) {
    const result = map(sampleWith('open', { email }));
    assert.equal(result.ok, false);
    assert.ok(!result.ok && result.code === 'UNMAPPABLE_EVENT');
    assert.match(result.message, /no email and no user id/);
  }
});

test('no email, noIdentity contact-id: the Mailjet contact is the anonymousId, and 0 is no contact', () => {
  const options = { noIdentity: 'contact-id' } as const;
  const { track, normalized } = mapped(map(sampleWith('open', { email: undefined }), options));
  assert.equal(track.anonymousId, 'mailjet-contact:320');
  assert.deepEqual(track.context, {
    ip: '127.0.0.1',
    userAgent: 'Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0',
  });
  assert.equal(normalized.email, null);
  assert.equal(normalized.anonymous_id, 'mailjet-contact:320');
  assertValidNormalized(normalized);

  const noContact = map(sampleWith('spam', { email: '' }), options);
  assert.ok(!noContact.ok && noContact.code === 'UNMAPPABLE_EVENT');
  assert.match(noContact.message, /mj_contact_id/);
});

test('no email but a userId: mapped, without traits', () => {
  const { track, normalized } = mapped(map(sampleWith('open', { email: undefined }), {}, 'known-7'));
  assert.equal(track.userId, 'known-7');
  assert.equal(track.context.traits, undefined);
  assertValidNormalized(normalized);
});

test('blocked: "Email Dropped" by default, the configured name otherwise, never empty', () => {
  assert.equal(mapped(map(mailjetSamples.blocked)).track.event, 'Email Dropped');
  const { track, normalized } = mapped(map(mailjetSamples.blocked, { blockedEventName: 'Email Blocked' }));
  assert.equal(track.event, 'Email Blocked');
  assert.equal(normalized.event_name, 'Email Blocked');
  const empty = map(mailjetSamples.blocked, { blockedEventName: ' ' });
  assert.ok(!empty.ok && empty.code === 'UNMAPPABLE_EVENT');
});

test('MessageID beyond 2^53 keeps its exact digits everywhere', () => {
  const input = sampleWith('open', { MessageID: exactNumber('19421777396190491') });
  assert.notEqual(String(JSON.parse(input).MessageID), '19421777396190491', 'JSON.parse would round it');
  const { track, normalized } = mapped(map(input));
  assert.equal(track.properties.message_id, '19421777396190491');
  assert.equal(track.properties.email_id, '19421777396190491');
  assert.equal(normalized.mailjet_message_id, '19421777396190491');
  assert.match(JSON.stringify(track), /"message_id":"19421777396190491"/);
});

test('without MessageID, the deprecated mj_message_id or else Message_GUID identifies the message', () => {
  const old = mapped(map(sampleWith('sent', { MessageID: undefined }))).track;
  assert.equal(old.properties.email_id, '19421777835146490');
  assert.equal(old.properties.message_id, '19421777835146490');
  assert.equal(old.messageId, mapped(map(mailjetSamples.sent)).track.messageId, 'same message, same id');

  const guidOnly = mapped(map(sampleWith('open', { MessageID: undefined }))).track;
  assert.equal(guidOnly.properties.email_id, GUID);
  assert.equal(guidOnly.properties.message_id, undefined);
});

test('unknown fields, and known ones with unexpected values, are kept in mailjet_extra and extra_json', () => {
  const input = sampleWith('bounce', {
    StateID: exactNumber('12345678901234567891'),
    origin: { via: 'smtp', codes: [550, 5.1] },
    hard_bounce: 'yes',
    mj_message_id: '13792286917004337',
  });
  const extraText =
    '{"hard_bounce":"yes","StateID":12345678901234567891,"origin":{"via":"smtp","codes":[550,5.1]},"mj_message_id":"13792286917004337"}';
  const { track, normalized } = mapped(map(input));
  assert.equal(JSON.stringify(track.properties.mailjet_extra), extraText);
  assert.equal(normalized.extra_json, extraText);
  assert.equal(track.properties.hard_bounce, undefined);
  assert.equal(normalized.hard_bounce, null);
  assertValidNormalized(normalized);
  assert.equal(mapped(map(mailjetSamples.bounce)).track.properties.mailjet_extra, undefined);
});

test('a field named __proto__ is kept like any other', () => {
  const input = mailjetSamples.open.replace(/}$/, ',"__proto__":{"x":1}}');
  const { track, normalized } = mapped(map(input));
  assert.equal(normalized.extra_json, '{"__proto__":{"x":1}}');
  assert.equal(JSON.stringify(track.properties.mailjet_extra), '{"__proto__":{"x":1}}');
});

test('empty strings and ids of 0 are left out, never sent as ""', () => {
  const input = sampleWith('unsub', {
    Message_GUID: '',
    customcampaign: '',
    CustomID: '',
    Payload: '',
    ip: '',
    geo: '',
    agent: '',
    mj_campaign_id: 0,
    mj_list_id: 0,
    mj_contact_id: 0,
  });
  const { track, normalized } = mapped(map(input));
  assert.deepEqual(track.properties, {
    email_id: '20547674933128000',
    message_id: '20547674933128000',
    mailjet_event: 'unsub',
  });
  assert.deepEqual(track.context, { traits: { email: 'api@mailjet.com' } });
  assert.ok(!JSON.stringify(track).includes('""'));
  assert.equal(normalized.list_id, null);
  assert.equal(normalized.geo, null);
  assert.equal(normalized.extra_json, '{}');
  const filled = mapped(map(sampleWith('sent', { customcampaign: 'mj.nl=58424', Payload: 'a,b' }))).track;
  assert.equal(filled.properties.campaign_name, 'mj.nl=58424');
  assert.equal(filled.properties.payload, 'a,b');
});

test('the messageId is stable across redeliveries and replays: received_at and request_id do not count', () => {
  const first = mapMailjetEvent(rawRecord(mailjetSamples.click), defaultMappingOptions, {});
  const again = mapMailjetEvent(
    rawRecord(mailjetSamples.click, { received_at: RECEIVED_AT + 86_400_000, request_id: 'req-2' }),
    defaultMappingOptions,
    {},
  );
  const a = mapped(first);
  const b = mapped(again);
  assert.equal(a.track.messageId, b.track.messageId);
  assert.equal(a.normalized.message_id, a.track.messageId);
  assert.notEqual(a.normalized.received_at, b.normalized.received_at);
  // Identity options decide who the event is about, not which event it is.
  assert.equal(mapped(map(mailjetSamples.click, {}, 'known-7')).track.messageId, a.track.messageId);
  assert.ok(a.track.messageId.length <= 100);
});

test('the messageId changes with each Mailjet field of its tuple', () => {
  const changes: [keyof typeof mailjetSamples, Record<string, unknown>][] = [
    ['click', { event: 'open' }],
    ['click', { MessageID: exactNumber('19421777836302491') }],
    ['click', { time: 1433334654 }],
    ['click', { email: 'other@mailjet.com' }],
    ['click', { url: 'https://mailjet.com/pricing' }],
    ['click', { ip: '::1' }],
    ['click', { agent: 'curl/8' }],
    ['click', { mj_list_id: 2 }],
    ['click', { source: 'JMRPP' }],
  ];
  const base = mapped(map(mailjetSamples.click)).track.messageId;
  const ids = new Set([base]);
  for (const [type, change] of changes) {
    const input = sampleWith(type, change);
    const record = rawRecord(input);
    const id = mapped(mapMailjetEvent(record, defaultMappingOptions, {})).track.messageId;
    assert.ok(!ids.has(id), `${Object.keys(change).join()} did not change the id`);
    ids.add(id);
  }
  const guid = mapped(map(sampleWith('click', { MessageID: undefined, Message_GUID: 'other-guid' })));
  assert.ok(!ids.has(guid.track.messageId), 'Message_GUID counts when there is no MessageID');
});

test('records that cannot be mapped are UNMAPPABLE_EVENT with the reason', () => {
  const cases: [MailjetEventRaw, RegExp][] = [
    [rawRecord(mailjetSamples.open, { event: 'typofix' }), /Unknown Mailjet event type "typofix"/],
    [rawRecord(mailjetSamples.open, { event_json: '{"event":"open",' }), /event_json is not JSON/],
    [rawRecord(mailjetSamples.open, { event_json: '[1]' }), /not a JSON object/],
    [rawRecord(mailjetSamples.open, { event: 'click' }), /event_json says event "open"/],
    [rawRecord(mailjetSamples.open, { time: Number.MAX_SAFE_INTEGER }), /not a Unix time/],
  ];
  for (const [record, reason] of cases) {
    const result = mapMailjetEvent(record, defaultMappingOptions, {});
    assert.ok(!result.ok, reason.source);
    assert.equal(result.code, 'UNMAPPABLE_EVENT');
    assert.match(result.message, reason);
  }
});

test('a mapping reason quotes a bounded part of the value it names', () => {
  // Broke: the reason quoted a raw record's event type whole, so a 300 KB type made a 300 KB log line.
  const huge = 'x'.repeat(300_000);
  const cases = [
    rawRecord(mailjetSamples.open, { event: huge }),
    rawRecord(mailjetSamples.open, { event: 'click', event_json: `{"event":"${huge}"}` }),
  ];
  for (const record of cases) {
    const result = mapMailjetEvent(record, defaultMappingOptions, {});
    assert.ok(!result.ok);
    assert.ok(result.message.length < 400, `a reason of ${result.message.length} characters`);
    assert.match(result.message, /\(300000 characters\)/);
  }
});

test('track timestamps are exactly Date#toISOString, on any day, in any year', () => {
  const times = [0, -1, 59, 3599, 86_399, 86_400, -86_401, 1_433_103_519, 253_402_300_799, 253_402_300_800];
  times.push(-62_167_219_201, 8.64e12, -8.64e12, 8.64e12 - 1);
  for (let i = 0; i < 5000; i++) times.push(Math.floor((Math.random() - 0.5) * 2 * 8.64e12));
  // The same days again in another order: the kept day must never leak into another day's text.
  for (const seconds of [...times, ...times.reverse()]) {
    assert.equal(isoTimeOfSeconds(seconds), new Date(seconds * 1000).toISOString(), `${seconds} s`);
  }
});

test('a normalized record this version cannot have written gets no track call: UNMAPPABLE_EVENT with the reason', () => {
  const { normalized } = mapped(map(mailjetSamples.open));
  const refused = [
    { ...normalized, event_type: 'delivered' },
    { ...normalized, extra_json: '[1]' },
    { ...normalized, extra_json: '{"a":' },
  ].map(segmentTrackOf);
  assert.deepEqual(
    refused.map((r) => (r.ok ? 'ok' : r.code)),
    ['UNMAPPABLE_EVENT', 'UNMAPPABLE_EVENT', 'UNMAPPABLE_EVENT'],
  );
  assert.match(refused[0]?.ok === false ? refused[0].message : '', /"delivered"/);
});
