/**
 * Dead-letter records: the original bytes, untouched, plus headers that say where they came from and
 * why they could not go on. One format for every stage, so one re-drive tool serves them all.
 */
import type { ErrorCode } from './errors.ts';
import type { OutgoingRecord } from './kafka.ts';

export const DEAD_LETTER_HEADERS = {
  stage: 'dlq.stage',
  errorCode: 'dlq.error.code',
  errorMessage: 'dlq.error.message',
  originTopic: 'dlq.origin.topic',
  originPartition: 'dlq.origin.partition',
  originOffset: 'dlq.origin.offset',
  failedAt: 'dlq.failed.at',
  requestId: 'dlq.request.id',
} as const;

export type DeadLetterStage = 'ingress' | 'connector' | 'segment' | 'normalized' | 'intake' | 'mailjet';

export interface DeadLetter {
  stage: DeadLetterStage;
  code: ErrorCode;
  message: string;
  value: Buffer;
  key: string | Buffer | null;
  /** Where a consumed record came from; absent for input that never reached a topic (webhooks). */
  origin?: { topic: string; partition: number; offset: string };
  requestId?: string;
  failedAt: Date;
}

export function deadLetterRecord(letter: DeadLetter): OutgoingRecord {
  const headers: Record<string, string> = {
    [DEAD_LETTER_HEADERS.stage]: letter.stage,
    [DEAD_LETTER_HEADERS.errorCode]: letter.code,
    [DEAD_LETTER_HEADERS.errorMessage]: letter.message,
    [DEAD_LETTER_HEADERS.failedAt]: letter.failedAt.toISOString(),
  };
  if (letter.origin) {
    headers[DEAD_LETTER_HEADERS.originTopic] = letter.origin.topic;
    headers[DEAD_LETTER_HEADERS.originPartition] = String(letter.origin.partition);
    headers[DEAD_LETTER_HEADERS.originOffset] = letter.origin.offset;
  }
  if (letter.requestId) headers[DEAD_LETTER_HEADERS.requestId] = letter.requestId;
  return { key: letter.key, value: letter.value, headers };
}
