/**
 * A Mailjet-like webhook sender: a steady rate of single (Version 1) and grouped (Version 2) bodies, each
 * event with a MessageID of its own (the event's identity in the lane's counting), and Mailjet's retry
 * behaviour (steady-sender.ts): a body answered anything but 200 (or not answered at all) is posted
 * again, until it gets its 200 or the run gives up on it.
 */
import type { Random } from './seeded-random.ts';
import { type SteadyLoadOptions, SteadySender } from './steady-sender.ts';

export interface SenderOptions extends SteadyLoadOptions {
  /** The webhook URL (the ingress's). */
  url: string;
  /** Value of the Authorization header. */
  authorization: string;
  random: Random;
  /** Largest grouped body; half the bodies are single events. */
  maxEventsPerBody: number;
  /** Digits every MessageID starts with, so two runs never share one. */
  messageIdPrefix: string;
}

/** The MessageID of the sender's `index`-th event: chosen events can be named before they are sent. */
export function messageIdOf(prefix: string, index: number): string {
  return `${prefix}${String(index).padStart(8, '0')}`;
}

const EVENT_TYPES = ['sent', 'open', 'click', 'bounce', 'blocked', 'spam', 'unsub'] as const;

/** The lane's Mailjet: webhooks of its events at a steady rate, posted again until answered 200. */
export function mailjetSender(options: SenderOptions): SteadySender {
  const headers = { 'content-type': 'application/json', authorization: options.authorization };
  let nextEvent = 0;
  return new SteadySender(options, () => {
    const { random, maxEventsPerBody } = options;
    const grouped = random.next() < 0.5;
    const count = grouped ? random.int(1, maxEventsPerBody) : 1;
    const ids: string[] = [];
    const events: string[] = [];
    for (let i = 0; i < count; i++) {
      const id = messageIdOf(options.messageIdPrefix, nextEvent++);
      ids.push(id);
      events.push(eventJson(random, id));
    }
    return {
      url: options.url,
      headers,
      text: grouped ? `[${events.join(',')}]` : (events[0] as string),
      ids,
    };
  });
}

/** A Mailjet event as Mailjet writes it: MessageID a JSON number with every digit, never rounded. */
function eventJson(random: Random, messageId: string): string {
  const type = random.pick(EVENT_TYPES);
  const contact = random.int(1, 200);
  const fields: Record<string, unknown> = {
    event: type,
    time: Math.floor(Date.now() / 1000),
    MessageID: 0,
    Message_GUID: `guid-${messageId}`,
    email: `recipient-${contact}@example.com`,
    mj_campaign_id: random.int(1, 20),
    mj_contact_id: contact,
    customcampaign: '',
    CustomID: '',
    Payload: '',
  };
  if (type === 'open' || type === 'click' || type === 'unsub') {
    fields.ip = `10.0.${random.int(0, 255)}.${random.int(1, 254)}`;
    fields.agent = 'Mozilla/5.0 (integrity lane)';
  }
  if (type === 'click') fields.url = `https://example.com/${random.int(1, 50)}`;
  if (type === 'unsub') fields.mj_list_id = random.int(1, 5);
  if (type === 'bounce') Object.assign(fields, { hard_bounce: false, error: 'mailbox full' });
  if (type === 'spam') fields.source = 'JMRPP';
  return JSON.stringify(fields).replace('"MessageID":0', `"MessageID":${messageId}`);
}
