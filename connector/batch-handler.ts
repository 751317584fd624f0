/**
 * What the connector does with one fetched batch of raw records, in this order: decode → map → Segment →
 * normalized and dead-letter topics → (the caller commits). A record is committed only once its event
 * reached Segment and the normalized topic, or the dead-letter topic with the reason. Anything that may
 * succeed on a retry (registry or Kafka down, Segment down) throws instead, so nothing is committed and
 * the batch comes again; records that can never succeed go to the dead-letter topic and the partition
 * goes on.
 */
import type { BatchingProducer } from '../core/batching-producer.ts';
import { type DeadLetterStage, deadLetterRecord } from '../core/dead-letter.ts';
import { ConnectorError, type ErrorCode, firstLine, isRetriable } from '../core/errors.ts';
import type { IncomingRecord, OutgoingRecord, RecordBatch, TopicRecords } from '../core/kafka.ts';
import type { Logger } from '../core/logger.ts';
import type { AvroSerializer } from '../core/schema-registry.ts';
import type { MailjetEventNormalized, MailjetEventRaw } from '../schemas/index.ts';
import type { ConnectorMetrics } from './metrics.ts';
import { type MappingOptions, mapMailjetEvent, type SegmentTrack } from './segment-mapping.ts';
import type { SegmentSink } from './segment-sink.ts';

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
  heartbeatIntervalMs?: number;
  /** Where mapped events go; both unless told otherwise (replays may re-send to one only). */
  targets?: { segment: boolean; normalized: boolean };
  /** Decode and map only: nothing goes to Segment or to any topic (replay --dry-run). */
  dryRun?: boolean;
}

/** What became of one batch's records; the live connector ignores it, replays count it. */
export interface BatchOutcome {
  /** Events that reached every target (in a dry run: mapped), by Mailjet event type. */
  delivered: Record<string, number>;
  /** Records dead-lettered (in a dry run: that would be). */
  deadLettered: number;
}

interface Mapped {
  record: IncomingRecord;
  track: SegmentTrack;
  normalized: MailjetEventNormalized;
  /** The normalized record's value; absent when the normalized topic is not a target. */
  encoded: Buffer | undefined;
}

export function createBatchHandler(
  options: BatchHandlerOptions,
): (batch: RecordBatch) => Promise<BatchOutcome> {
  const { metrics } = options;
  const toSegment = !options.dryRun && (options.targets?.segment ?? true);
  const toNormalized = !options.dryRun && (options.targets?.normalized ?? true);

  return async (batch) => {
    const started = process.hrtime.bigint();
    const log = options.logger.child({ topic: batch.topic, partition: batch.partition });
    metrics.inFlight.inc(batch.records.length);
    try {
      const deadLetters: OutgoingRecord[] = [];
      const deadLetter = (
        record: IncomingRecord,
        stage: DeadLetterStage,
        code: ErrorCode,
        message: string,
      ) => {
        log.warn({ offset: record.offset, code }, `dead-lettered: ${message}`);
        metrics.deadLettered.inc({ stage, code });
        deadLetters.push(
          deadLetterRecord({
            stage,
            code,
            message,
            value: record.value ?? Buffer.alloc(0),
            key: record.key,
            origin: { topic: record.topic, partition: record.partition, offset: record.offset },
            failedAt: new Date(),
          }),
        );
      };

      const mapped: Mapped[] = [];
      for (const record of batch.records) {
        if (record.value === null) {
          deadLetter(record, 'connector', 'UNDECODABLE_RECORD', 'The record has no value (a tombstone).');
          continue;
        }
        let raw: MailjetEventRaw;
        try {
          raw = await options.decode(record.value);
        } catch (err) {
          // Only a retriable failure (the registry unreachable) is worth the whole batch again; anything
          // else, a ConnectorError or not, is about this record alone and would stall the partition.
          if (isRetriable(err)) throw err;
          const code = err instanceof ConnectorError ? err.code : 'UNDECODABLE_RECORD';
          deadLetter(record, 'connector', code, firstLine(err));
          continue;
        }
        try {
          const result = mapMailjetEvent(raw, options.mapping, { knownUserId: options.userIdOf(raw.email) });
          if (!result.ok) {
            deadLetter(record, 'connector', result.code, result.message);
            continue;
          }
          // Encoded before Segment sees the event: one that cannot be written to the normalized topic
          // is dead-lettered whole instead of reaching one target only.
          const encoded = toNormalized ? options.normalizedSerializer.encode(result.normalized) : undefined;
          mapped.push({ record, track: result.track, normalized: result.normalized, encoded });
        } catch (err) {
          // A bug or a limit of the runtime (a field nested too deep overflows the call stack) on this
          // record's content: a retry meets it again, so it is this record's dead letter.
          deadLetter(record, 'connector', 'UNMAPPABLE_EVENT', `Mapping the event failed: ${firstLine(err)}`);
        }
      }

      const delivered = toSegment
        ? await deliverToSegment(options, batch, mapped, log, (item, code, message) =>
            deadLetter(item.record, 'segment', code, message),
          )
        : mapped;

      const batches: TopicRecords[] = [];
      if (toNormalized && delivered.length > 0) {
        batches.push({
          topic: options.normalizedTopic,
          records: delivered.map((item) => ({ key: item.record.key, value: item.encoded as Buffer })),
        });
      }
      if (deadLetters.length > 0) batches.push({ topic: options.deadLetterTopic, records: deadLetters });
      if (!options.dryRun) await options.producer.send(batches, options.signal);

      // Counted per batch, then added once per label: a labelled inc per event cost more than counting.
      const byType: Record<string, number> = {};
      const byEventName = new Map<string, number>();
      for (const item of delivered) {
        const type = item.normalized.event_type;
        byType[type] = (byType[type] ?? 0) + 1;
        byEventName.set(item.track.event, (byEventName.get(item.track.event) ?? 0) + 1);
      }
      if (toNormalized) metrics.normalized.inc(delivered.length);
      if (toSegment) for (const [event, count] of byEventName) metrics.segmentEvents.inc({ event }, count);
      metrics.records.inc({ outcome: 'delivered' }, delivered.length);
      metrics.records.inc({ outcome: 'dead_lettered' }, batch.records.length - delivered.length);
      return { delivered: byType, deadLettered: batch.records.length - delivered.length };
    } finally {
      metrics.inFlight.dec(batch.records.length);
      metrics.batchSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    }
  };
}

async function deliverToSegment(
  options: BatchHandlerOptions,
  batch: RecordBatch,
  mapped: Mapped[],
  log: Logger,
  reject: (item: Mapped, code: ErrorCode, message: string) => void,
): Promise<Mapped[]> {
  if (mapped.length === 0) return [];
  // Segment may be down for hours: the group must still see this member alive meanwhile.
  const heartbeat = setInterval(() => {
    batch.heartbeat().catch((err: unknown) => log.debug({ err }, 'heartbeat failed'));
  }, options.heartbeatIntervalMs ?? 3000);
  try {
    const report = await options.sink.deliver(
      mapped.map((item) => item.track as unknown as { messageId: string }),
      options.signal,
    );
    if (report.rejected.length === 0) return mapped;
    const byTrack = new Map<object, Mapped>(mapped.map((item) => [item.track, item]));
    const rejected = new Set<Mapped>();
    for (const { event, code, message } of report.rejected) {
      const item = byTrack.get(event);
      if (!item) continue;
      rejected.add(item);
      reject(item, code, message);
    }
    return mapped.filter((item) => !rejected.has(item));
  } catch (err) {
    if (err instanceof ConnectorError && !err.retriable) options.onFatal(err);
    throw err;
  } finally {
    clearInterval(heartbeat);
  }
}
