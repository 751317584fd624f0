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
    [DEAD_LETTER_HEADERS.errorMessage]: cut(letter.message, MAX_DEAD_LETTER_MESSAGE_CHARS),
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

/**
 * How much of an offending value a reason quotes: enough to recognise it. A reason goes into a header
 * and a log line, so it must not grow with the input; the dead letter's value holds all of it.
 */
export const MAX_QUOTED_CHARS = 100;

/** The guard on the dlq.error.message header and the logged reason, whatever a stage wrote into it. */
export const MAX_DEAD_LETTER_MESSAGE_CHARS = 500;

/**
 * `value` as a reason quotes it: JSON (strings in quotes), cut past `maxChars` with an ellipsis and the
 * original length, so `unknown event type "xxxx…" (300000 characters)` still says what was wrong.
 * Never throws: a value JSON.stringify refuses is named by its kind.
 */
export function quoteForReason(value: unknown, maxChars = MAX_QUOTED_CHARS): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') {
    if (value.length <= maxChars) return JSON.stringify(value);
    // Cut before quoting: a cut quoted text could end inside an escape.
    return `${JSON.stringify(value.slice(0, maxChars)).slice(0, -1)}…" (${value.length} characters)`;
  }
  let json: string;
  try {
    json = JSON.stringify(value) ?? String(value);
  } catch {
    json = Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : `a ${typeof value}`;
  }
  return cut(json, maxChars);
}

function cut(text: string, maxChars: number): string {
  return text.length <= maxChars ? text : `${text.slice(0, maxChars)}… (${text.length} characters)`;
}

/** Dead letters of one request logged one by one; past this, one summary line counts the rest by code. */
export const MAX_DEAD_LETTER_LOG_LINES = 10;

/**
 * Logs what one intake request dead-lettered: each letter's reason for the first few, then one line
 * with the counts by code. A body of 30,000 bad elements is one request's problem, not 30,000 lines;
 * every letter is in the dead-letter topic with its reason anyway. Returns the counts by code, for metrics.
 */
export function logDeadLetters(
  log: { warn(fields: object, message: string): void },
  letters: readonly { code: ErrorCode; reason: string }[],
): Map<ErrorCode, number> {
  const byCode = new Map<ErrorCode, number>();
  letters.forEach(({ code, reason }, index) => {
    byCode.set(code, (byCode.get(code) ?? 0) + 1);
    // Capped as the header is: a reason may quote input that is itself the problem (a huge MessageID).
    if (index < MAX_DEAD_LETTER_LOG_LINES) {
      log.warn({ code }, `dead-lettered: ${cut(reason, MAX_DEAD_LETTER_MESSAGE_CHARS)}`);
    }
  });
  if (letters.length > MAX_DEAD_LETTER_LOG_LINES) {
    log.warn(
      { deadLettered: Object.fromEntries(byCode) },
      `dead-lettered ${letters.length} items of this request; the first ${MAX_DEAD_LETTER_LOG_LINES} are logged above, every one is in the dead-letter topic with its reason`,
    );
  }
  return byCode;
}
