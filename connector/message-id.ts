/**
 * The Segment `messageId` of a Mailjet event. Mailjet events carry no id of their own, and the same event
 * reaches us more than once: Mailjet re-POSTs a body until it gets a 200 (a 503 whose records Kafka acked
 * late stores it twice), and operators replay the raw topic. Segment deduplicates on `messageId` alone
 * (about 24 h, across all workspaces; warehouses for longer), so the id must be a function of the event
 * and of nothing about its delivery.
 *
 * Recipe: "mj-" + hex SHA-256 of JSON.stringify([event, messageKey, time, email, url, ip, agent, listId,
 * source]), each absent or empty field written as null. JSON array text is unambiguous (no separator can
 * be forged by a field's content) and stable across Node versions. 67 characters, under Segment's 100.
 * The "mj-" prefix keeps the ids apart from other sources' in Segment's global dedupe.
 *
 * Changing the tuple changes every id: events redelivered across such an upgrade then reach Segment twice.
 */
import { hash } from 'node:crypto';

export interface MessageIdFields {
  /** Mailjet `event`: an open and a click of the same message in the same second are two events. */
  eventType: string;
  /**
   * Mailjet `MessageID` as exact text (or the deprecated `mj_message_id` that old payloads carry
   * instead, the same digits), else `Message_GUID`: which message the event is about.
   */
  messageKey?: string;
  /** Mailjet `time`, Unix seconds: a message is opened, clicked or soft-bounced many times. */
  time: number;
  /** Recipient: a message without MessageID or GUID (old payloads) is told apart by who got it. */
  email?: string;
  /** Clicked link: one second can hold clicks on two links of the same message. */
  url?: string;
  /** Opening or clicking client: two devices opening in the same second are two opens. */
  ip?: string;
  agent?: string;
  /** `mj_list_id`: one unsubscribe per list. */
  listId?: string;
  /** Spam feedback loop: two providers can report the same message. */
  source?: string;
}

// Deliberately left out:
// - received_at and request_id describe the delivery, not the event: they differ on every Mailjet retry
//   and ingress redelivery, and a replay must produce the ids Segment has already seen.
// - campaign, contact, CustomID, Payload, smtp_reply, geo and the bounce reasons belong to the message
//   (or follow from the fields above, like geo from ip): they cannot tell two events apart that the
//   tuple does not already tell apart, and a field Mailjet might add or fill in later must not change
//   the id of an event already sent.
export function segmentMessageId(fields: MessageIdFields): string {
  const tuple = [
    fields.eventType,
    fields.messageKey,
    fields.time,
    fields.email,
    fields.url,
    fields.ip,
    fields.agent,
    fields.listId,
    fields.source,
  ].map((value) => (value === undefined || value === '' ? null : value));
  // crypto.hash: one call for a small input, without a Hash object per event (about half the time).
  return `mj-${hash('sha256', JSON.stringify(tuple), 'hex')}`;
}
