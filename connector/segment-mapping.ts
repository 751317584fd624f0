/**
 * The Mailjet → Segment mapping, in two pure steps: the normalizer maps one raw Mailjet event to one
 * normalized record for other teams (mapMailjetEvent), and the Segment sink builds the `track` call
 * (Segment's Email spec, with the event names of Segment's own Mailjet source) from that record alone
 * (segmentTrackOf), so the normalized record holds everything the call needs.
 * Pure: no I/O, no clock; everything comes from the raw record, the options and the caller's identity
 * lookup, so the same input always maps to the same output (and the same messageId).
 *
 * Nothing Mailjet sends is lost: every field lands in a property of its own, or in `mailjet_extra`
 * (`extra_json` in the normalized record) when the mapping does not know it or it has an unexpected type.
 * Empty strings and ids of 0 are Mailjet's way of saying "none" and are left out instead of sent.
 */
import { quoteForReason } from '../core/dead-letter.ts';
import type { ErrorCode } from '../core/errors.ts';
import { exactText, isJsonObject, type LosslessJson, parseLosslessJson } from '../core/lossless-json.ts';
import { isMailjetEventType, type MailjetEventType } from '../core/mailjet-event.ts';
import type { MailjetEventNormalized, MailjetEventRaw } from '../schemas/index.ts';
import { segmentMessageId } from './message-id.ts';

/** Segment's names for Mailjet's events, as Segment's Mailjet source documents them. */
export const segmentEventNames = {
  sent: 'Email Delivered',
  open: 'Email Opened',
  click: 'Email Link Clicked',
  unsub: 'Email Unsubscribed',
  bounce: 'Email Bounced',
  spam: 'Email Marked as Spam',
} as const satisfies Record<Exclude<MailjetEventType, 'blocked'>, string>;

export interface MappingOptions {
  /**
   * Segment name of Mailjet's `blocked` (Mailjet did not even try to deliver), which Segment's Mailjet
   * source does not name. Default "Email Dropped": Segment's Engage source uses it for "dropped before
   * delivery".
   */
  blockedEventName: string;
  /** CustomID, when non-empty, is the Segment userId. Off by default: CustomID is often a per-message id. */
  userIdFromCustomId: boolean;
  /**
   * Dot path through the objects of Payload parsed as JSON (e.g. "user.id"); a string or number there is
   * the userId. Payload that is not JSON (it is free-form) just yields none.
   */
  userIdPayloadPath?: string;
  /**
   * Events with neither email nor userId (Mailjet's test events, old payloads): send them to the
   * dead-letter topic, or use `mailjet-contact:<mj_contact_id>` as anonymousId when there is a contact.
   */
  noIdentity: 'dead-letter' | 'contact-id';
}

export const defaultMappingOptions: Readonly<MappingOptions> = Object.freeze({
  blockedEventName: 'Email Dropped',
  userIdFromCustomId: false,
  userIdPayloadPath: undefined,
  noIdentity: 'dead-letter',
});

/** Segment Email spec properties, plus every Mailjet field under its own name. */
export interface EmailProperties {
  /** MessageID as exact text, else Message_GUID. */
  email_id?: string;
  campaign_id?: string;
  campaign_name?: string;
  link_url?: string;
  list_id?: string;
  message_id?: string;
  message_guid?: string;
  contact_id?: string;
  custom_id?: string;
  payload?: string;
  hard_bounce?: boolean;
  blocked?: boolean;
  error_related_to?: string;
  error?: string;
  comment?: string;
  smtp_reply?: string;
  source?: string;
  geo?: string;
  mailjet_event: MailjetEventType;
  /**
   * Mailjet fields not mapped above, as Mailjet sent them. Numbers JavaScript would round stay
   * `JSON.rawJSON` values, which JSON.stringify writes with their exact digits.
   */
  mailjet_extra?: Record<string, LosslessJson>;
}

/** One element of the `batch` array of Segment's /v1/batch, ready for JSON.stringify. */
export interface SegmentTrack {
  type: 'track';
  event: string;
  userId?: string;
  anonymousId?: string;
  messageId: string;
  /** ISO 8601, from Mailjet `time`. */
  timestamp: string;
  properties: EmailProperties;
  /** `traits` is left out when Mailjet sent no email (the call is then identified by userId). */
  context: { traits?: { email: string }; ip?: string; userAgent?: string };
  integrations?: Record<string, boolean>;
}

export type MappingResult =
  | { ok: true; normalized: MailjetEventNormalized }
  | { ok: false; code: ErrorCode; message: string };

type FieldKind = 'text' | 'id' | 'flag';

/** Where a carried field goes in the track call: a property, or `context.ip` / `context.userAgent`. */
type SegmentPlace =
  | Exclude<keyof EmailProperties, 'email_id' | 'message_id' | 'mailjet_event' | 'mailjet_extra'>
  | 'context.ip'
  | 'context.userAgent';

/**
 * The Mailjet fields the mapping carries over as they are, one row each: Mailjet's name and the kind of
 * value it must hold, the normalized record's field that keeps it and the place of the track call it
 * becomes. This table drives the normalized record (mapMailjetEvent), the track call (segmentTrackOf)
 * and the mapping table of docs/segment-connector.md (npm run docs). A new Mailjet field is a row here
 * and its field in schemas/mailjet-event-normalized.avsc (a new schema version: see Versions in
 * docs/topics-and-schemas.md), in the schema's order; test/connector/segment-mapping.test.ts checks
 * the two agree.
 * Kinds: text (a string; "" means none), id (an integer, exact digits, or its text; 0 means none), flag
 * (a boolean). A field holding anything else is not guessed at: it goes to mailjet_extra as sent.
 */
export const carriedFields = [
  { mailjet: 'Message_GUID', kind: 'text', normalized: 'message_guid', segment: 'message_guid' },
  { mailjet: 'mj_campaign_id', kind: 'id', normalized: 'campaign_id', segment: 'campaign_id' },
  { mailjet: 'customcampaign', kind: 'text', normalized: 'campaign_name', segment: 'campaign_name' },
  { mailjet: 'mj_contact_id', kind: 'id', normalized: 'contact_id', segment: 'contact_id' },
  { mailjet: 'mj_list_id', kind: 'id', normalized: 'list_id', segment: 'list_id' },
  { mailjet: 'url', kind: 'text', normalized: 'link_url', segment: 'link_url' },
  { mailjet: 'ip', kind: 'text', normalized: 'ip', segment: 'context.ip' },
  { mailjet: 'agent', kind: 'text', normalized: 'user_agent', segment: 'context.userAgent' },
  { mailjet: 'geo', kind: 'text', normalized: 'geo', segment: 'geo' },
  { mailjet: 'CustomID', kind: 'text', normalized: 'custom_id', segment: 'custom_id' },
  { mailjet: 'Payload', kind: 'text', normalized: 'payload', segment: 'payload' },
  { mailjet: 'smtp_reply', kind: 'text', normalized: 'smtp_reply', segment: 'smtp_reply' },
  { mailjet: 'hard_bounce', kind: 'flag', normalized: 'hard_bounce', segment: 'hard_bounce' },
  { mailjet: 'blocked', kind: 'flag', normalized: 'blocked', segment: 'blocked' },
  { mailjet: 'error_related_to', kind: 'text', normalized: 'error_related_to', segment: 'error_related_to' },
  { mailjet: 'error', kind: 'text', normalized: 'error', segment: 'error' },
  { mailjet: 'comment', kind: 'text', normalized: 'comment', segment: 'comment' },
  { mailjet: 'source', kind: 'text', normalized: 'spam_source', segment: 'source' },
] as const satisfies readonly {
  mailjet: string;
  kind: FieldKind;
  normalized: keyof MailjetEventNormalized;
  segment: SegmentPlace;
}[];

type CarriedField = (typeof carriedFields)[number];

/**
 * Every Mailjet field the mapping reads, with its kind: the carried ones, and those the mapping itself
 * works with (the message's id, which both ids of old payloads give, and the recipient).
 */
const mailjetFields: Record<CarriedField['mailjet'] | 'MessageID' | 'mj_message_id' | 'email', FieldKind> = {
  MessageID: 'id',
  mj_message_id: 'id',
  email: 'text',
  ...Object.fromEntries(carriedFields.map((field) => [field.mailjet, field.kind])),
} as Record<CarriedField['mailjet'] | 'MessageID' | 'mj_message_id' | 'email', FieldKind>;

/** The carried fields that become properties, and those that go to the call's context. */
const propertyFields = carriedFields.filter((field) => !field.segment.startsWith('context.'));
const ipField = carriedFields.find((field) => field.segment === 'context.ip') as CarriedField;
const userAgentField = carriedFields.find((field) => field.segment === 'context.userAgent') as CarriedField;

type MailjetFieldName = keyof typeof mailjetFields;
type FlagField = Extract<CarriedField, { kind: 'flag' }>['mailjet'];
type MailjetFields = { [K in MailjetFieldName]?: K extends FlagField ? boolean : string };

interface ReadEvent {
  fields: MailjetFields;
  extra: Record<string, LosslessJson>;
}

function fail(message: string): { ok: false; code: ErrorCode; message: string } {
  return { ok: false, code: 'UNMAPPABLE_EVENT', message };
}

function isMailjetField(key: string): key is MailjetFieldName {
  return Object.hasOwn(mailjetFields, key);
}

/** The value a field holds if it has the field's kind, `null` for Mailjet's "none", undefined if not. */
function readValue(kind: FieldKind, value: unknown): string | boolean | null | undefined {
  if (kind === 'flag') return typeof value === 'boolean' ? value : undefined;
  if (kind === 'text') return typeof value === 'string' ? value || null : undefined;
  if (typeof value === 'boolean') return undefined;
  const text = exactText(value);
  return text === undefined ? undefined : text === '' || text === '0' ? null : text;
}

/** Sorts the event's fields into the ones the mapping reads and the rest (kept in `extra`). */
function readEvent(event: Record<string, unknown>): ReadEvent {
  const fields: Record<string, string | boolean> = {};
  // Entries, then Object.fromEntries: an own "__proto__" key survives, where assigning it would not.
  const extra: [string, LosslessJson][] = [];
  // for…in rather than Object.entries: JSON.parse's objects have V8's cached key list, while entries
  // builds an array per field (a tenth of the mapping's time). Own keys only, as entries gives.
  for (const key in event) {
    // event and time come from the raw record, whose fields the ingress validated.
    if (!Object.hasOwn(event, key) || key === 'event' || key === 'time') continue;
    const value = event[key];
    const known = isMailjetField(key) ? readValue(mailjetFields[key], value) : undefined;
    if (known === undefined) extra.push([key, value]);
    else if (known !== null) fields[key] = known;
  }
  // mj_message_id is the deprecated text copy of MessageID, and the only id of old payloads. A copy that
  // disagrees is not dropped silently.
  const { MessageID, mj_message_id } = fields;
  if (MessageID !== undefined && mj_message_id !== undefined && MessageID !== mj_message_id)
    extra.push(['mj_message_id', event.mj_message_id]);
  return {
    fields: fields as MailjetFields,
    extra: extra.length === 0 ? noExtra : Object.fromEntries(extra),
  };
}

/** Shared by every event without unknown fields; never written to. */
const noExtra: Record<string, LosslessJson> = Object.freeze({});

/** The value at a dot path ("user.id") of Payload parsed as JSON, if it is a string or a number. */
function userIdFromPayload(payload: string | undefined, path: string): string | undefined {
  if (payload === undefined) return undefined;
  let value: unknown;
  try {
    value = parseLosslessJson(payload);
  } catch {
    return undefined; // Payload is free-form text (XML, CSV…): it just holds no userId.
  }
  for (const key of path.split('.')) {
    if (!isJsonObject(value) || !Object.hasOwn(value, key)) return undefined;
    value = value[key];
  }
  return exactText(value) || undefined;
}

type Identity = { userId: string; anonymousId?: undefined } | { userId?: undefined; anonymousId: string };

/**
 * Who the event is about, in this order: CustomID (if enabled), the Payload path (if set), the userId
 * the caller found for this email, the email as anonymousId (what Segment's Mailjet source does), and
 * for events without email, the contact id (if enabled).
 */
function resolveIdentity(
  fields: MailjetFields,
  options: MappingOptions,
  knownUserId: string | undefined,
): Identity | undefined {
  const userId =
    (options.userIdFromCustomId ? fields.CustomID : undefined) ??
    (options.userIdPayloadPath ? userIdFromPayload(fields.Payload, options.userIdPayloadPath) : undefined) ??
    (knownUserId || undefined);
  if (userId !== undefined) return { userId };
  if (fields.email !== undefined) return { anonymousId: fields.email };
  if (options.noIdentity === 'contact-id' && fields.mj_contact_id !== undefined)
    return { anonymousId: `mailjet-contact:${fields.mj_contact_id}` };
  return undefined;
}

/**
 * A copy of `object` without its undefined members: Segment gets no key it has no value for. A plain
 * loop over the keys (same order) rather than entries/filter/fromEntries: it runs three times per event,
 * and the arrays those built were a large part of the mapping's CPU time (bench/connector.ts --cpu-prof).
 */
function defined<T extends object>(object: T): T {
  const copy: Record<string, unknown> = {};
  for (const key in object) {
    const value = object[key];
    if (value !== undefined && Object.hasOwn(object, key)) copy[key] = value;
  }
  return copy as T;
}

/**
 * Date#toISOString of a time in whole seconds. toISOString is a noticeable part of the mapping; the
 * events of a stream fall on few days, so each day's text is kept and only the time of day is written.
 * The result is toISOString's, character for character (test/connector/segment-mapping.test.ts).
 */
export function isoTimeOfSeconds(seconds: number): string {
  const day = Math.floor(seconds / 86_400);
  let prefix = dayPrefixes.get(day);
  if (prefix === undefined) {
    // Everything before "HH:mm:ss.sssZ", whose 13 characters end every toISOString, extended years too.
    prefix = new Date(day * 86_400_000).toISOString().slice(0, -13);
    if (dayPrefixes.size === maxDays) dayPrefixes.clear();
    dayPrefixes.set(day, prefix);
  }
  const second = seconds - day * 86_400;
  const hours = Math.floor(second / 3600);
  const minutes = Math.floor(second / 60) % 60;
  return `${prefix}${twoDigits[hours]}:${twoDigits[minutes]}:${twoDigits[second % 60]}.000Z`;
}

/** "2015-06-01T" by day since the epoch; a replay of a long history just starts over every maxDays. */
const dayPrefixes = new Map<number, string>();
const maxDays = 1024;
const twoDigits = Array.from({ length: 60 }, (_, n) => String(n).padStart(2, '0'));

export function segmentEventName(type: MailjetEventType, options: MappingOptions): string {
  return type === 'blocked' ? options.blockedEventName : segmentEventNames[type];
}

export function mapMailjetEvent(
  raw: MailjetEventRaw,
  options: MappingOptions,
  identity: { knownUserId?: string },
): MappingResult {
  const type = raw.event;
  if (!isMailjetEventType(type)) return fail(`Unknown Mailjet event type ${quoteForReason(type)}.`);
  const event = segmentEventName(type, options);
  if (event.trim() === '')
    return fail(`The Segment event name for ${type} is empty (check the mapping options).`);
  const occurredAt = raw.time * 1000;
  if (!Number.isSafeInteger(raw.time) || Number.isNaN(new Date(occurredAt).getTime()))
    return fail(`Mailjet time ${raw.time} is not a Unix time in seconds.`);

  let parsed: unknown;
  try {
    parsed = parseLosslessJson(raw.event_json);
  } catch (err) {
    return fail(`event_json is not JSON: ${(err as Error).message}`);
  }
  if (!isJsonObject(parsed)) return fail('event_json is not a JSON object.');
  if (parsed.event !== type)
    return fail(`event_json says event ${quoteForReason(parsed.event)} but the record says ${type}.`);

  const { fields, extra } = readEvent(parsed);
  const who = resolveIdentity(fields, options, identity.knownUserId);
  if (who === undefined) {
    const why =
      options.noIdentity === 'contact-id'
        ? 'no email, no user id and no mj_contact_id'
        : 'no email and no user id';
    return fail(`The ${type} event has ${why}, so Segment would reject it.`);
  }

  const mailjetMessageId = fields.MessageID ?? fields.mj_message_id;
  const messageId = segmentMessageId({
    eventType: type,
    messageKey: mailjetMessageId ?? fields.Message_GUID,
    time: raw.time,
    email: fields.email,
    url: fields.url,
    ip: fields.ip,
    agent: fields.agent,
    listId: fields.mj_list_id,
    source: fields.source,
  });
  const normalized = {
    message_id: messageId,
    event_type: type,
    event_name: event,
    occurred_at: occurredAt,
    email: fields.email ?? null,
    user_id: who.userId ?? null,
    anonymous_id: who.anonymousId ?? null,
    mailjet_message_id: mailjetMessageId ?? null,
  } as MailjetEventNormalized;
  // In the schema's order, as the table is: every record gets the same shape.
  const carried = normalized as unknown as Record<string, string | boolean | null>;
  for (const field of carriedFields) carried[field.normalized] = fields[field.mailjet] ?? null;
  normalized.extra_json = extra === noExtra ? '{}' : JSON.stringify(extra);
  normalized.received_at = raw.received_at;
  return { ok: true, normalized };
}

export type TrackResult = { ok: true; track: SegmentTrack } | { ok: false; code: ErrorCode; message: string };

/**
 * The Segment track call of a normalized record, from the record alone (the Segment sink reads the
 * normalized topic, not the raw one): its identity and messageId as the normalizer resolved them, and
 * every Mailjet field under its Segment Email spec name. A record this version cannot have written (an
 * unknown event type, extra_json not an object) is refused rather than guessed at.
 */
export function segmentTrackOf(normalized: MailjetEventNormalized): TrackResult {
  const type = normalized.event_type;
  if (!isMailjetEventType(type))
    return fail(`Unknown Mailjet event type ${quoteForReason(type)} in the normalized record.`);
  let extra: unknown;
  try {
    extra = normalized.extra_json === '{}' ? noExtra : parseLosslessJson(normalized.extra_json);
  } catch (err) {
    return fail(`extra_json of the normalized record is not JSON: ${(err as Error).message}`);
  }
  if (!isJsonObject(extra)) return fail('extra_json of the normalized record is not a JSON object.');
  const email = normalized.email ?? undefined;
  const mailjetMessageId = normalized.mailjet_message_id ?? undefined;
  const properties: Record<string, unknown> = {};
  const emailId = mailjetMessageId ?? normalized.message_guid ?? undefined;
  if (emailId !== undefined) properties.email_id = emailId;
  if (mailjetMessageId !== undefined) properties.message_id = mailjetMessageId;
  for (const field of propertyFields) {
    const value = normalized[field.normalized];
    if (value !== null) properties[field.segment] = value;
  }
  properties.mailjet_event = type;
  if (extra !== noExtra) properties.mailjet_extra = extra;
  const track: SegmentTrack = defined({
    type: 'track',
    event: normalized.event_name,
    userId: normalized.user_id ?? undefined,
    anonymousId: normalized.user_id === null ? (normalized.anonymous_id ?? undefined) : undefined,
    messageId: normalized.message_id,
    timestamp: isoTimeOfSeconds(Math.floor(normalized.occurred_at / 1000)),
    properties: properties as unknown as EmailProperties,
    context: defined({
      traits: email === undefined ? undefined : { email },
      ip: (normalized[ipField.normalized] as string | null) ?? undefined,
      userAgent: (normalized[userAgentField.normalized] as string | null) ?? undefined,
    }),
  });
  return { ok: true, track };
}
