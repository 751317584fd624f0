/**
 * Replay's handler of one batch of raw records: both stages in one step, to the targets the replay
 * names. Normalize (decode → identity → map); to Segment, the track calls built from the normalized
 * records, as the Segment sink builds them; then the normalized and dead-letter topics; the caller
 * commits after. The live connector runs the stages apart (normalizer.ts, segment-delivery.ts).
 */
import type { BatchingProducer } from '../core/batching-producer.ts';
import type { ConnectorError } from '../core/errors.ts';
import type { OutgoingRecord, RecordBatch, TopicRecords } from '../core/kafka.ts';
import type { Logger } from '../core/logger.ts';
import type { AvroSerializer } from '../core/schema-registry.ts';
import type { MailjetEventRaw } from '../schemas/index.ts';
import type { ConnectorMetrics } from './metrics.ts';
import { connectorDeadLetter, createRecordNormalizer, type NormalizedRecord } from './normalize-records.ts';
import { type BatchOutcome, countByType, deliverTracks, type TrackItem } from './segment-delivery.ts';
import type { MappingOptions } from './segment-mapping.ts';
import { segmentTrackOf } from './segment-mapping.ts';
import type { SegmentSink } from './segment-sink.ts';

export type { BatchOutcome } from './segment-delivery.ts';

export interface BatchHandlerOptions {
  decode: (buffer: Buffer) => Promise<MailjetEventRaw>;
  mapping: MappingOptions;
  userIdOf: (email: string | null) => string | undefined;
  sink: SegmentSink;
  producer: BatchingProducer;
  normalizedSerializer: AvroSerializer;
  normalizedTopic: string;
  deadLetterTopic: string;
  metrics: ConnectorMetrics;
  logger: Logger;
  /** Aborted when shutdown runs out of time: waiting for Segment stops, nothing more is committed. */
  signal: AbortSignal;
  /** A configuration error no retry can fix (wrong Segment write key): the process must stop. */
  onFatal: (error: ConnectorError) => void;
  /** Where mapped events go; both unless told otherwise (replays may re-send to one only). */
  targets?: { segment: boolean; normalized: boolean };
  /** Decode and map only: nothing goes to Segment or to any topic (replay --dry-run). */
  dryRun?: boolean;
}

export function createBatchHandler(
  options: BatchHandlerOptions,
): (batch: RecordBatch) => Promise<BatchOutcome> {
  const toSegment = !options.dryRun && (options.targets?.segment ?? true);
  const toNormalized = !options.dryRun && (options.targets?.normalized ?? true);
  const normalize = createRecordNormalizer({
    ...options,
    ...(toNormalized ? { encode: (value) => options.normalizedSerializer.encode(value) } : {}),
  });

  return async (batch) => {
    const log = options.logger.child({ topic: batch.topic, partition: batch.partition });
    const { normalized, deadLetters } = await normalize(batch.records);
    const deadLetter = (
      item: NormalizedRecord,
      code: Parameters<typeof connectorDeadLetter>[4],
      message: string,
    ) => deadLetters.push(connectorDeadLetter(log, options.metrics, item.record, 'segment', code, message));

    let reached: { eventType: string }[] = normalized.map((item) => ({
      eventType: item.normalized.event_type,
    }));
    if (toSegment) {
      const items: TrackItem[] = [];
      const byRecord = new Map<object, NormalizedRecord>();
      for (const item of normalized) {
        const call = segmentTrackOf(item.normalized);
        if (!call.ok) {
          deadLetter(item, call.code, call.message);
          continue;
        }
        items.push({ record: item.record, track: call.track, eventType: item.normalized.event_type });
        byRecord.set(item.record, item);
      }
      reached = await deliverTracks(options, items, (item, code, message) =>
        deadLetter(byRecord.get(item.record) as NormalizedRecord, code, message),
      );
    }

    const batches: TopicRecords[] = [];
    if (toNormalized && normalized.length > 0) {
      // Every event that could be normalized, whatever Segment thought of it (as the normalizer does).
      const records: OutgoingRecord[] = normalized.map((item) => ({
        key: item.record.key,
        value: item.encoded as Buffer,
      }));
      batches.push({ topic: options.normalizedTopic, records });
      options.metrics.normalized.inc(records.length);
    }
    if (deadLetters.length > 0) batches.push({ topic: options.deadLetterTopic, records: deadLetters });
    if (!options.dryRun) await options.producer.send(batches, options.signal);
    return { delivered: countByType(reached), deadLettered: batch.records.length - reached.length };
  };
}
