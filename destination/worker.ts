/**
 * What the destination's worker does with one fetched batch of identify records: decode → map to
 * contact updates → write to Mailjet (the writer fits each call's values, then folds the calls that fit
 * into one write per contact) → dead-letter what did not fit or Mailjet refused → (the caller commits).
 * Records that can never succeed go to the dead-letter topic with the reason; anything that may pass on
 * a retry (Mailjet or the registry down) throws, so nothing is committed and the batch comes again.
 * Calls without an email are skipped: Mailjet contacts are keyed by email.
 */
import type { BatchingProducer } from '../core/batching-producer.ts';
import { consumedDeadLetter, decodeRecords } from '../core/consumed-records.ts';
import { ConnectorError, type ErrorCode, firstLine } from '../core/errors.ts';
import type { IncomingRecord, OutgoingRecord, RecordBatch } from '../core/kafka.ts';
import type { Logger } from '../core/logger.ts';
import type { SegmentIdentify } from '../schemas/index.ts';
import { type ContactUpdate, contactUpdateOf } from './contact-mapping.ts';
import type { ContactWriter } from './contact-writer.ts';
import type { DestinationMetrics } from './metrics.ts';

export interface WorkerOptions {
  decode: (buffer: Buffer) => Promise<SegmentIdentify>;
  writer: ContactWriter;
  producer: BatchingProducer;
  deadLetterTopic: string;
  metrics: DestinationMetrics;
  logger: Logger;
  /** Aborted when shutdown runs out of time: waiting for Mailjet stops, nothing more is committed. */
  signal: AbortSignal;
  /** An error no retry can fix (wrong key pair, missing list): the process must stop. */
  onFatal: (error: ConnectorError) => void;
  heartbeatIntervalMs?: number;
}

export interface WorkerOutcome {
  upserted: number;
  deadLettered: number;
  skipped: number;
}

export function createWorkerHandler(options: WorkerOptions): (batch: RecordBatch) => Promise<WorkerOutcome> {
  const { metrics } = options;
  return async (batch) => {
    const started = process.hrtime.bigint();
    const log = options.logger.child({ topic: batch.topic, partition: batch.partition });
    const deadLetters: OutgoingRecord[] = [];
    const deadLetter = (record: IncomingRecord, code: ErrorCode, message: string) => {
      log.warn({ offset: record.offset, code }, `dead-lettered: ${message}`);
      deadLetters.push(consumedDeadLetter(record, 'mailjet', code, message));
    };

    const updates: { update: ContactUpdate; origin: IncomingRecord }[] = [];
    let skipped = 0;
    for (const { record, value: identify } of await decodeRecords(
      batch.records,
      options.decode,
      deadLetter,
    )) {
      try {
        const mapping = contactUpdateOf(identify);
        if (mapping.ok) updates.push({ update: mapping.update, origin: record });
        else if (mapping.reason === 'no-email') skipped++;
        else deadLetter(record, 'IDENTIFY_INVALID', mapping.message);
      } catch (err) {
        // The record's content hit a bug or a limit of the runtime: a retry meets it again.
        deadLetter(record, 'IDENTIFY_INVALID', `Mapping the call failed: ${firstLine(err)}`);
      }
    }

    // Mailjet may make us wait for a long time (429s, an outage): the group must still see us alive.
    const heartbeat = setInterval(() => {
      batch.heartbeat().catch((err: unknown) => log.debug({ err }, 'heartbeat failed'));
    }, options.heartbeatIntervalMs ?? 3000);
    let upserted = 0;
    try {
      // In order, call by call: the writer folds each contact's calls into one write.
      const report = await options.writer.write(updates, options.signal);
      upserted = report.upserted.length;
      for (const { item, code, message } of report.rejected) deadLetter(item.origin, code, message);
    } catch (err) {
      if (err instanceof ConnectorError && !err.retriable) options.onFatal(err);
      throw err;
    } finally {
      clearInterval(heartbeat);
    }

    if (deadLetters.length > 0) {
      await options.producer.send([{ topic: options.deadLetterTopic, records: deadLetters }], options.signal);
    }
    metrics.workerCalls.inc({ outcome: 'upserted' }, upserted);
    metrics.workerCalls.inc({ outcome: 'dead_lettered' }, deadLetters.length);
    metrics.workerCalls.inc({ outcome: 'skipped' }, skipped);
    metrics.batchSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    return { upserted, deadLettered: deadLetters.length, skipped };
  };
}
