/**
 * What a Mailjet Event API event is, in Mailjet's own words. The ingress validates against this; the
 * connector maps from it. Every field but `event` and `time` is optional: old payloads lack MessageID
 * and Message_GUID, test events lack an email, and unknown fields pass through untouched.
 */
export const MAILJET_EVENT_TYPES = ['sent', 'open', 'click', 'bounce', 'blocked', 'spam', 'unsub'] as const;

export type MailjetEventType = (typeof MAILJET_EVENT_TYPES)[number];

export function isMailjetEventType(value: unknown): value is MailjetEventType {
  return typeof value === 'string' && (MAILJET_EVENT_TYPES as readonly string[]).includes(value);
}

/**
 * A JSON value parsed without losing number digits: integers beyond 2^53 (every MessageID) and any
 * number whose text would not survive a round trip stay `JSON.rawJSON` values, which JSON.stringify
 * writes back verbatim.
 */
export type LosslessJson = unknown;

/** JSON.parse source text access (ES2026, in Node since 21); TypeScript's lib does not declare it yet. */
const RawJson = JSON as JSON & {
  rawJSON(text: string): unknown;
  isRawJSON(value: unknown): value is { rawJSON: string };
};

/** JSON.parse that keeps the exact text of numbers JavaScript would round (MessageID > 2^53). */
export function parseLosslessJson(text: string): LosslessJson {
  return JSON.parse(text, (_key, value, context?: { source?: string }) => {
    if (typeof value !== 'number' || context?.source === undefined) return value;
    // Unsafe integers are kept as text even when String() happens to print the same digits (it prints
    // the shortest text that maps to the rounded double), so no code ever computes with them.
    const unsafe = Number.isInteger(value) && !Number.isSafeInteger(value);
    return unsafe || String(value) !== context.source ? RawJson.rawJSON(context.source) : value;
  });
}

/** The exact text of a JSON number or string field: `19421777835146490`, never `19421777835146488`. */
export function exactText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (RawJson.isRawJSON(value)) return value.rawJSON;
  return undefined;
}
