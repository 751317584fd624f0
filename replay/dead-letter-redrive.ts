/**
 * Re-drives one batch of dead letters after a fix, by the stage that wrote them (`dlq.stage`):
 * - `connector` and `segment` letters hold the original raw Avro record: they go through the connector's
 *   batch handler again (same mapping, same messageIds, same sinks).
 * - `ingress` letters hold webhook bytes: the webhook reader reads them again, and what it now accepts
 *   goes to the raw topic through the ingress's own publisher (same Avro serializer, same key), keeping
 *   the original request id and receipt time. What it still refuses stays where it is and is counted.
 * - anything else (no stage header, `normalized`) is counted as skipped.
 * Resolves once everything reached Kafka (and Segment); the caller commits only then.
 */
import type { BatchOutcome } from '../connector/batch-handler.ts';
import { DEAD_LETTER_HEADERS } from '../core/dead-letter.ts';
import type { IncomingRecord, RecordBatch } from '../core/kafka.ts';
import type { EventPublisher } from '../ingress/event-publisher.ts';
import { readWebhookBody } from '../ingress/webhook-body.ts';

export interface RedriveOutcome extends BatchOutcome {
  toRawTopic: number;
  stillRejected: number;
  skipped: number;
}

export function createDeadLetterRedrive(options: {
  /** The connector's batch handler (createBatchHandler). */
  handle: (batch: RecordBatch) => Promise<BatchOutcome>;
  /** The ingress's publisher on the raw topic (createEventPublisher). */
  publisher: EventPublisher;
  dryRun: boolean;
}): (batch: RecordBatch) => Promise<RedriveOutcome> {
  return async (batch) => {
    const outcome: RedriveOutcome = {
      delivered: {},
      deadLettered: 0,
      toRawTopic: 0,
      stillRejected: 0,
      skipped: 0,
    };
    const raw: IncomingRecord[] = [];
    const webhooks: IncomingRecord[] = [];
    for (const record of batch.records) {
      const stage = record.headers[DEAD_LETTER_HEADERS.stage]?.toString();
      if (stage === 'connector' || stage === 'segment') raw.push(record);
      else if (stage === 'ingress' && record.value !== null) webhooks.push(record);
      else outcome.skipped += 1;
    }

    if (raw.length > 0) {
      const handled = await options.handle({ ...batch, records: raw });
      outcome.delivered = handled.delivered;
      outcome.deadLettered = handled.deadLettered;
    }

    const publishing: Promise<void>[] = [];
    for (const letter of webhooks) {
      const body = readWebhookBody(letter.value as Buffer);
      outcome.stillRejected += body.rejected.length;
      outcome.toRawTopic += body.accepted.length;
      if (options.dryRun || body.accepted.length === 0) continue;
      const failedAt = Date.parse(letter.headers[DEAD_LETTER_HEADERS.failedAt]?.toString() ?? '');
      publishing.push(
        options.publisher.publish(
          // Refused input is already in the dead-letter topic: writing it again would only duplicate it.
          { accepted: body.accepted, rejected: [] },
          {
            // The ingress stamps a letter's failed.at with the request's receipt time: keep both.
            requestId:
              letter.headers[DEAD_LETTER_HEADERS.requestId]?.toString() ??
              `redrive-${letter.topic}-${letter.partition}-${letter.offset}`,
            receivedAt: Number.isNaN(failedAt) ? Date.now() : failedAt,
          },
        ),
      );
    }
    // All at once: the publisher coalesces them into one produce request.
    await Promise.all(publishing);
    return outcome;
  };
}
