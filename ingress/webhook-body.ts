/**
 * Splits one Mailjet webhook body into the events we store and the input we dead-letter. Pure: no I/O,
 * no clock. Mailjet posts one bare event object (Version 1, the default) or an array of events of mixed
 * types (Version 2, "group events"). Nothing is dropped: every element ends up accepted or rejected with
 * its exact text, and numbers keep their digits (MessageID exceeds 2^53).
 */
import { quoteForReason } from '../core/dead-letter.ts';
import type { ErrorCode } from '../core/errors.ts';
import {
  exactText,
  exceedsDepth,
  isJsonObject,
  isRawJson,
  MAX_JSON_DEPTH,
  readJsonBody,
  stringifyLosslessJson,
  tooDeepReason,
} from '../core/lossless-json.ts';
import { isMailjetEventType, MAILJET_EVENT_TYPES, type MailjetEventType } from '../core/mailjet-event.ts';

export interface AcceptedEvent {
  type: MailjetEventType;
  time: number;
  email: string | null;
  messageId: string | null;
  messageGuid: string | null;
  /** The event object as JSON text, every field kept, numbers with their exact digits. */
  json: string;
}

export type RejectionCode = Extract<
  ErrorCode,
  'INVALID_JSON' | 'NOT_AN_EVENT' | 'UNKNOWN_EVENT_TYPE' | 'INVALID_EVENT_FIELD' | 'JSON_TOO_DEEP'
>;

export interface RejectedInput {
  code: RejectionCode;
  reason: string;
  /** The bytes to keep: the whole body when it is not JSON, else the offending element as JSON text. */
  raw: Buffer;
  email: string | null;
}

export interface WebhookBody {
  accepted: AcceptedEvent[];
  rejected: RejectedInput[];
}

export function readWebhookBody(body: Buffer): WebhookBody {
  // One level of envelope: the array of a grouped body.
  const read = readJsonBody(body, 1);
  if (!read.ok) {
    return {
      accepted: [],
      rejected: [{ code: 'INVALID_JSON', reason: read.reason, raw: body, email: null }],
    };
  }
  const { value: parsed, mayBeTooDeep } = read;
  const elements = Array.isArray(parsed) ? parsed : [parsed];
  const result: WebhookBody = { accepted: [], rejected: [] };
  elements.forEach((element, index) => {
    const where = Array.isArray(parsed) ? `element ${index}` : 'the body';
    const outcome =
      mayBeTooDeep && exceedsDepth(element, MAX_JSON_DEPTH)
        ? tooDeep(element, where)
        : readEvent(element, where);
    if ('code' in outcome) result.rejected.push(outcome);
    else result.accepted.push(outcome);
  });
  return result;
}

/** An element nesting past the limit: no field of it is read but the email, the key of its dead letter. */
function tooDeep(element: unknown, where: string): RejectedInput {
  const fields = isJsonObject(element) ? element : {};
  return {
    code: 'JSON_TOO_DEEP',
    reason: tooDeepReason(where),
    raw: Buffer.from(stringifyLosslessJson(element)),
    email: typeof fields.email === 'string' ? fields.email : null,
  };
}

function readEvent(element: unknown, where: string): AcceptedEvent | RejectedInput {
  // Text for the raw topic; bytes only for the dead-letter topic, which is rare (this runs per event).
  // Bounded: the element nests at most MAX_JSON_DEPTH levels.
  const json = JSON.stringify(element) ?? 'null';
  if (!isJsonObject(element)) {
    // A number JavaScript would round is a JSON.rawJSON value: an object to typeof, a number here.
    const kind =
      element === null
        ? 'null'
        : Array.isArray(element)
          ? 'an array'
          : isRawJson(element)
            ? 'number'
            : typeof element;
    return {
      code: 'NOT_AN_EVENT',
      reason: `${where} is ${kind}, not an event object`,
      raw: Buffer.from(json),
      email: null,
    };
  }
  const fields = element;
  const email = typeof fields.email === 'string' ? fields.email : null;
  const reject = (code: RejectionCode, reason: string): RejectedInput => ({
    code,
    reason: `${where}: ${reason}`,
    raw: Buffer.from(json),
    email,
  });

  if (typeof fields.event !== 'string')
    return reject('INVALID_EVENT_FIELD', '"event" is missing or not a string');
  if (!isMailjetEventType(fields.event)) {
    return reject(
      'UNKNOWN_EVENT_TYPE',
      `unknown event type ${quoteForReason(fields.event)} (expected one of ${MAILJET_EVENT_TYPES.join(', ')})`,
    );
  }
  const time = fields.time;
  if (typeof time !== 'number' || !Number.isSafeInteger(time) || time < 0) {
    return reject(
      'INVALID_EVENT_FIELD',
      `"time" must be Unix seconds as an integer, got ${quoteForReason(time)}`,
    );
  }
  return {
    type: fields.event,
    time,
    email,
    messageId: exactText(fields.MessageID) ?? null,
    messageGuid: typeof fields.Message_GUID === 'string' ? fields.Message_GUID : null,
    json,
  };
}
