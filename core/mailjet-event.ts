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
