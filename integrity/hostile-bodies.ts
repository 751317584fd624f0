/**
 * Hostile webhook bodies for the ingress fuzz (scenario 10), made with fast-check from a seed, so that
 * `--seed S` posts the same bytes again. Each body comes with what docs/webhooks.md promises for it,
 * written down by the mutation that made it (never asked of the ingress's own code): the HTTP status,
 * the events stored in the raw topic, the ingress's dead letters by code, and for each event that keeps
 * a MessageID, where it must end up. The MessageIDs are the run's prefix, an 8, then eight digits: the
 * sender's own have eight digits after the prefix, poison-records' a 9 then eight.
 */
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import type { ErrorCode } from '../core/errors.ts';
import { MAILJET_EVENT_TYPES } from '../core/mailjet-event.ts';

/** The dead-letter codes of the ingress (ingress/webhook-body.ts, ingress/event-publisher.ts). */
export type IngressDeadLetterCode = Extract<
  ErrorCode,
  | 'INVALID_JSON'
  | 'NOT_AN_EVENT'
  | 'UNKNOWN_EVENT_TYPE'
  | 'INVALID_EVENT_FIELD'
  | 'JSON_TOO_DEEP'
  | 'EVENT_TOO_LARGE'
>;

/**
 * Where an event of a body answered 200 must end: stored in the raw topic and delivered to Segment
 * (and the normalized topic), stored and then dead-lettered by the connector (it cannot be mapped or
 * Segment cannot take it), nowhere but inside its body dead-lettered whole, or dead-lettered by the
 * ingress with this code.
 */
export type Fate = 'delivered' | 'connector-dead-letter' | 'in-whole-body' | IngressDeadLetterCode;

export interface TrackedEvent {
  messageId: string;
  fate: Fate;
}

export interface HostileBody {
  /** The mutation that made it, for the failures' text. */
  kind: string;
  bytes: Buffer;
  headers: Record<string, string>;
  /** Sent with Transfer-Encoding: chunked, in pieces, instead of with a Content-Length. */
  chunked: boolean;
  status: 200 | 413 | 415;
  /** For a 200: the answer's `stored` and the ingress's dead letters by code. */
  stored: number;
  ingressDeadLetters: Partial<Record<IngressDeadLetterCode, number>>;
  /** The whole body is one dead letter, holding exactly these bytes. */
  deadLetteredWhole: boolean;
  /** Events with a MessageID of the run's hostile range; in a body not answered 200 none may be stored. */
  events: TrackedEvent[];
}

/** A hostile body and what the ingress answered: a status and its JSON, or why there was none. */
export interface PostedHostileBody {
  body: HostileBody;
  /** Its number in the run, for the failures' text (`--seed` makes the same one again). */
  index: number;
  answer: number | string;
  answerJson: { stored?: unknown; deadLettered?: unknown } | undefined;
}

export interface HostileLimits {
  /** INGRESS_BODY_LIMIT_BYTES of the ingress under test. */
  bodyLimitBytes: number;
  /** TOPIC_MAX_MESSAGE_BYTES: the largest raw record. */
  maxRawRecordBytes: number;
}

/** The MessageID of the `index`-th hostile event of a run. */
export function hostileMessageId(prefix: string, index: number): string {
  return `${prefix}8${String(index).padStart(8, '0')}`;
}

/** `count` hostile bodies, the same ones for the same seed, prefix and limits. */
export function hostileBodies(
  count: number,
  options: { seed: number; messageIdPrefix: string; limits: HostileLimits; now: number },
): HostileBody[] {
  let next = 0;
  const ids = () => hostileMessageId(options.messageIdPrefix, next++);
  return fc
    .sample(fc.tuple(bodyPlan(options.limits), fc.boolean()), { seed: options.seed, numRuns: count })
    .map(([plan, chunked]) => ({ ...plan({ nextId: ids, now: options.now }), chunked }));
}

/** A plan is made by fast-check; the run then gives it MessageIDs in order and the time of the run. */
type Plan = (context: { nextId: () => string; now: number }) => Promised;

/** A body and its promises, before the way it is sent is chosen. */
type Promised = Omit<HostileBody, 'chunked'>;

/** One element of a body: its JSON text, its MessageID when it keeps one, and its fate. */
interface Element {
  text: string;
  tracked: TrackedEvent | undefined;
  /** What becomes of it; an element that is not an event has no MessageID, only its dead letter. */
  fate: Fate;
}

type ElementPlan = (context: { nextId: () => string; now: number }) => Element;

/** A field as JSON text: the key (already quoted) and the value's text, so any token can be written. */
type Field = [key: string, value: string];

const q = (text: string) => JSON.stringify(text);

/** A Mailjet event as the sender makes it, as fields the mutations can change, drop or repeat. */
function eventFields(type: string, id: string, now: number, contact: number): Field[] {
  const fields: Field[] = [
    [q('event'), q(type)],
    [q('time'), String(now)],
    [q('MessageID'), id],
    [q('Message_GUID'), q(`guid-${id}`)],
    [q('email'), q(`fuzz-${contact}@example.com`)],
    [q('mj_campaign_id'), String(contact % 20)],
    [q('mj_contact_id'), String(contact)],
    [q('customcampaign'), q('')],
    [q('CustomID'), q('')],
    [q('Payload'), q('')],
  ];
  if (type === 'click') fields.push([q('url'), q(`https://example.com/${contact}`)]);
  if (type === 'open' || type === 'click') fields.push([q('ip'), q('10.0.0.1')], [q('agent'), q('fuzz')]);
  return fields;
}

const objectText = (fields: Field[], pretty: boolean) =>
  pretty
    ? `{\n\t${fields.map(([key, value]) => `${key} : ${value}`).join(',\n\t')}\n}`
    : `{${fields.map(([key, value]) => `${key}:${value}`).join(',')}}`;

const setField = (fields: Field[], key: string, value: string | undefined): Field[] =>
  value === undefined
    ? fields.filter(([k]) => k !== q(key))
    : fields.map(([k, v]) => (k === q(key) ? [k, value] : [k, v]));

/** Values an unknown field may hold that the mapping keeps as sent (in mailjet_extra): all delivered. */
const oddValue: fc.Arbitrary<string> = fc.oneof(
  // Numbers JavaScript would round or rewrite: their text must survive.
  fc.constantFrom(
    '18446744073709551616',
    '-9223372036854775809',
    '100000000000000000000000000000',
    '-0',
    '0.1e1',
    '1E5',
    '1e400',
    '1.00000000000000000001',
  ),
  fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }).map(String),
  // Any UTF-16, lone surrogates too: JSON.stringify writes those as escapes.
  fc.string({ unit: 'binary', maxLength: 40 }).map(q),
  fc.constantFrom(
    q('\u0000'),
    q('\u202e right-to-left'),
    q('😀'.repeat(20)),
    '""',
    '[]',
    '{}',
    '[[]]',
    '[{}]',
  ),
  // Nested within the limit (64 levels per event, the event itself one of them).
  fc.integer({ min: 1, max: 40 }).map((depth) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`),
  fc.string({ maxLength: 2000 }).map(q),
);

/** Unknown keys, some of them names that objects already have. */
const oddKey: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'toString', '', ' ', 'été', '😀', 'hasOwnProperty'),
  fc.string({ unit: 'binary', maxLength: 12 }).map((key) => `x_${key}`),
);

/** Known fields holding a kind the mapping does not expect: kept in mailjet_extra, the event delivered. */
const mistypedKnownField = fc.tuple(
  fc.constantFrom(
    'mj_campaign_id',
    'mj_contact_id',
    'url',
    'hard_bounce',
    'ip',
    'Payload',
    'CustomID',
    'source',
  ),
  fc.constantFrom('"abc"', '{"x":1}', '[1,2]', 'true', '12.5', 'null'),
);

const unknownType = fc.oneof(
  fc.constantFrom('Open', 'opened', '', 'sent ', 'unsubscribe', 'x'.repeat(300), '\ud800', 'ﬁ'),
  fc
    .string({ unit: 'binary', maxLength: 20 })
    .filter((s) => !(MAILJET_EVENT_TYPES as readonly string[]).includes(s)),
);

/** `time` values the ingress refuses: not a non-negative safe integer of seconds. */
const badTime = fc.constantFrom(
  undefined,
  '"1700000000"',
  '-5',
  '1.5',
  '1e400',
  '9007199254740993',
  'null',
  'true',
  '[]',
  '{}',
);

const badEvent = fc.constantFrom(undefined, '42', 'null', '["open"]', '{"type":"open"}', 'true');

interface Mutation {
  name: string;
  fate: Fate;
  apply(fields: Field[]): Field[];
}

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.constant<Mutation>({ name: 'valid', fate: 'delivered', apply: (f) => f }) },
  {
    weight: 3,
    arbitrary: fc
      .array(fc.tuple(oddKey, oddValue), { minLength: 1, maxLength: 4 })
      .map<Mutation>((extra) => ({
        name: 'unknown fields',
        fate: 'delivered',
        apply: (f) => [...f, ...extra.map(([key, value]): Field => [q(key), value])],
      })),
  },
  {
    weight: 2,
    arbitrary: mistypedKnownField.map<Mutation>(([key, value]) => ({
      name: `${key} mistyped`,
      fate: 'delivered',
      apply: (f) => (f.some(([k]) => k === q(key)) ? setField(f, key, value) : [...f, [q(key), value]]),
    })),
  },
  {
    weight: 1,
    arbitrary: fc.constant<Mutation>({
      name: 'MessageID as a string',
      fate: 'delivered',
      apply: (f) => f.map(([k, v]) => (k === q('MessageID') ? [k, q(v)] : [k, v])),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.constant<Mutation>({
      // The last of two keys wins (ECMA-404 leaves it open; JSON.parse takes the last).
      name: 'event repeated, the last known',
      fate: 'delivered',
      apply: (f) => [[q('event'), q('bogus')], ...f],
    }),
  },
  {
    weight: 1,
    arbitrary: fc.constant<Mutation>({
      name: 'keys written with escapes',
      fate: 'delivered',
      apply: (f) =>
        f.map(([k, v]): Field => [k.replace(/[a-z]/, (c) => `\\u00${c.charCodeAt(0).toString(16)}`), v]),
    }),
  },
  {
    weight: 1,
    // Mailjet does not check addresses: any non-empty text is the anonymousId.
    arbitrary: fc
      .oneof(
        fc.constantFrom('\ud800@example.com', 'é@exämple.com', '😀@example.com', ' ', 'not an address'),
        fc.string({ unit: 'binary', minLength: 1, maxLength: 300 }),
      )
      .map<Mutation>((email) => ({
        name: 'email of any text',
        fate: 'delivered',
        apply: (f) => setField(f, 'email', q(email)),
      })),
  },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom(undefined, 'null', '""', '42', '{"address":"a@b.c"}')
      .map<Mutation>((email) => ({
        name: `email ${email ?? 'missing'}`,
        // No email and no user id: Segment would refuse it, so the connector dead-letters it.
        fate: 'connector-dead-letter',
        apply: (f) => setField(f, 'email', email),
      })),
  },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 8_640_000_000_001, max: Number.MAX_SAFE_INTEGER }).map<Mutation>((time) => ({
      name: 'time past the last date',
      fate: 'connector-dead-letter',
      apply: (f) => setField(f, 'time', String(time)),
    })),
  },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 48 * 1024, max: 200 * 1024 }).map<Mutation>((length) => ({
      name: 'too large for Segment',
      fate: 'connector-dead-letter',
      apply: (f) => [...f, [q('x_big'), q('s'.repeat(length))]],
    })),
  },
  {
    weight: 2,
    arbitrary: badEvent.map<Mutation>((event) => ({
      name: `event ${event ?? 'missing'}`,
      fate: 'INVALID_EVENT_FIELD',
      apply: (f) => setField(f, 'event', event),
    })),
  },
  {
    weight: 2,
    arbitrary: unknownType.map<Mutation>((type) => ({
      name: 'unknown event type',
      fate: 'UNKNOWN_EVENT_TYPE',
      apply: (f) => setField(f, 'event', q(type)),
    })),
  },
  {
    weight: 1,
    arbitrary: fc.constant<Mutation>({
      name: 'event repeated, the last unknown',
      fate: 'UNKNOWN_EVENT_TYPE',
      apply: (f) => [...f, [q('event'), q('opened')]],
    }),
  },
  {
    weight: 2,
    arbitrary: badTime.map<Mutation>((time) => ({
      name: `time ${time ?? 'missing'}`,
      fate: 'INVALID_EVENT_FIELD',
      apply: (f) => setField(f, 'time', time),
    })),
  },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 64, max: 3000 }).map<Mutation>((depth) => ({
      // The event is one level; a field 64 deep makes it 65.
      name: `a field ${depth} levels deep`,
      fate: 'JSON_TOO_DEEP',
      apply: (f) => [...f, [q('x_deep'), `${'['.repeat(depth)}${']'.repeat(depth)}`]],
    })),
  },
);

/** A Mailjet event with one mutation (or none), with a MessageID of the run's hostile range. */
const eventElement: fc.Arbitrary<ElementPlan> = fc
  .tuple(mutation, fc.constantFrom(...MAILJET_EVENT_TYPES), fc.integer({ min: 1, max: 200 }), fc.boolean())
  .map(([change, type, contact, pretty]) => ({ nextId, now }) => {
    const messageId = nextId();
    const text = objectText(change.apply(eventFields(type, messageId, now, contact)), pretty);
    return { text, tracked: { messageId, fate: change.fate }, fate: change.fate };
  });

/** Values that are not events at all; arrays only inside an array (a bare one is a grouped body). */
const notAnEventScalar = fc.oneof(
  fc.constantFrom('null', 'true', '0', '-1e400', '18446744073709551616', '""', '"open"'),
  fc.string({ maxLength: 50 }).map(q),
  fc.integer().map(String),
);
const notAnEvent = (texts: fc.Arbitrary<string>): fc.Arbitrary<ElementPlan> =>
  texts.map((text) => () => ({ text, tracked: undefined, fate: 'NOT_AN_EVENT' as const }));

/** Elements as a bare body (Version 1) or an array (Version 2, empty too), and what each promises. */
const elements = fc.oneof(
  fc
    .oneof({ weight: 5, arbitrary: eventElement }, { weight: 1, arbitrary: notAnEvent(notAnEventScalar) })
    .map((plan) => ({ grouped: false, plans: [plan] })),
  fc
    .array(
      fc.oneof(
        { weight: 5, arbitrary: eventElement },
        {
          weight: 1,
          arbitrary: notAnEvent(fc.oneof(notAnEventScalar, fc.constantFrom('[]', '[[]]', '[{}]'))),
        },
      ),
      { maxLength: 8 },
    )
    .map((plans) => ({ grouped: true, plans })),
);

function jsonBody(kind: string, made: Element[], grouped: boolean): Promised {
  const text = grouped ? `[${made.map((e) => e.text).join(',')}]` : (made[0] as Element).text;
  const ingressDeadLetters: HostileBody['ingressDeadLetters'] = {};
  let stored = 0;
  for (const { fate } of made) {
    if (fate === 'delivered' || fate === 'connector-dead-letter') stored++;
    else if (fate !== 'in-whole-body') ingressDeadLetters[fate] = (ingressDeadLetters[fate] ?? 0) + 1;
  }
  return {
    kind,
    bytes: Buffer.from(text),
    headers: { 'content-type': 'application/json' },
    status: 200,
    stored,
    ingressDeadLetters,
    deadLetteredWhole: false,
    events: made.flatMap((e) => (e.tracked ? [e.tracked] : [])),
  };
}

/** A body the ingress must keep whole in the dead-letter topic: none of its events stored. */
function wholeDeadLetter(kind: string, bytes: Buffer, inside: TrackedEvent[], headers = {}): Promised {
  return {
    kind,
    bytes,
    headers: { 'content-type': 'application/json', ...headers },
    status: 200,
    stored: 0,
    ingressDeadLetters: { INVALID_JSON: 1 },
    deadLetteredWhole: true,
    events: inside.map(({ messageId }) => ({ messageId, fate: 'in-whole-body' })),
  };
}

/** A body the ingress refuses whole: nothing of it may be stored anywhere. */
function refused(kind: string, status: 413 | 415, body: Promised, headers: Record<string, string>): Promised {
  return {
    ...body,
    kind,
    headers,
    status,
    stored: 0,
    ingressDeadLetters: {},
    deadLetteredWhole: false,
  };
}

function make(plans: ElementPlan[], context: Parameters<Plan>[0]): Element[] {
  return plans.map((plan) => plan(context));
}

/** Invalid UTF-8 (a lone byte, an overlong form, an encoded surrogate): RFC 8259 §8.1 makes it not JSON. */
const invalidUtf8 = fc.constantFrom([0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0x80]);

function bodyPlan(limits: HostileLimits): fc.Arbitrary<Plan> {
  const mutated = elements.map<Plan>(
    ({ grouped, plans }) =>
      (context) =>
        jsonBody(grouped ? `grouped (${plans.length})` : 'single', make(plans, context), grouped),
  );
  // Bodies of the same elements, for the mutations of the whole body.
  const json = elements.map(
    ({ grouped, plans }) =>
      (context: Parameters<Plan>[0]) =>
        jsonBody('json', make(plans, context), grouped),
  );
  return fc.oneof(
    { weight: 12, arbitrary: mutated },
    {
      weight: 2,
      arbitrary: fc
        .tuple(json, fc.double({ min: 0, max: 1, noNaN: true }))
        .map<Plan>(([plan, cut]) => (c) => {
          const body = plan(c);
          const at = Math.min(body.bytes.length - 1, Math.floor(cut * body.bytes.length));
          // A strict prefix of an array or object is never JSON; one of a number can be ("12" of "123"):
          // a comma after it makes it not JSON either.
          let bytes = body.bytes.subarray(0, at);
          if (isJson(bytes)) bytes = Buffer.concat([bytes, Buffer.from(',')]);
          return wholeDeadLetter(`truncated at ${at} of ${body.bytes.length} bytes`, bytes, body.events);
        }),
    },
    {
      weight: 1,
      arbitrary: fc
        .uint8Array({ minLength: 1, maxLength: 300 })
        .filter((bytes) => !isJson(Buffer.from(bytes)))
        .map<Plan>((bytes) => () => wholeDeadLetter('random bytes', Buffer.from(bytes), [])),
    },
    {
      weight: 2,
      arbitrary: fc.tuple(json, invalidUtf8).map<Plan>(([plan, bad]) => (c) => {
        const body = plan(c);
        const text = body.bytes.toString();
        // Inside the first string of the body, where a parser that replaces it would read on.
        const at = text.indexOf('"') + 1;
        if (at === 0) return body;
        const bytes = Buffer.concat([
          Buffer.from(text.slice(0, at)),
          Buffer.from(bad),
          Buffer.from(text.slice(at)),
        ]);
        return wholeDeadLetter('invalid UTF-8', bytes, body.events);
      }),
    },
    {
      weight: 1,
      arbitrary: json.map<Plan>((plan) => (c) => {
        const body = plan(c);
        // Mailjet never compresses; the ingress reads no Content-Encoding, so these bytes are not JSON.
        return wholeDeadLetter('gzip', gzipSync(body.bytes), body.events, { 'content-encoding': 'gzip' });
      }),
    },
    {
      weight: 1,
      arbitrary: json.map<Plan>((plan) => (c) => {
        const body = plan(c);
        return wholeDeadLetter(
          'byte order mark',
          Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), body.bytes]),
          body.events,
        );
      }),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.integer({ min: 66, max: 20_000 }), fc.boolean())
        .map<Plan>(([depth, closed]) => () => {
          const text = `${'['.repeat(depth)}${closed ? ']'.repeat(depth) : ''}`;
          // Closed: an array holding one element too deep. Open: not JSON, kept whole.
          if (!closed) return wholeDeadLetter(`${depth} unclosed brackets`, Buffer.from(text), []);
          return {
            kind: `${depth} levels deep`,
            bytes: Buffer.from(text),
            headers: { 'content-type': 'application/json' },
            status: 200,
            stored: 0,
            ingressDeadLetters: { JSON_TOO_DEEP: 1 },
            deadLetteredWhole: false,
            events: [],
          };
        }),
    },
    {
      weight: 1,
      // Media types are case-insensitive and JSON has no charset but UTF-8 (RFC 8259 §11): still JSON.
      arbitrary: fc
        .tuple(
          json,
          fc.constantFrom(
            'Application/JSON',
            'application/json; charset=utf-8',
            'application/json;charset=UTF-8',
          ),
        )
        .map<Plan>(([plan, type]) => (c) => ({
          ...plan(c),
          kind: `Content-Type ${type}`,
          headers: { 'content-type': type },
        })),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(
          json,
          fc.constantFrom<(string | undefined)[]>(
            undefined,
            'text/plain',
            'application/x-www-form-urlencoded',
            'application/jsonx',
            'application/json-patch+json',
            'multipart/form-data; boundary=x',
            '',
          ),
        )
        .map<Plan>(
          ([plan, type]) =>
            (c) =>
              refused(
                `Content-Type ${type ?? 'missing'}`,
                415,
                plan(c),
                type === undefined ? {} : { 'content-type': type },
              ),
        ),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(json, fc.integer({ min: 1, max: 64 * 1024 })).map<Plan>(([plan, over]) => (c) => {
        const body = plan(c);
        const padded = padTo(body.bytes, limits.bodyLimitBytes + over);
        return refused(`${over} bytes over the limit`, 413, { ...body, bytes: padded }, body.headers);
      }),
    },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 0, max: 1024 }).map<Plan>((under) => ({ nextId, now }) => {
        // One event of nearly the body limit: more than the raw topic takes, so the ingress dead-letters it.
        const messageId = nextId();
        const head = objectText(eventFields('open', messageId, now, 1), false).slice(0, -1);
        const size = limits.bodyLimitBytes - under;
        const text = `${head},"x_big":"${'b'.repeat(Math.max(0, size - head.length - 12))}"}`;
        const large = Buffer.byteLength(text) > limits.maxRawRecordBytes;
        return {
          kind: `${Buffer.byteLength(text)} bytes, at the limit`,
          bytes: Buffer.from(text),
          headers: { 'content-type': 'application/json' },
          status: 200,
          stored: large ? 0 : 1,
          ingressDeadLetters: large ? { EVENT_TOO_LARGE: 1 } : {},
          deadLetteredWhole: false,
          events: [{ messageId, fate: large ? 'EVENT_TOO_LARGE' : 'connector-dead-letter' }],
        };
      }),
    },
  );
}

/** The body made `length` bytes long with spaces after it, which JSON allows: still the same JSON. */
function padTo(bytes: Buffer, length: number): Buffer {
  return bytes.length >= length ? bytes : Buffer.concat([bytes, Buffer.alloc(length - bytes.length, 0x20)]);
}

/** Whether bytes are JSON: valid UTF-8 (RFC 8259 §8.1) that JSON.parse reads. */
function isJson(bytes: Buffer): boolean {
  try {
    JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes));
    return true;
  } catch {
    return false;
  }
}
