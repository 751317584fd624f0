/**
 * The Avro contracts of the project's topics: its public API for downstream teams. Each is registered
 * under `<topic>-value` (Confluent's TopicNameStrategy) with the registry's compatibility rules, so a
 * change that would break readers fails at start-up instead of in someone else's consumer.
 */
import { readFileSync } from 'node:fs';

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

export function valueSubject(topic: string): string {
  return `${topic}-value`;
}
