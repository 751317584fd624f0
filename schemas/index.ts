/**
 * The Avro contracts of the project's topics: its public API for downstream teams. Each is registered
 * under `<topic>-value` (Confluent's TopicNameStrategy); a new subject is given the BACKWARD rule, and a
 * subject under another rule stops the start, so a change that would break readers fails at start-up
 * instead of in someone else's consumer. Every released version is kept in `released/`
 * (`<contract>.v<N>.avsc`): the tests check the current schema against each of them on a real registry.
 */
import { readdirSync, readFileSync } from 'node:fs';

function load(file: string): AvroRecordSchema {
  return JSON.parse(readFileSync(new URL(file, import.meta.url), 'utf8')) as AvroRecordSchema;
}

export interface AvroRecordSchema {
  type: 'record';
  name: string;
  namespace?: string;
  doc?: string;
  fields: { name: string; type: unknown; default?: unknown; doc?: string }[];
}

export const mailjetEventRawSchema = load('./mailjet-event-raw.avsc');

/** The value of the raw topic, as the ingress writes it. */
export interface MailjetEventRaw {
  event: string;
  time: number;
  email: string | null;
  message_id: string | null;
  message_guid: string | null;
  event_json: string;
  /** Milliseconds since the epoch. */
  received_at: number;
  request_id: string;
}

export const mailjetEventNormalizedSchema = load('./mailjet-event-normalized.avsc');

/**
 * The value of the normalized topic, as the connector writes it: one per Segment track call. Null means
 * Mailjet did not send the field (or sent "" or, for ids, 0). Field docs are in the .avsc.
 */
export interface MailjetEventNormalized {
  message_id: string;
  event_type: string;
  event_name: string;
  /** Milliseconds since the epoch (Mailjet `time` × 1000). */
  occurred_at: number;
  email: string | null;
  user_id: string | null;
  anonymous_id: string | null;
  mailjet_message_id: string | null;
  message_guid: string | null;
  campaign_id: string | null;
  campaign_name: string | null;
  contact_id: string | null;
  list_id: string | null;
  link_url: string | null;
  ip: string | null;
  user_agent: string | null;
  geo: string | null;
  custom_id: string | null;
  payload: string | null;
  smtp_reply: string | null;
  hard_bounce: boolean | null;
  blocked: boolean | null;
  error_related_to: string | null;
  error: string | null;
  comment: string | null;
  spam_source: string | null;
  /** JSON object text of the Mailjet fields no other field holds; "{}" when none. */
  extra_json: string;
  /** Milliseconds since the epoch. */
  received_at: number;
}

export const segmentIdentifySchema = load('./segment-identify.avsc');

/** The value of the identify topic, as the Mailjet destination's intake writes it. Field docs are in the .avsc. */
export interface SegmentIdentify {
  message_id: string;
  user_id: string | null;
  anonymous_id: string | null;
  email: string | null;
  traits_json: string;
  audience_key: string | null;
  call_json: string;
  /** Milliseconds since the epoch. */
  timestamp: number;
  /** Milliseconds since the epoch. */
  received_at: number;
  request_id: string;
}

export function valueSubject(topic: string): string {
  return `${topic}-value`;
}

/** A topic's contract: the schema this version writes, and every version released before. */
export interface SchemaContract {
  /** The .avsc file's name without extension: `mailjet-event-raw`. */
  name: string;
  current: AvroRecordSchema;
  /** Oldest first. */
  released: { version: number; schema: AvroRecordSchema }[];
}

function contract(name: string, current: AvroRecordSchema): SchemaContract {
  const pattern = new RegExp(`^${name}\\.v(\\d+)\\.avsc$`);
  const released = readdirSync(new URL('./released/', import.meta.url))
    .map((file) => ({ file, match: pattern.exec(file) }))
    .filter(({ match }) => match)
    .map(({ file, match }) => ({ version: Number(match?.[1]), schema: load(`./released/${file}`) }))
    .sort((a, b) => a.version - b.version);
  return { name, current, released };
}

/** Read when asked (the tests), not at every process's start: the services never use released versions. */
export function schemaContracts(): SchemaContract[] {
  return [
    contract('mailjet-event-raw', mailjetEventRawSchema),
    contract('mailjet-event-normalized', mailjetEventNormalizedSchema),
    contract('segment-identify', segmentIdentifySchema),
  ];
}
