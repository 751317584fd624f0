/**
 * Reads a run's outcome back: every record of the raw, normalized and dead-letter topics (from the start
 * to the end offsets, with a fresh consumer group), and every event the local Segment server accepted.
 * Each is reduced to what integrity/count.ts counts: the Mailjet MessageID and the Segment messageId.
 */
import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import { readToEnd } from '../bench/harness.ts';
import { DEAD_LETTER_HEADERS } from '../core/dead-letter.ts';
import type { IncomingRecord, KafkaClient } from '../core/kafka.ts';
import { exactText, isRawJson, MAX_JSON_DEPTH, parseLosslessJsonBounded } from '../core/lossless-json.ts';
import type { SchemaRegistryClient } from '../core/schema-registry.ts';
import type { RecordedEvent } from '../local-saas/segment/recorder.ts';
import type { MailjetEventNormalized, MailjetEventRaw } from '../schemas/index.ts';
import type { DeadLetteredEvent, DeliveredEvent } from './count.ts';

/** Every record of `topic`, up to its end offsets as they are when called; none if it does not exist. */
export async function readTopic(kafka: KafkaClient, topic: string): Promise<IncomingRecord[]> {
  const records: IncomingRecord[] = [];
  await readToEnd(kafka, topic, (batch) => records.push(...batch));
  return records;
}

/** The Mailjet MessageID of each raw record (as the ingress stored it). */
export async function rawMessageIds(
  records: IncomingRecord[],
  registry: SchemaRegistryClient,
): Promise<(string | undefined)[]> {
  return Promise.all(
    records.map(async (record) => {
      // Only a raw record counts: a poison record of another subject (a normalized one) is no event.
      const decoded = await recordOf(registry, record.value);
      return typeof decoded?.event_json === 'string' ? (decoded.message_id ?? undefined) : undefined;
    }),
  );
}

export async function normalizedEvents(
  records: IncomingRecord[],
  registry: SchemaRegistryClient,
): Promise<DeliveredEvent[]> {
  return Promise.all(
    records.map(async (record) => {
      const normalized = await registry.decode<MailjetEventNormalized>(record.value as Buffer);
      return {
        messageId: normalized.message_id,
        mailjetMessageId: normalized.mailjet_message_id ?? undefined,
        at: { partition: record.partition, offset: BigInt(record.offset) },
      };
    }),
  );
}

/**
 * Each dead letter's code and the Mailjet event inside it: a dead letter keeps the original bytes, a raw
 * record (the connector's stages) or webhook input (the ingress's: an element's JSON, or a body that is
 * not JSON), and poison records hold none.
 */
export async function deadLetteredEvents(
  records: IncomingRecord[],
  registry: SchemaRegistryClient,
): Promise<DeadLetteredEvent[]> {
  return Promise.all(
    records.map(async (record) => {
      const code = record.headers[DEAD_LETTER_HEADERS.errorCode]?.toString() ?? 'unknown';
      const stage = record.headers[DEAD_LETTER_HEADERS.stage]?.toString() ?? 'unknown';
      const mailjetMessageId =
        stage === 'ingress' ? messageIdInJson(record.value) : await recordMessageId(registry, record.value);
      return { code, stage, digest: digestOf(record.value ?? Buffer.alloc(0)), mailjetMessageId };
    }),
  );
}

/** SHA-256 of bytes, in hex. */
export function digestOf(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The MessageID of an event kept as JSON text, exact; undefined when the text is not one. */
function messageIdInJson(value: Buffer | null): string | undefined {
  // Bytes that are not UTF-8 are no JSON (a body kept whole): decoded, they could read as one.
  if (value === null || !isUtf8(value)) return undefined;
  try {
    // Bounded: a dead letter can hold a value nesting past the limit (JSON_TOO_DEEP); only the top
    // level is read.
    const { value: event } = parseLosslessJsonBounded(value.toString('utf8'), MAX_JSON_DEPTH);
    if (typeof event !== 'object' || event === null || isRawJson(event)) return undefined;
    return exactText((event as { MessageID?: unknown }).MessageID);
  } catch {
    return undefined; // Not JSON: a body kept whole.
  }
}

/**
 * The Mailjet MessageID of the raw record (the normalizer's letters) or normalized record (the Segment
 * sink's) in `value`; undefined for anything else (a poison record, kept as it came).
 */
async function recordMessageId(
  registry: SchemaRegistryClient,
  value: Buffer | null,
): Promise<string | undefined> {
  const decoded = await recordOf(registry, value);
  // A value of another subject decodes too, under its own schema: told apart by their own fields.
  if (typeof decoded?.event_json === 'string') return decoded.message_id ?? undefined;
  if (typeof decoded?.extra_json === 'string') return decoded.mailjet_message_id ?? undefined;
  return undefined;
}

async function recordOf(
  registry: SchemaRegistryClient,
  value: Buffer | null,
): Promise<Partial<MailjetEventRaw & MailjetEventNormalized> | undefined> {
  if (value === null) return undefined;
  try {
    return await registry.decode<Partial<MailjetEventRaw & MailjetEventNormalized>>(value);
  } catch {
    return undefined; // Not Avro, or a schema id the registry does not know.
  }
}

/** What the local Segment server accepted, as messageId and the Mailjet MessageID of the track call. */
export async function segmentEvents(segmentUrl: string): Promise<DeliveredEvent[]> {
  const response = await fetch(`${segmentUrl}/_local/events?limit=100000`);
  const { events } = (await response.json()) as { events: RecordedEvent[] };
  return events.map((event) => {
    const properties = (event.properties ?? {}) as { message_id?: string };
    return { messageId: event.messageId, mailjetMessageId: properties.message_id };
  });
}
