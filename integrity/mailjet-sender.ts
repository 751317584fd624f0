/**
 * A Mailjet-like webhook sender: a steady rate of single (Version 1) and grouped (Version 2) bodies, each
 * event with a MessageID of its own (the event's identity in the lane's counting), and Mailjet's retry
 * behaviour: a body answered anything but 200 (or not answered at all) is posted again, until it gets its
 * 200 or the run gives up on it. Every request and its answer is recorded; an event is acked once a body
 * holding it was answered 200.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Random } from './seeded-random.ts';

export interface SenderOptions {
  /** The webhook URL (the ingress's). */
  url: string;
  /** Value of the Authorization header. */
  authorization: string;
  random: Random;
  bodiesPerSecond: number;
  /** Largest grouped body; half the bodies are single events. */
  maxEventsPerBody: number;
  /** Digits every MessageID starts with, so two runs never share one. */
  messageIdPrefix: string;
  /**
   * Pause before posting a body again, growing by `min` per attempt up to `max` (Mailjet waits longer;
   * the lane keeps its runs short). Not random: the seed's choices must not depend on timing.
   */
  retryMs: [min: number, max: number];
  /** A request unanswered this long is abandoned and posted again. */
  requestTimeoutMs: number;
}

/** One request and its answer: an HTTP status, or what made it fail without one. */
export interface Exchange {
  body: number;
  attempt: number;
  /** Milliseconds since the sender started. */
  at: number;
  answer: number | string;
}

export interface SenderReport {
  bodies: number;
  posted: number;
  /** MessageIDs of the events whose body was answered 200. */
  acked: Set<string>;
  /** Bodies never answered 200 before the run gave up on them. */
  unackedBodies: number;
  exchanges: Exchange[];
  /** Answers by status (or failure), for the run's line. */
  answers: Record<string, number>;
}

/** The MessageID of the sender's `index`-th event: chosen events can be named before they are sent. */
export function messageIdOf(prefix: string, index: number): string {
  return `${prefix}${String(index).padStart(8, '0')}`;
}

const EVENT_TYPES = ['sent', 'open', 'click', 'bounce', 'blocked', 'spam', 'unsub'] as const;

export class MailjetSender {
  readonly #options: SenderOptions;
  readonly #started = performance.now();
  readonly #acked = new Set<string>();
  readonly #exchanges: Exchange[] = [];
  readonly #deliveries = new Set<Promise<void>>();
  #nextEvent = 0;
  #bodies = 0;
  #unacked = 0;
  #producing: Promise<void> | undefined;
  #stopProducing = false;
  #giveUp = new AbortController();

  constructor(options: SenderOptions) {
    this.#options = options;
  }

  /**
   * Posts new bodies at the steady rate for `forMs` (or until `finish`), each retried on its own until
   * acked: the load lasts as long whatever the faults make the run wait for.
   */
  start(forMs = Number.POSITIVE_INFINITY): void {
    this.#producing ??= this.#produce(performance.now() + forMs);
  }

  /** Stops making new bodies; those already made are still retried until acked or `deadline`. */
  async finish(deadlineMs: number): Promise<SenderReport> {
    this.#stopProducing = true;
    await this.#producing;
    const timer = setTimeout(() => this.#giveUp.abort(), deadlineMs);
    while (this.#deliveries.size > 0) await Promise.race(this.#deliveries);
    clearTimeout(timer);
    const answers: Record<string, number> = {};
    for (const { answer } of this.#exchanges) answers[answer] = (answers[answer] ?? 0) + 1;
    return {
      bodies: this.#bodies,
      posted: this.#nextEvent,
      acked: this.#acked,
      unackedBodies: this.#unacked,
      exchanges: this.#exchanges,
      answers,
    };
  }

  /** Bodies still waiting for their 200. */
  pending(): number {
    return this.#deliveries.size;
  }

  async #produce(until: number): Promise<void> {
    const interval = 1000 / this.#options.bodiesPerSecond;
    let due = performance.now();
    while (!this.#stopProducing && performance.now() < until) {
      const body = this.#makeBody();
      const delivery = this.#deliver(this.#bodies++, body.text, body.ids).finally(() =>
        this.#deliveries.delete(delivery),
      );
      this.#deliveries.add(delivery);
      // A steady rate that does not drift: each body is due one interval after the previous one was.
      due += interval;
      await sleep(Math.max(0, due - performance.now()));
    }
  }

  #makeBody(): { text: string; ids: string[] } {
    const { random, maxEventsPerBody } = this.#options;
    const grouped = random.next() < 0.5;
    const count = grouped ? random.int(1, maxEventsPerBody) : 1;
    const ids: string[] = [];
    const events: string[] = [];
    for (let i = 0; i < count; i++) {
      const id = messageIdOf(this.#options.messageIdPrefix, this.#nextEvent++);
      ids.push(id);
      events.push(this.#eventJson(id));
    }
    return { text: grouped ? `[${events.join(',')}]` : (events[0] as string), ids };
  }

  /** A Mailjet event as Mailjet writes it: MessageID a JSON number with every digit, never rounded. */
  #eventJson(messageId: string): string {
    const { random } = this.#options;
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

  async #deliver(body: number, text: string, ids: string[]): Promise<void> {
    const { url, authorization, retryMs, requestTimeoutMs } = this.#options;
    for (let attempt = 1; ; attempt++) {
      const answer = await this.#post(url, authorization, text, requestTimeoutMs);
      this.#exchanges.push({ body, attempt, at: Math.round(performance.now() - this.#started), answer });
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

  async #post(url: string, authorization: string, text: string, timeoutMs: number): Promise<number | string> {
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization },
        body: text,
        signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), this.#giveUp.signal]),
      });
      await response.arrayBuffer();
      return response.status;
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code;
      return cause ?? (err as Error).name;
    }
  }
}
