/**
 * Splits one request body of the identify intake into the identify calls we store, the calls we
 * dead-letter and the calls we ignore. Pure: no I/O, no clock. Bodies come in three shapes: one call
 * object (Segment's /v1/identify), `{ batch: [...] }` (Segment's /v1/batch) and a bare array of calls
 * (a Segment webhook destination with batching on). A webhook destination sends every call of its
 * source, so track, page, screen, group and alias calls are counted and dropped, not errors.
 * Numbers keep their digits (a numeric userId may exceed 2^53), as in the ingress.
 */
import { createHash } from 'node:crypto';
import { quoteForReason } from '../core/dead-letter.ts';
import type { ErrorCode } from '../core/errors.ts';
import {
  exactText,
  exceedsDepth,
  isJsonObject,
  MAX_JSON_DEPTH,
  readJsonBody,
  stringifyLosslessJson,
  tooDeepReason,
} from '../core/lossless-json.ts';
import type { SegmentIdentify } from '../schemas/index.ts';

/** One identify call, with what the identify topic's fields need taken out of it (see the .avsc docs). */
export interface AcceptedIdentify {
  messageId: string;
  userId: string | null;
  anonymousId: string | null;
  email: string | null;
  /** `traits` as JSON text, "{}" when absent. */
  traitsJson: string;
  audienceKey: string | null;
  /** The call as JSON text, without any `writeKey`, with the batch's `context` merged in. */
  callJson: string;
  /** Milliseconds since the epoch from the call's `timestamp` or `receivedAt`; null: use the receive time. */
  timestamp: number | null;
  /** The record key: email in lower case, else userId, else anonymousId. */
  key: string;
}

export type RejectionCode = Extract<ErrorCode, 'IDENTIFY_INVALID' | 'JSON_TOO_DEEP'>;

export interface RejectedCall {
  code: RejectionCode;
  reason: string;
  /** The bytes to keep: the whole body when it is not JSON, else the offending call as JSON text. */
  raw: Buffer;
  key: string | null;
}

export interface IdentifyBody {
  accepted: AcceptedIdentify[];
  rejected: RejectedCall[];
  /** Calls of other types (track, page, …): neither stored nor errors. */
  ignored: number;
  /** `writeKey` of the body (a single call or a batch envelope). */
  writeKey?: string;
}

export interface ReadOptions {
  /** On /v1/identify a call without `type` is an identify, as Segment's own endpoint takes it. */
  impliedType?: 'identify';
}

/** Segment's call types other than identify (the Segment spec); anything else is a mistake. */
const OTHER_CALL_TYPES = new Set(['track', 'page', 'screen', 'group', 'alias']);

export function readIdentifyBody(body: Buffer, options: ReadOptions = {}): IdentifyBody {
  // Two levels of envelope: a batch object and its array.
  const read = readJsonBody(body, 2);
  if (!read.ok) {
    return { ...empty(), rejected: [reject(read.reason, body, null, 'IDENTIFY_INVALID')] };
  }
  const parsed = read.value;
  const checks: CallChecks = { ...options, mayBeTooDeep: read.mayBeTooDeep };
  const result = empty();
  if (isJsonObject(parsed) && typeof parsed.writeKey === 'string') result.writeKey = parsed.writeKey;
  let calls: unknown[];
  let where: (index: number) => string;
  let batchContext: Record<string, unknown> | undefined;
  if (Array.isArray(parsed)) {
    calls = parsed;
    where = (index) => `call ${index}`;
  } else if (isJsonObject(parsed) && 'batch' in parsed) {
    if (!Array.isArray(parsed.batch)) {
      const { writeKey: _writeKey, ...envelope } = parsed;
      const reason = `"batch" must be an array of calls, got ${kindOf(parsed.batch)}`;
      return { ...result, rejected: [reject(reason, Buffer.from(stringifyLosslessJson(envelope)), null)] };
    }
    calls = parsed.batch;
    where = (index) => `batch call ${index}`;
    if (isJsonObject(parsed.context)) batchContext = parsed.context;
  } else {
    calls = [parsed];
    where = () => 'the body';
  }

  calls.forEach((call, index) => {
    const outcome = readCall(call, where(index), checks, batchContext);
    if (outcome === 'ignored') result.ignored++;
    else if ('code' in outcome) result.rejected.push(outcome);
    else result.accepted.push(outcome);
  });
  return result;
}

/** The identify topic's value for an accepted call: what the intake writes (tests build it the same way). */
export function identifyValue(
  call: AcceptedIdentify,
  { requestId, receivedAt }: { requestId: string; receivedAt: number },
): SegmentIdentify {
  return {
    message_id: call.messageId,
    user_id: call.userId,
    anonymous_id: call.anonymousId,
    email: call.email,
    traits_json: call.traitsJson,
    audience_key: call.audienceKey,
    call_json: call.callJson,
    timestamp: call.timestamp ?? receivedAt,
    received_at: receivedAt,
    request_id: requestId,
  };
}

interface CallChecks extends ReadOptions {
  /** The body reaches past MAX_JSON_DEPTH: each call is measured. */
  mayBeTooDeep: boolean;
}

function readCall(
  element: unknown,
  where: string,
  options: CallChecks,
  batchContext: Record<string, unknown> | undefined,
): AcceptedIdentify | RejectedCall | 'ignored' {
  const tooDeep = (value: unknown) => options.mayBeTooDeep && exceedsDepth(value, MAX_JSON_DEPTH);
  if (!isJsonObject(element)) {
    if (tooDeep(element))
      return reject(tooDeepReason(where), Buffer.from(textOf(element)), null, 'JSON_TOO_DEEP');
    return reject(`${where} is ${kindOf(element)}, not a call object`, Buffer.from(textOf(element)), null);
  }
  // The write key is a credential: it must not reach Kafka, in the identify topic or a dead letter.
  const { writeKey: _writeKey, ...rest } = element;
  const call: Record<string, unknown> = rest;
  // Segment's batch endpoint applies the envelope's context to every call; the call's own keys win.
  if (batchContext) call.context = { ...batchContext, ...(isJsonObject(call.context) ? call.context : {}) };

  const type = call.type ?? options.impliedType;
  const userId = idText(call.userId);
  const anonymousId = idText(call.anonymousId);
  const traits = call.traits ?? null;
  const context = isJsonObject(call.context) ? call.context : {};
  const email =
    emailOf(isJsonObject(traits) ? traits : undefined) ??
    emailOf(isJsonObject(context.traits) ? context.traits : undefined);
  const key =
    email?.toLowerCase() ??
    (typeof userId === 'string' ? userId : null) ??
    (typeof anonymousId === 'string' ? anonymousId : null);
  // Measured with the batch context merged in: that is what would be stored.
  if (tooDeep(call)) return reject(tooDeepReason(where), Buffer.from(textOf(call)), key, 'JSON_TOO_DEEP');
  // Bounded from here on: the call nests at most MAX_JSON_DEPTH levels.
  const json = JSON.stringify(call);
  const invalid = (reason: string) => reject(`${where}: ${reason}`, Buffer.from(json), key);

  if (type === undefined) return invalid('"type" is missing (only POST /v1/identify implies "identify")');
  if (typeof type !== 'string') return invalid(`"type" must be a string, got ${kindOf(type)}`);
  if (type !== 'identify') {
    if (OTHER_CALL_TYPES.has(type)) return 'ignored';
    return invalid(
      `unknown call type ${quoteForReason(type)} (Segment's are identify, ${[...OTHER_CALL_TYPES].join(', ')})`,
    );
  }
  if (userId instanceof Error) return invalid(`"userId" ${userId.message}`);
  if (anonymousId instanceof Error) return invalid(`"anonymousId" ${anonymousId.message}`);
  if (userId === null && anonymousId === null) {
    return invalid('an identify needs a "userId" or an "anonymousId" (a non-empty string or a number)');
  }
  if (traits !== null && !isJsonObject(traits))
    return invalid(`"traits" must be an object, got ${kindOf(traits)}`);

  const personas = isJsonObject(context.personas) ? context.personas : {};
  return {
    messageId:
      typeof call.messageId === 'string' && call.messageId !== ''
        ? call.messageId
        : `intake-${createHash('sha256').update(json).digest('hex')}`,
    userId,
    anonymousId,
    email,
    traitsJson: traits === null ? '{}' : JSON.stringify(traits),
    audienceKey:
      personas.computation_class === 'audience' && typeof personas.computation_key === 'string'
        ? personas.computation_key
        : null,
    callJson: json,
    timestamp: timeOf(call.timestamp) ?? timeOf(call.receivedAt),
    key: key as string,
  };
}

/**
 * A Segment id as text: strings as they are, numbers as their decimal digits. Null and "" count as
 * absent: Segment's libraries send `userId: null` for anonymous visitors.
 */
function idText(value: unknown): string | null | Error {
  if (value === undefined || value === null || value === '') return null;
  if (typeof value === 'string') return value;
  const text = exactText(value);
  if (text === undefined || !/^-?\d/.test(text)) {
    return new Error(`must be a string or a number, got ${kindOf(value)}`);
  }
  if (/^-?(0|[1-9]\d*)$/.test(text)) return text;
  // Only exponent or fraction forms get here (1e3, 2.50): their decimal text, which is what a
  // sender that computed the number meant.
  const number = Number(text);
  if (!Number.isFinite(number)) return new Error(`must be a finite number, got ${quoteForReason(value)}`);
  return Number.isInteger(number) ? BigInt(number).toString() : String(number);
}

function emailOf(traits: Record<string, unknown> | undefined): string | null {
  const email = traits?.email;
  if (typeof email !== 'string') return null;
  const trimmed = email.trim();
  return trimmed === '' ? null : trimmed;
}

function timeOf(value: unknown): number | null {
  if (typeof value !== 'string') return null;
  const time = Date.parse(value);
  return Number.isNaN(time) ? null : time;
}

function reject(
  reason: string,
  raw: Buffer,
  key: string | null,
  code: RejectionCode = 'IDENTIFY_INVALID',
): RejectedCall {
  return { code, reason, raw, key };
}

function empty(): IdentifyBody {
  return { accepted: [], rejected: [], ignored: 0 };
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (exactText(value) !== undefined && typeof value !== 'string')
    return `the number ${quoteForReason(value)}`;
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return `the string ${quoteForReason(value)}`;
  return `${typeof value === 'boolean' ? 'the boolean' : typeof value} ${String(value)}`;
}

function textOf(value: unknown): string {
  return stringifyLosslessJson(value);
}
