/**
 * A Segment-like sender of identify calls for the destination's intake: a steady rate of single calls
 * (`POST /v1/identify`) and batches (`POST /v1/batch`), each call with a messageId of its own (its
 * identity in the lane's counting) and seeded traits for one of a small set of contacts, so that each
 * contact is written many times and "last write wins" is put to the test. Some calls are Engage audience
 * calls (one boolean trait that flips, with `context.personas`). Segment's retry behaviour: a body
 * answered anything but 200 (or not answered) is posted again until it gets its 200 or the run gives up
 * on it; a call is acked once a body holding it was answered 200.
 */
import type { Random } from './seeded-random.ts';
import { type SteadyLoadOptions, SteadySender } from './steady-sender.ts';

export interface IdentifySenderOptions extends SteadyLoadOptions {
  /** The intake's base URL, e.g. http://127.0.0.1:1234 (the sender posts to /v1/identify and /v1/batch). */
  url: string;
  writeKey: string;
  random: Random;
  /** Largest batch; half the bodies are single calls. */
  maxCallsPerBody: number;
  /** Contacts the calls are spread over: few, so each one is written many times. */
  contacts: number;
  /** Characters every messageId starts with, so two runs never share one. */
  messageIdPrefix: string;
  /**
   * Calls (by index) whose `score` trait is text: the worker must dead-letter them, the `score` property
   * being an int (PROPERTY_TYPE_MISMATCH).
   */
  mismatched?: ReadonlySet<number>;
}

/** The messageId of the sender's `index`-th call: chosen calls can be named before they are sent. */
export function identifyMessageIdOf(prefix: string, index: number): string {
  return `${prefix}-${String(index).padStart(8, '0')}`;
}

/** The email of contact `n` (1-based). */
export function contactEmailOf(n: number): string {
  return `contact-${n}@example.com`;
}

/** The Engage audience the sender's audience calls flip, as Segment names a computed trait. */
export const AUDIENCE_KEY = 'order_completed_last_30days';

/** The trait whose text value is refused by the worker (its property is an int). */
export const MISMATCHED_TRAIT = 'score';

const PLANS = ['free', 'team', 'business', 'enterprise'] as const;

/** The lane's Segment for the destination: identify calls at a steady rate, posted again until answered 200. */
export function identifySender(options: IdentifySenderOptions): SteadySender {
  const headers = {
    'content-type': 'application/json',
    authorization: `Basic ${Buffer.from(`${options.writeKey}:`).toString('base64')}`,
  };
  let nextCall = 0;
  return new SteadySender(options, () => {
    const { random, maxCallsPerBody } = options;
    const batched = random.next() < 0.5;
    const count = batched ? random.int(1, maxCallsPerBody) : 1;
    const calls = Array.from({ length: count }, () => identifyCall(options, nextCall++));
    const ids = calls.map((call) => call.messageId as string);
    if (!batched) return { url: `${options.url}/v1/identify`, headers, text: JSON.stringify(calls[0]), ids };
    return {
      url: `${options.url}/v1/batch`,
      headers,
      text: JSON.stringify({ batch: calls.map((call) => ({ type: 'identify', ...call })) }),
      ids,
    };
  });
}

/**
 * One identify call. Profile calls always carry the same traits (`plan` sometimes null, which clears
 * it), so a contact's last call decides every property; audience calls carry only the audience trait.
 * Trait names are already Mailjet's (snake_case) and datetimes already in the form the worker sends,
 * so the expected contact is the traits themselves.
 */
function identifyCall(options: IdentifySenderOptions, index: number): Record<string, unknown> {
  const { random, contacts, messageIdPrefix } = options;
  const contact = random.int(1, contacts);
  const email = contactEmailOf(contact);
  const messageId = identifyMessageIdOf(messageIdPrefix, index);
  const base = { messageId, userId: `user-${contact}`, timestamp: new Date().toISOString() };
  const mismatched = options.mismatched?.has(index) ?? false;
  // A call made to be refused is a profile call: an audience call has no trait to mismatch.
  if (random.next() < 0.2 && !mismatched) {
    return {
      ...base,
      traits: { email, [AUDIENCE_KEY]: random.next() < 0.5 },
      context: {
        personas: {
          computation_class: 'audience',
          computation_key: AUDIENCE_KEY,
          space_id: 'spa_integrity',
        },
      },
    };
  }
  const seen = new Date(Date.UTC(2026, 0, 1) + random.int(0, 365 * 86_400) * 1000);
  return {
    ...base,
    traits: {
      email,
      name: `Contact ${contact} v${index}`,
      plan: random.next() < 0.2 ? null : random.pick(PLANS),
      [MISMATCHED_TRAIT]: mismatched ? 'not a number' : random.int(0, 1000),
      ratio: random.int(1, 999) / 1000,
      vip: random.next() < 0.5,
      last_seen: `${seen.toISOString().slice(0, 19)}Z`,
      integrity_call: messageId,
    },
  };
}
