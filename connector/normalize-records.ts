/**
 * The normalizer's work on one batch of raw records, without I/O of its own: decode → identity → map →
 * encode. Every record ends as a normalized value or as a dead letter with the reason; only a failure a
 * retry may heal (the registry unreachable while decoding) throws, so the batch comes again. What
 * happens to the result (a transaction, a replay's counts) is the caller's.
 */
import { consumedDeadLetter, decodeRecords } from '../core/consumed-records.ts';
import type { DeadLetterStage } from '../core/dead-letter.ts';
import type { ErrorCode } from '../core/errors.ts';
import { firstLine } from '../core/errors.ts';
import type { IncomingRecord, OutgoingRecord } from '../core/kafka.ts';
import type { Logger } from '../core/logger.ts';
import type { MailjetEventNormalized, MailjetEventRaw } from '../schemas/index.ts';
import type { ConnectorMetrics } from './metrics.ts';
import { type MappingOptions, mapMailjetEvent } from './segment-mapping.ts';

export interface NormalizeOptions {
  decode: (buffer: Buffer) => Promise<MailjetEventRaw>;
  mapping: MappingOptions;
  userIdOf: (email: string | null) => string | undefined;
  /** The normalized record's value (Confluent wire format); absent: not encoded (dry runs). */
  encode?: (normalized: MailjetEventNormalized) => Buffer;
  metrics: ConnectorMetrics;
  logger: Logger;
}

export interface NormalizedRecord {
  /** The raw record it came from. */
  record: IncomingRecord;
  normalized: MailjetEventNormalized;
  /** Absent when the caller asked for no encoding. */
  encoded: Buffer | undefined;
}

export interface NormalizedRecords {
  normalized: NormalizedRecord[];
  /** Dead-letter records of the raw records that cannot be normalized, in order. */
  deadLetters: OutgoingRecord[];
}

/** A consumed record's dead letter, logged and counted (the connector's stages). */
export function connectorDeadLetter(
  log: Logger,
  metrics: ConnectorMetrics,
  record: IncomingRecord,
  stage: DeadLetterStage,
  code: ErrorCode,
  message: string,
): OutgoingRecord {
  log.warn(
    { topic: record.topic, partition: record.partition, offset: record.offset, code },
    `dead-lettered: ${message}`,
  );
  metrics.deadLettered.inc({ stage, code });
  return consumedDeadLetter(record, stage, code, message);
}

export function createRecordNormalizer(
  options: NormalizeOptions,
): (records: IncomingRecord[]) => Promise<NormalizedRecords> {
  const { metrics, logger } = options;
  return async (records) => {
    const normalized: NormalizedRecord[] = [];
    const deadLetters: OutgoingRecord[] = [];
    const deadLetter = (record: IncomingRecord, code: ErrorCode, message: string) => {
      deadLetters.push(connectorDeadLetter(logger, metrics, record, 'connector', code, message));
    };
    for (const { record, value: raw } of await decodeRecords(records, options.decode, deadLetter)) {
      try {
        const result = mapMailjetEvent(raw, options.mapping, { knownUserId: options.userIdOf(raw.email) });
        if (!result.ok) {
          deadLetter(record, result.code, result.message);
          continue;
        }
        const encoded = options.encode?.(result.normalized);
        normalized.push({ record, normalized: result.normalized, encoded });
      } catch (err) {
        // A bug or a limit of the runtime (a field nested too deep overflows the call stack) on this
        // record's content, or a value the normalized schema cannot hold: a retry meets it again.
        deadLetter(record, 'UNMAPPABLE_EVENT', `Mapping the event failed: ${firstLine(err)}`);
      }
    }
    return { normalized, deadLetters };
  };
}
