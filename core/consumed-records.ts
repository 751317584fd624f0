/**
 * What every stage that consumes a topic does first with a batch, and with a record it cannot take:
 * decode each record (a tombstone or undecodable bytes are that record's dead letter; only a failure a
 * retry may heal, the registry unreachable, throws, so the whole batch comes again), and dead-letter a
 * record with its bytes and key as they were, its origin and the reason.
 */
import { type DeadLetterStage, deadLetterRecord } from './dead-letter.ts';
import { ConnectorError, type ErrorCode, firstLine, isRetriable } from './errors.ts';
import type { IncomingRecord, OutgoingRecord } from './kafka.ts';

export type RejectRecord = (record: IncomingRecord, code: ErrorCode, message: string) => void;

/** The decoded values of `records`, in order; those that can never be decoded go to `reject`. */
export async function decodeRecords<T>(
  records: IncomingRecord[],
  decode: (value: Buffer) => Promise<T>,
  reject: RejectRecord,
): Promise<{ record: IncomingRecord; value: T }[]> {
  const decoded: { record: IncomingRecord; value: T }[] = [];
  for (const record of records) {
    if (record.value === null) {
      reject(record, 'UNDECODABLE_RECORD', 'The record has no value (a tombstone).');
      continue;
    }
    try {
      decoded.push({ record, value: await decode(record.value) });
    } catch (err) {
      // Only a retriable failure (the registry unreachable) is worth the whole batch again; anything
      // else, a ConnectorError or not, is about this record alone and would stall the partition.
      if (isRetriable(err)) throw err;
      reject(record, err instanceof ConnectorError ? err.code : 'UNDECODABLE_RECORD', firstLine(err));
    }
  }
  return decoded;
}

/** The dead letter of a consumed record: its bytes and key as they were, its origin, the reason. */
export function consumedDeadLetter(
  record: IncomingRecord,
  stage: DeadLetterStage,
  code: ErrorCode,
  message: string,
): OutgoingRecord {
  return deadLetterRecord({
    stage,
    code,
    message,
    value: record.value ?? Buffer.alloc(0),
    key: record.key,
    origin: { topic: record.topic, partition: record.partition, offset: record.offset },
    failedAt: new Date(),
  });
}
