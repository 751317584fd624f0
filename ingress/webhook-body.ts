/**
 * Splits one Mailjet webhook body into the events we store and the input we dead-letter. Pure: no I/O,
 * no clock. Mailjet posts one bare event object (Version 1, the default) or an array of events of mixed
 * types (Version 2, "group events"). Nothing is dropped: every element ends up accepted or rejected with
 * its exact text, and numbers keep their digits (MessageID exceeds 2^53).
 */
import type { ErrorCode } from '../core/errors.ts';
import { exactText, parseLosslessJson } from '../core/lossless-json.ts';
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
  'INVALID_JSON' | 'NOT_AN_EVENT' | 'UNKNOWN_EVENT_TYPE' | 'INVALID_EVENT_FIELD'
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
  let parsed: unknown;
  try {
    parsed = parseLosslessJson(body.toString('utf8'));
  } catch (err) {
    const detail = body.length === 0 ? 'the body is empty' : (err as Error).message;
    return {
      accepted: [],
      rejected: [{ code: 'INVALID_JSON', reason: `Invalid JSON: ${detail}`, raw: body, email: null }],
    };
  }
  const elements = Array.isArray(parsed) ? parsed : [parsed];
  const result: WebhookBody = { accepted: [], rejected: [] };
  elements.forEach((element, index) => {
    const where = Array.isArray(parsed) ? `element ${index}` : 'the body';
    const outcome = readEvent(element, where);
    if ('code' in outcome) result.rejected.push(outcome);
    else result.accepted.push(outcome);
  });
  return result;
}

function readEvent(element: unknown, where: string): AcceptedEvent | RejectedInput {
  // Text for the raw topic; bytes only for the dead-letter topic, which is rare (this runs per event).
  const json = JSON.stringify(element) ?? 'null';
  if (typeof element !== 'object' || element === null || Array.isArray(element)) {
    const kind = element === null ? 'null' : Array.isArray(element) ? 'an array' : typeof element;
    return {
      code: 'NOT_AN_EVENT',
      reason: `${where} is ${kind}, not an event object`,
      raw: Buffer.from(json),
      email: null,
    };
  }
  const fields = element as Record<string, unknown>;
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
      `unknown event type ${JSON.stringify(fields.event)} (expected one of ${MAILJET_EVENT_TYPES.join(', ')})`,
    );
  }
  const time = fields.time;
  if (typeof time !== 'number' || !Number.isSafeInteger(time) || time < 0) {
    return reject(
      'INVALID_EVENT_FIELD',
      `"time" must be Unix seconds as an integer, got ${JSON.stringify(time) ?? 'nothing'}`,
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
