/**
 * The normalizer stage: a raw record → identity → the normalized record (Confluent wire format), or the
 * reason it cannot be one (its dead letter). It delivers nothing itself: what a batch becomes is written
 * with the batch's offsets in one Kafka transaction (Consumer.runTransactions), so each raw record's
 * outcome is in the normalized and dead-letter topics exactly once for read_committed readers, whatever
 * crashes, and the stage never waits on a SaaS. Replay's re-normalize runs the same stage over a range.
 */

import type { RecordBatch } from '../core/kafka.ts';
import {
  createStageHandler,
  deliveredCount,
  type StageBatch,
  type StageDefinition,
  type StageOptions,
} from '../core/pipeline-stage.ts';
import type { MailjetEventNormalized, MailjetEventRaw } from '../schemas/index.ts';
import type { ConnectorMetrics } from './metrics.ts';
import { type MappingOptions, mapMailjetEvent } from './segment-mapping.ts';

export interface NormalizerOptions extends Omit<StageOptions, 'metrics' | 'onOutcome' | 'signal'> {
  decode: (buffer: Buffer) => Promise<MailjetEventRaw>;
  mapping: MappingOptions;
  userIdOf: (email: string | null) => string | undefined;
  /** The normalized record's value (Confluent wire format); absent in a dry run, which writes nothing. */
  encode?: (normalized: MailjetEventNormalized) => Buffer;
  normalizedTopic: string;
  metrics: ConnectorMetrics;
}

interface NormalizedItem {
  normalized: MailjetEventNormalized;
  encoded: Buffer | undefined;
}

export function normalizerStage(
  options: NormalizerOptions,
): StageDefinition<MailjetEventRaw, NormalizedItem> {
  return {
    stage: 'connector',
    decode: options.decode,
    map(raw) {
      const result = mapMailjetEvent(raw, options.mapping, { knownUserId: options.userIdOf(raw.email) });
      if (!result.ok) return result;
      // Encoded here, per record: a value the schema cannot hold (a mapping bug) is this record's dead
      // letter, not a failure of the whole batch.
      return {
        ok: true,
        item: { normalized: result.normalized, encoded: options.encode?.(result.normalized) },
      };
    },
    mapFailure: { code: 'UNMAPPABLE_EVENT', what: 'Mapping the event' },
    output: (delivered) =>
      options.encode
        ? [
            {
              topic: options.normalizedTopic,
              records: delivered.map(({ record, item }) => ({
                key: record.key,
                value: item.encoded as Buffer,
              })),
            },
          ]
        : [],
    typeOf: (item) => item.normalized.event_type,
  };
}

export function createNormalizerHandler(
  options: NormalizerOptions,
): (batch: RecordBatch) => Promise<StageBatch> {
  const { metrics } = options;
  return createStageHandler(normalizerStage(options), {
    ...options,
    metrics,
    onOutcome: (outcome) => {
      if (options.encode) metrics.normalized.inc(deliveredCount(outcome));
    },
  });
}
