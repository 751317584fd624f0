/**
 * Turns a read identify body into Kafka records and resolves only when Kafka acked all of them:
 * identify calls Avro-encoded for the identify topic, email → userId pairs for the identity topic
 * (which the connector reads to send Mailjet events under the right userId), rejected calls for the
 * destination's dead-letter topic. One send for all: a body is stored whole or answered as failed, and
 * Segment then sends it again (a retry after a late write duplicates calls, with equal message ids).
 */
import type { BatchingProducer } from '../core/batching-producer.ts';
import { deadLetterRecord } from '../core/dead-letter.ts';
import { deadline } from '../core/deadline.ts';
import { ConnectorError } from '../core/errors.ts';
import type { OutgoingRecord, TopicRecords } from '../core/kafka.ts';
import type { AvroSerializer } from '../core/schema-registry.ts';
import { type IdentifyBody, identifyValue } from './identify-body.ts';

export interface PublishContext {
  requestId: string;
  receivedAt: number;
}

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
      // Checked before encoding: shedding must stay cheap when Kafka is slow. A body is always taken
      // when nothing waits, or one larger than the limit would be refused forever (Segment retries it
      // for 4 hours, then drops it); the body limit bounds it instead.
      const waiting = producer.pending();
      if (waiting > 0 && waiting + count > options.maxPendingRecords) {
        throw new ConnectorError(
          'DESTINATION_OVERLOADED',
          `${waiting} records already wait for Kafka; ${count} more would pass DESTINATION_MAX_PENDING_RECORDS=${options.maxPendingRecords}.`,
        );
      }
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

      const ack = deadline(options.ackTimeoutMs);
      try {
        await producer.send(batches, ack.signal);
      } catch (err) {
        const detail = ack.expired()
          ? `Kafka did not ack ${count} records within DESTINATION_ACK_TIMEOUT_MS=${options.ackTimeoutMs}`
          : `Kafka refused ${count} records: ${(err as Error).message}`;
        throw new ConnectorError('KAFKA_UNAVAILABLE', detail, { cause: err });
      } finally {
        ack.release();
      }
      return published;
    },
    pending: () => producer.pending(),
    drain: () => producer.drain(),
  };
}
