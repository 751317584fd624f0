/**
 * Re-drives one batch of dead letters after a fix, by the stage that wrote them (`dlq.stage`):
 * - `connector` letters hold the original raw Avro record: they go through the normalizer again (same
 *   mapping, same messageIds) into the normalized topic, where the running Segment sink takes them.
 * - `segment` letters hold the normalized record Segment refused: they go to Segment again through the
 *   Segment sink's handler. (Those written before the two stages hold a raw record, named by their
 *   origin topic: they are normalized again, as `connector` letters.)
 * - `ingress` letters hold webhook bytes: the webhook reader reads them again, and what it now accepts
 *   goes to the raw topic through the ingress's own publisher (same Avro serializer, same key), keeping
 *   the original request id and receipt time. What it still refuses stays where it is and is counted.
 * - the Mailjet destination's letters go back to the identify topic, where its worker takes them again:
 *   `mailjet` letters hold the identify topic's own Avro record and are written back as they are;
 *   `intake` letters hold a call's JSON, which the intake's reader reads again (what it now accepts is
 *   published as the intake does, identity record included; what it still refuses stays and is counted).
 * - anything else (no stage header, `normalized`) is counted as skipped.
 * Resolves once what it published reached Kafka (and Segment), with the stages' output for the batch
 * loop to write before it commits.
 */
import type { BatchingProducer, PublishContext } from '../core/batching-producer.ts';
import { DEAD_LETTER_HEADERS } from '../core/dead-letter.ts';
import { ConnectorError } from '../core/errors.ts';
import type { IncomingRecord, RecordBatch, TopicRecords } from '../core/kafka.ts';
import type { StageBatch, StageOutcome } from '../core/pipeline-stage.ts';
import { readIdentifyBody } from '../destination/identify-body.ts';
import type { IdentifyPublisher } from '../destination/identify-publisher.ts';
import type { EventPublisher } from '../ingress/event-publisher.ts';
import { readWebhookBody } from '../ingress/webhook-body.ts';

export interface RedriveOutcome extends StageOutcome {
  toRawTopic: number;
  toIdentifyTopic: number;
  stillRejected: number;
  skipped: number;
}

export function createDeadLetterRedrive(options: {
  /**
   * The normalizer stage (createNormalizerHandler); absent when re-driving the destination's letters (a
   * connector letter there is skipped).
   */
  normalize?: (batch: RecordBatch) => Promise<StageBatch>;
  /** The Segment sink stage (createSegmentDeliveryHandler); absent: Segment is not configured. */
  redeliver?: (batch: RecordBatch) => Promise<StageBatch>;
  /** Where the normalized records come from: a `segment` letter from there holds one. */
  normalizedTopic: string;
  /** The ingress's publisher on the raw topic (createEventPublisher). */
  publisher: EventPublisher;
  /**
   * The Mailjet destination's identify topic, its producer and the intake's publisher on it; only
   * when re-driving the destination's dead-letter topic (otherwise its letters are skipped).
   */
  identify?: { topic: string; producer: BatchingProducer; publisher: IdentifyPublisher };
  dryRun: boolean;
}): (batch: RecordBatch) => Promise<{ output: TopicRecords[]; outcome: RedriveOutcome }> {
  const { identify } = options;
  return async (batch) => {
    const output: TopicRecords[] = [];
    const outcome: RedriveOutcome = {
      delivered: {},
      deadLettered: 0,
      toRawTopic: 0,
      toIdentifyTopic: 0,
      stillRejected: 0,
      skipped: 0,
    };
    const raw: IncomingRecord[] = [];
    const normalized: IncomingRecord[] = [];
    const webhooks: IncomingRecord[] = [];
    const identifyRecords: IncomingRecord[] = [];
    const identifyCalls: IncomingRecord[] = [];
    for (const record of batch.records) {
      const stage = record.headers[DEAD_LETTER_HEADERS.stage]?.toString();
      const origin = record.headers[DEAD_LETTER_HEADERS.originTopic]?.toString();
      if (stage === 'segment' && origin === options.normalizedTopic) normalized.push(record);
      else if (stage === 'connector' || stage === 'segment') raw.push(record);
      else if (stage === 'ingress' && record.value !== null) webhooks.push(record);
      else if (stage === 'mailjet' && record.value !== null && identify) identifyRecords.push(record);
      else if (stage === 'intake' && record.value !== null && identify) identifyCalls.push(record);
      else outcome.skipped += 1;
    }

    if (normalized.length > 0 && !options.redeliver) {
      throw new ConnectorError(
        'CONFIG_INVALID',
        "Re-driving letters Segment refused needs SEGMENT_WRITE_KEY (and SEGMENT_ENDPOINT if not Segment's own).",
      );
    }
    for (const [records, handle] of [
      [raw, options.normalize],
      [normalized, options.redeliver],
    ] as const) {
      if (records.length === 0) continue;
      if (!handle) {
        outcome.skipped += records.length;
        continue;
      }
      const handled = await handle({ ...batch, records });
      output.push(...handled.output);
      outcome.deadLettered += handled.outcome.deadLettered;
      outcome.skipped += handled.outcome.skipped;
      for (const [type, n] of Object.entries(handled.outcome.delivered))
        outcome.delivered[type] = (outcome.delivered[type] ?? 0) + n;
    }

    const publishing: Promise<unknown>[] = [];
    /**
     * Reads intake bodies the dead-letter topic kept again and publishes what is now accepted; returns
     * how many calls or events that is.
     */
    const redriveBodies = <Body extends { accepted: unknown[]; rejected: unknown[] }>(
      letters: IncomingRecord[],
      read: (bytes: Buffer) => Body,
      publish: (body: Body, context: PublishContext) => Promise<unknown>,
    ): number => {
      let accepted = 0;
      for (const letter of letters) {
        const body = read(letter.value as Buffer);
        outcome.stillRejected += body.rejected.length;
        accepted += body.accepted.length;
        if (options.dryRun || body.accepted.length === 0) continue;
        // Refused input is already in the dead-letter topic: writing it again would only duplicate it.
        publishing.push(publish({ ...body, rejected: [] }, publishContextOf(letter)));
      }
      return accepted;
    };
    outcome.toRawTopic += redriveBodies(webhooks, readWebhookBody, (body, context) =>
      options.publisher.publish(body, context),
    );
    // Only filled when re-driving the destination's letters (`identify` given).
    if (identify) {
      outcome.toIdentifyTopic += identifyRecords.length;
      if (!options.dryRun && identifyRecords.length > 0) {
        const records = identifyRecords.map((letter) => ({ key: letter.key, value: letter.value }));
        publishing.push(identify.producer.send([{ topic: identify.topic, records }]));
      }
      outcome.toIdentifyTopic += redriveBodies(identifyCalls, readIdentifyBody, (body, context) =>
        identify.publisher.publish(body, context),
      );
    }
    // All at once: the producer coalesces them into one produce request.
    await Promise.all(publishing);
    return { output, outcome };
  };
}

/**
 * The request id and receipt time a re-driven intake body is published with: the intake stamps a
 * letter's failed.at with the request's receipt time, so both are kept.
 */
function publishContextOf(letter: IncomingRecord): PublishContext {
  const failedAt = Date.parse(letter.headers[DEAD_LETTER_HEADERS.failedAt]?.toString() ?? '');
  return {
    requestId:
      letter.headers[DEAD_LETTER_HEADERS.requestId]?.toString() ??
      `redrive-${letter.topic}-${letter.partition}-${letter.offset}`,
    receivedAt: Number.isNaN(failedAt) ? Date.now() : failedAt,
  };
}
