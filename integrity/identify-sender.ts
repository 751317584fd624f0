/**
 * A Segment-like sender of identify calls for the destination's intake: a steady rate of single calls
 * (`POST /v1/identify`) and batches (`POST /v1/batch`), each call with a messageId of its own (its
 * identity in the lane's counting) and seeded traits for one of a small set of contacts, so that each
 * contact is written many times and "last write wins" is put to the test. Some calls are Engage audience
 * calls (one boolean trait that flips, with `context.personas`). Segment's retry behaviour: a body
 * answered anything but 200 (or not answered) is posted again until it gets its 200 or the run gives up
 * on it; a call is acked once a body holding it was answered 200.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Random } from './seeded-random.ts';

export interface IdentifySenderOptions {
  /** The intake's base URL, e.g. http://127.0.0.1:1234 (the sender posts to /v1/identify and /v1/batch). */
  url: string;
  writeKey: string;
  random: Random;
  bodiesPerSecond: number;
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
  /** Pause before posting a body again, growing by `min` per attempt up to `max`. */
  retryMs: [min: number, max: number];
  requestTimeoutMs: number;
}

export interface IdentifySenderReport {
  bodies: number;
  /** Calls made (each posted at least once). */
  posted: number;
  /** messageIds of the calls whose body was answered 200. */
  acked: Set<string>;
  unackedBodies: number;
  answers: Record<string, number>;
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

export class IdentifySender {
  readonly #options: IdentifySenderOptions;
  readonly #acked = new Set<string>();
  readonly #answers: Record<string, number> = {};
  readonly #deliveries = new Set<Promise<void>>();
  #nextCall = 0;
  #bodies = 0;
  #unacked = 0;
  #producing: Promise<void> | undefined;
  #stopProducing = false;
  #giveUp = new AbortController();

  constructor(options: IdentifySenderOptions) {
    this.#options = options;
  }

  /** Posts new bodies at the steady rate for `forMs` (or until `finish`), each retried until acked. */
  start(forMs = Number.POSITIVE_INFINITY): void {
    this.#producing ??= this.#produce(performance.now() + forMs);
  }

  /** Stops making new bodies; those already made are retried until acked or `deadlineMs` passed. */
  async finish(deadlineMs: number): Promise<IdentifySenderReport> {
    this.#stopProducing = true;
    await this.#producing;
    const timer = setTimeout(() => this.#giveUp.abort(), deadlineMs);
    while (this.#deliveries.size > 0) await Promise.race(this.#deliveries);
    clearTimeout(timer);
    return {
      bodies: this.#bodies,
      posted: this.#nextCall,
      acked: this.#acked,
      unackedBodies: this.#unacked,
      answers: this.#answers,
    };
  }

  async #produce(until: number): Promise<void> {
    const interval = 1000 / this.#options.bodiesPerSecond;
    let due = performance.now();
    while (!this.#stopProducing && performance.now() < until) {
      const body = this.#makeBody();
      const delivery = this.#deliver(body.path, body.text, body.ids).finally(() =>
        this.#deliveries.delete(delivery),
      );
      this.#deliveries.add(delivery);
      this.#bodies++;
      due += interval;
      await sleep(Math.max(0, due - performance.now()));
    }
  }

  #makeBody(): { path: string; text: string; ids: string[] } {
    const { random, maxCallsPerBody } = this.#options;
    const batched = random.next() < 0.5;
    const count = batched ? random.int(1, maxCallsPerBody) : 1;
    const calls = Array.from({ length: count }, () => this.#call(this.#nextCall++));
    const ids = calls.map((call) => call.messageId as string);
    if (!batched) return { path: '/v1/identify', text: JSON.stringify(calls[0]), ids };
    return {
      path: '/v1/batch',
      text: JSON.stringify({ batch: calls.map((call) => ({ type: 'identify', ...call })) }),
      ids,
    };
  }

  /**
   * One identify call. Profile calls always carry the same traits (`plan` sometimes null, which clears
   * it), so a contact's last call decides every property; audience calls carry only the audience trait.
   * Trait names are already Mailjet's (snake_case) and datetimes already in the form the worker sends,
   * so the expected contact is the traits themselves.
   */
  #call(index: number): Record<string, unknown> {
    const { random, contacts, messageIdPrefix } = this.#options;
    const contact = random.int(1, contacts);
    const email = contactEmailOf(contact);
    const messageId = identifyMessageIdOf(messageIdPrefix, index);
    const base = { messageId, userId: `user-${contact}`, timestamp: new Date().toISOString() };
    const mismatched = this.#options.mismatched?.has(index) ?? false;
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

  async #deliver(path: string, text: string, ids: string[]): Promise<void> {
    const { retryMs } = this.#options;
    for (let attempt = 1; ; attempt++) {
      const answer = await this.#post(path, text);
      this.#answers[answer] = (this.#answers[answer] ?? 0) + 1;
      if (answer === 200) {
        for (const id of ids) this.#acked.add(id);
        return;
      }
      if (this.#giveUp.signal.aborted) break;
      try {
        await sleep(Math.min(retryMs[1], retryMs[0] * attempt), undefined, { signal: this.#giveUp.signal });
      } catch {
        break; // The run gave up on this body.
      }
    }
    this.#unacked += 1;
  }

  async #post(path: string, text: string): Promise<number | string> {
    const { url, writeKey, requestTimeoutMs } = this.#options;
    try {
      const response = await fetch(`${url}${path}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`,
        },
        body: text,
        signal: AbortSignal.any([AbortSignal.timeout(requestTimeoutMs), this.#giveUp.signal]),
      });
      await response.arrayBuffer();
      return response.status;
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code;
      return cause ?? (err as Error).name;
    }
  }
}
