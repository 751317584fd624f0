/**
 * Turns a read identify body into Kafka records and resolves only when Kafka acked all of them:
 * identify calls Avro-encoded for the identify topic, email → userId pairs for the identity topic
 * (which the connector reads to send Mailjet events under the right userId), rejected calls for the
 * destination's dead-letter topic. One send for all: a body is stored whole or answered as failed, and
 * Segment then sends it again (a retry after a late write duplicates calls, with equal message ids).
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
import { type IdentifyBody, identifyValue } from './identify-body.ts';

/** What Kafka acked for one body. */
export interface Published {
  stored: number;
  identities: number;
  deadLettered: number;
}

export interface IdentifyPublisher {
  publish(body: IdentifyBody, context: PublishContext): Promise<Published>;
  /** Records queued or waiting for an ack. */
  pending(): number;
  drain(): Promise<void>;
}

export interface IdentifyPublisherOptions {
  producer: BatchingProducer;
  identifySerializer: AvroSerializer;
  identifyTopic: string;
  identityTopic: string;
  deadLetterTopic: string;
  ackTimeoutMs: number;
  maxPendingRecords: number;
}

export function createIdentifyPublisher(options: IdentifyPublisherOptions): IdentifyPublisher {
  const { producer, identifySerializer } = options;

  return {
    async publish(body, { requestId, receivedAt }) {
      const linked = body.accepted.filter((call) => call.email !== null && call.userId !== null).length;
      const published = {
        stored: body.accepted.length,
        identities: linked,
        deadLettered: body.rejected.length,
      };
      const count = published.stored + published.identities + published.deadLettered;
      if (count === 0) return published;
      refuseWhenFull(producer, count, {
        max: options.maxPendingRecords,
        code: 'DESTINATION_OVERLOADED',
        setting: 'DESTINATION_MAX_PENDING_RECORDS',
      });
      const identifies: OutgoingRecord[] = [];
      const identities: OutgoingRecord[] = [];
      for (const call of body.accepted) {
        identifies.push({
          key: call.key,
          value: identifySerializer.encode(identifyValue(call, { requestId, receivedAt })),
        });
        // The connector's identity view reads key = email in lower case, value = userId as UTF-8. A call
        // without a userId writes nothing: an empty value would delete what an earlier call linked.
        if (call.email !== null && call.userId !== null) {
          identities.push({ key: call.email.toLowerCase(), value: Buffer.from(call.userId, 'utf8') });
        }
      }
      const failedAt = new Date(receivedAt);
      const deadLetters = body.rejected.map((call) =>
        deadLetterRecord({
          stage: 'intake',
          code: call.code,
          message: call.reason,
          value: call.raw,
          key: call.key,
          requestId,
          failedAt,
        }),
      );
      const batches: TopicRecords[] = [];
      if (identifies.length > 0) batches.push({ topic: options.identifyTopic, records: identifies });
      if (identities.length > 0) batches.push({ topic: options.identityTopic, records: identities });
      if (deadLetters.length > 0) batches.push({ topic: options.deadLetterTopic, records: deadLetters });

      await sendAcked(producer, batches, count, {
        timeoutMs: options.ackTimeoutMs,
        setting: 'DESTINATION_ACK_TIMEOUT_MS',
      });
      return published;
    },
    pending: () => producer.pending(),
    drain: () => producer.drain(),
  };
}
