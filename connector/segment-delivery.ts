/**
 * The Segment sink stage on one batch of the normalized topic: decode → track call (from the normalized
 * record alone) → Segment → dead-letter topic for what Segment refuses → (the caller commits). At least
 * once: a batch comes again after a crash before its commit, and its deterministic messageIds make that
 * harmless in Segment. Only what a retry may heal throws (the registry or Segment unreachable, Kafka
 * down): then nothing is committed and the batch comes again.
 */
import type { BatchingProducer } from '../core/batching-producer.ts';
import { decodeRecords } from '../core/consumed-records.ts';
import { ConnectorError, type ErrorCode } from '../core/errors.ts';
import type { IncomingRecord, OutgoingRecord, RecordBatch } from '../core/kafka.ts';
import type { Logger } from '../core/logger.ts';
import type { MailjetEventNormalized } from '../schemas/index.ts';
import { type BatchOutcome, countByType } from './batch-outcome.ts';
import type { ConnectorMetrics } from './metrics.ts';
import { connectorDeadLetter } from './normalize-records.ts';
import { type SegmentTrack, segmentTrackOf } from './segment-mapping.ts';
import type { SegmentSink } from './segment-sink.ts';

export interface TrackItem {
  record: IncomingRecord;
  track: SegmentTrack;
  eventType: string;
}

export interface SegmentDeliveryOptions {
  sink: SegmentSink;
  metrics: ConnectorMetrics;
  logger: Logger;
  /** Aborted when shutdown runs out of time: waiting for Segment stops, nothing more is committed. */
  signal: AbortSignal;
  /** A configuration error no retry can fix (wrong Segment write key): the process must stop. */
  onFatal: (error: ConnectorError) => void;
}

/**
 * Delivers the items' track calls; returns those Segment took, after dead-lettering (through `reject`)
 * those it refuses for good. Throws what a retry may heal, and reports a refused write key as fatal.
 */
export async function deliverTracks(
  options: SegmentDeliveryOptions,
  items: TrackItem[],
  reject: (item: TrackItem, code: ErrorCode, message: string) => void,
): Promise<TrackItem[]> {
  if (items.length === 0) return [];
  try {
    const report = await options.sink.deliver(
      items.map((item) => item.track as unknown as { messageId: string }),
      options.signal,
    );
    const byEvent = new Map<string, number>();
    if (report.rejected.length === 0) {
      countDelivered(options.metrics, items, byEvent);
      return items;
    }
    const byTrack = new Map<object, TrackItem>(items.map((item) => [item.track, item]));
    const rejected = new Set<TrackItem>();
    for (const { event, code, message } of report.rejected) {
      const item = byTrack.get(event);
      if (!item) continue;
      rejected.add(item);
      reject(item, code, message);
    }
    const delivered = items.filter((item) => !rejected.has(item));
    countDelivered(options.metrics, delivered, byEvent);
    return delivered;
  } catch (err) {
    if (err instanceof ConnectorError && !err.retriable) options.onFatal(err);
    throw err;
  }
}

/** Counted per batch, then added once per label: a labelled inc per event cost more than counting. */
function countDelivered(metrics: ConnectorMetrics, items: TrackItem[], byEvent: Map<string, number>): void {
  for (const item of items) byEvent.set(item.track.event, (byEvent.get(item.track.event) ?? 0) + 1);
  for (const [event, count] of byEvent) metrics.segmentEvents.inc({ event }, count);
}

export function createSegmentDeliveryHandler(
  options: SegmentDeliveryOptions & {
    decode: (buffer: Buffer) => Promise<MailjetEventNormalized>;
    producer: BatchingProducer;
    deadLetterTopic: string;
    /** Decode and build the calls only: nothing goes to Segment or to the dead-letter topic (replay --dry-run). */
    dryRun?: boolean;
  },
): (batch: RecordBatch) => Promise<BatchOutcome> {
  const { metrics } = options;
  return async (batch) => {
    const started = process.hrtime.bigint();
    const log = options.logger.child({ topic: batch.topic, partition: batch.partition });
    metrics.inFlight.inc(batch.records.length);
    try {
      const deadLetters: OutgoingRecord[] = [];
      const deadLetter = (record: IncomingRecord, code: ErrorCode, message: string) => {
        deadLetters.push(connectorDeadLetter(log, metrics, record, 'segment', code, message));
      };
      const items: TrackItem[] = [];
      for (const { record, value: normalized } of await decodeRecords(
        batch.records,
        options.decode,
        deadLetter,
      )) {
        const call = segmentTrackOf(normalized);
        if (!call.ok) deadLetter(record, call.code, call.message);
        else items.push({ record, track: call.track, eventType: normalized.event_type });
      }
      const delivered = options.dryRun
        ? items
        : await deliverTracks(options, items, (item, code, message) =>
            deadLetter(item.record, code, message),
          );
      if (deadLetters.length > 0 && !options.dryRun)
        await options.producer.send(
          [{ topic: options.deadLetterTopic, records: deadLetters }],
          options.signal,
        );
      metrics.records.inc({ outcome: 'delivered' }, delivered.length);
      metrics.records.inc({ outcome: 'dead_lettered' }, batch.records.length - delivered.length);
      return {
        delivered: countByType(delivered, (item) => item.eventType),
        deadLettered: batch.records.length - delivered.length,
      };
    } finally {
      metrics.inFlight.dec(batch.records.length);
      metrics.batchSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    }
  };
}
