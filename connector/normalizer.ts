/**
 * The normalizer stage on one batch of the raw topic: what the batch becomes in the normalized and
 * dead-letter topics. The caller (Consumer.runTransactions) writes it and commits the batch's offsets in
 * one Kafka transaction, so each raw record's outcome is in those topics exactly once for
 * read_committed readers, whatever crashes, and the stage never waits on a SaaS. Replay's re-normalize
 * runs the same handler over a time range.
 */
import type { RecordBatch, TopicRecords } from '../core/kafka.ts';
import { type BatchOutcome, countByType } from './batch-outcome.ts';
import { createRecordNormalizer, type NormalizeOptions } from './normalize-records.ts';

export interface NormalizerOptions extends NormalizeOptions {
  normalizedTopic: string;
  deadLetterTopic: string;
}

export interface NormalizedBatch {
  /** The records to write: none when `encode` is absent (a dry run maps and counts only). */
  output: TopicRecords[];
  outcome: BatchOutcome;
}

export function createNormalizerHandler(
  options: NormalizerOptions,
): (batch: RecordBatch) => Promise<NormalizedBatch> {
  const normalize = createRecordNormalizer(options);
  const { metrics } = options;
  return async (batch) => {
    const started = process.hrtime.bigint();
    metrics.inFlight.inc(batch.records.length);
    try {
      const { normalized, deadLetters } = await normalize(batch.records);
      const outcome = {
        delivered: countByType(normalized, (item) => item.normalized.event_type),
        deadLettered: deadLetters.length,
      };
      if (!options.encode) return { output: [], outcome };
      metrics.normalized.inc(normalized.length);
      const output: TopicRecords[] = [];
      if (normalized.length > 0) {
        output.push({
          topic: options.normalizedTopic,
          records: normalized.map((item) => ({ key: item.record.key, value: item.encoded as Buffer })),
        });
      }
      if (deadLetters.length > 0) output.push({ topic: options.deadLetterTopic, records: deadLetters });
      return { output, outcome };
    } finally {
      metrics.inFlight.dec(batch.records.length);
      metrics.batchSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    }
  };
}
