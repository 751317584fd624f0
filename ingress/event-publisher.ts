/**
 * Turns a read webhook body into Kafka records, raw events Avro-encoded for the raw topic and rejected
 * input for the dead-letter topic, and resolves only when Kafka acked all of them. A body is stored
 * whole or answered as failed: Mailjet then sends it again, so nothing is lost (a retry after a partial
 * or late write can duplicate events, which the connector's deterministic messageIds absorb).
 *
 * Sizes are checked here, on the encoded record: an event whose raw record the raw topic cannot take
 * would be refused on every retry, so it goes whole to the dead-letter topic instead (EVENT_TOO_LARGE),
 * which holds anything up to the body limit (see checkBodyLimitFitsTopics).
 */
import {
  type BatchingProducer,
  type PublishContext,
  recordBatchBytes,
  refuseWhenFull,
  sendAcked,
} from '../core/batching-producer.ts';
import { deadLetterRecord } from '../core/dead-letter.ts';
import type { ErrorCode } from '../core/errors.ts';
import type { OutgoingRecord, TopicRecords } from '../core/kafka.ts';
import type { MailjetEventType } from '../core/mailjet-event.ts';
import type { AvroSerializer } from '../core/schema-registry.ts';
import type { MailjetEventRaw } from '../schemas/index.ts';
import type { AcceptedEvent, WebhookBody } from './webhook-body.ts';

/** The raw topic's value for an accepted event: what the ingress writes (benchmarks build it the same way). */
export function rawEventValue(
  event: AcceptedEvent,
  { requestId, receivedAt }: PublishContext,
): MailjetEventRaw {
  return {
    event: event.type,
    time: event.time,
    email: event.email,
    message_id: event.messageId,
    message_guid: event.messageGuid,
    event_json: event.json,
    received_at: receivedAt,
    request_id: requestId,
  };
}

/** What became of a body's events once Kafka acked them. */
export interface PublishOutcome {
  stored: number;
  storedByType: Map<MailjetEventType, number>;
  /** The body's rejected input and the events too large for the raw topic, in the dead-letter topic. */
  deadLettered: { code: ErrorCode; reason: string }[];
}

export interface EventPublisher {
  publish(body: WebhookBody, context: PublishContext): Promise<PublishOutcome>;
  pending(): number;
  drain(): Promise<void>;
}

export interface EventPublisherOptions {
  producer: BatchingProducer;
  rawSerializer: AvroSerializer;
  rawTopic: string;
  deadLetterTopic: string;
  ackTimeoutMs: number;
  maxPendingEvents: number;
  /** The largest record the raw topic takes (TOPIC_MAX_MESSAGE_BYTES); larger events are dead-lettered. */
  maxRawRecordBytes: number;
  /** The largest record the dead-letter topic takes (DEAD_LETTER_TOPIC_MAX_MESSAGE_BYTES). */
  maxDeadLetterBytes: number;
}

interface Letter {
  code: ErrorCode;
  reason: string;
  raw: Buffer;
  email: string | null;
}

export function createEventPublisher(options: EventPublisherOptions): EventPublisher {
  const { producer, rawSerializer, rawTopic, deadLetterTopic } = options;

  return {
    async publish(body, { requestId, receivedAt }) {
      const count = body.accepted.length + body.rejected.length;
      const outcome: PublishOutcome = { stored: 0, storedByType: new Map(), deadLettered: [] };
      if (count === 0) return outcome;
      refuseWhenFull(producer, count, {
        max: options.maxPendingEvents,
        code: 'INGRESS_OVERLOADED',
        setting: 'INGRESS_MAX_PENDING_EVENTS',
      });
      const raw: OutgoingRecord[] = [];
      const letters: Letter[] = [...body.rejected];
      for (const event of body.accepted) {
        const record = {
          key: event.email,
          value: rawSerializer.encode(rawEventValue(event, { requestId, receivedAt })),
        };
        const bytes = recordBatchBytes([record]);
        if (bytes > options.maxRawRecordBytes) {
          letters.push({
            code: 'EVENT_TOO_LARGE',
            reason: `the ${event.type} event (MessageID ${event.messageId}) would make a raw record of ${bytes} bytes, over TOPIC_MAX_MESSAGE_BYTES=${options.maxRawRecordBytes}`,
            raw: Buffer.from(event.json),
            email: event.email,
          });
          continue;
        }
        raw.push(record);
        outcome.storedByType.set(event.type, (outcome.storedByType.get(event.type) ?? 0) + 1);
      }
      const failedAt = new Date(receivedAt);
      const deadLetters = letters.map((letter) =>
        fitted(
          deadLetterRecord({
            stage: 'ingress',
            code: letter.code,
            message: letter.reason,
            value: letter.raw,
            key: letter.email,
            requestId,
            failedAt,
          }),
          options.maxDeadLetterBytes,
        ),
      );
      const batches: TopicRecords[] = [];
      if (raw.length > 0) batches.push({ topic: rawTopic, records: raw });
      if (deadLetters.length > 0) batches.push({ topic: deadLetterTopic, records: deadLetters });

      await sendAcked(producer, batches, count, {
        timeoutMs: options.ackTimeoutMs,
        setting: 'INGRESS_ACK_TIMEOUT_MS',
      });
      outcome.stored = raw.length;
      outcome.deadLettered = letters.map(({ code, reason }) => ({ code, reason }));
      return outcome;
    },
    pending: () => producer.pending(),
    drain: () => producer.drain(),
  };
}

/**
 * A dead letter the dead-letter topic can take. Its value fits (the body limit leaves room), but its key
 * repeats the event's email: only an email of megabytes makes it too large, and then it goes without.
 */
function fitted(record: OutgoingRecord, maxBytes: number): OutgoingRecord {
  return recordBatchBytes([record]) > maxBytes ? { ...record, key: null } : record;
}
