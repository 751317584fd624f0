/**
 * Turns a read webhook body into Kafka records, raw events Avro-encoded for the raw topic and rejected
 * input for the dead-letter topic, and resolves only when Kafka acked all of them. A body is stored
 * whole or answered as failed: Mailjet then sends it again, so nothing is lost (a retry after a partial
 * or late write can duplicate events, which the connector's deterministic messageIds absorb).
 */
import {
  type BatchingProducer,
  type PublishContext,
  refuseWhenFull,
  sendAcked,
} from '../core/batching-producer.ts';
import { deadLetterRecord } from '../core/dead-letter.ts';
import type { OutgoingRecord, TopicRecords } from '../core/kafka.ts';
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

export interface EventPublisher {
  publish(body: WebhookBody, context: PublishContext): Promise<void>;
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
}

export function createEventPublisher(options: EventPublisherOptions): EventPublisher {
  const { producer, rawSerializer, rawTopic, deadLetterTopic } = options;

  return {
    async publish(body, { requestId, receivedAt }) {
      const count = body.accepted.length + body.rejected.length;
      if (count === 0) return;
      refuseWhenFull(producer, count, {
        max: options.maxPendingEvents,
        code: 'INGRESS_OVERLOADED',
        setting: 'INGRESS_MAX_PENDING_EVENTS',
      });
      const raw: OutgoingRecord[] = body.accepted.map((event) => ({
        key: event.email,
        value: rawSerializer.encode(rawEventValue(event, { requestId, receivedAt })),
      }));
      const failedAt = new Date(receivedAt);
      const deadLetters = body.rejected.map((input) =>
        deadLetterRecord({
          stage: 'ingress',
          code: input.code,
          message: input.reason,
          value: input.raw,
          key: input.email,
          requestId,
          failedAt,
        }),
      );
      const batches: TopicRecords[] = [];
      if (raw.length > 0) batches.push({ topic: rawTopic, records: raw });
      if (deadLetters.length > 0) batches.push({ topic: deadLetterTopic, records: deadLetters });

      await sendAcked(producer, batches, count, {
        timeoutMs: options.ackTimeoutMs,
        setting: 'INGRESS_ACK_TIMEOUT_MS',
      });
    },
    pending: () => producer.pending(),
    drain: () => producer.drain(),
  };
}
