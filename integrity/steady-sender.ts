/**
 * The load of every lane sender: new bodies at a steady rate, each posted again until it is answered
 * 200 (what Mailjet does with webhooks and Segment's libraries with their calls) or the run gives up on
 * it, every request and its answer recorded. What a body holds is the caller's (`makeBody`); an item of
 * a body (an event, a call) is acked once a request holding it was answered 200.
 */
import { setTimeout as sleep } from 'node:timers/promises';

/** One body to post: where, with which headers, and the ids of the items it holds. */
export interface Body {
  url: string;
  headers: Record<string, string>;
  text: string;
  ids: string[];
}

export interface SteadyLoadOptions {
  bodiesPerSecond: number;
  /**
   * Pause before posting a body again, growing by `min` per attempt up to `max` (the SaaS waits longer;
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
  /** Items made (each posted at least once). */
  posted: number;
  /** Ids of the items whose body was answered 200. */
  acked: Set<string>;
  /** Bodies never answered 200 before the run gave up on them. */
  unackedBodies: number;
  exchanges: Exchange[];
  /** Answers by status (or failure), for the run's line. */
  answers: Record<string, number>;
}

export class SteadySender {
  readonly #options: SteadyLoadOptions;
  readonly #makeBody: () => Body;
  readonly #started = performance.now();
  readonly #acked = new Set<string>();
  readonly #exchanges: Exchange[] = [];
  readonly #deliveries = new Set<Promise<void>>();
  #items = 0;
  #bodies = 0;
  #unacked = 0;
  #producing: Promise<void> | undefined;
  #stopProducing = false;
  #giveUp = new AbortController();

  constructor(options: SteadyLoadOptions, makeBody: () => Body) {
    this.#options = options;
    this.#makeBody = makeBody;
  }

  /**
   * Posts new bodies at the steady rate for `forMs` (or until `finish`), each retried on its own until
   * acked: the load lasts as long whatever the faults make the run wait for.
   */
  start(forMs = Number.POSITIVE_INFINITY): void {
    this.#producing ??= this.#produce(performance.now() + forMs);
  }

  /** Stops making new bodies; those already made are still retried until acked or `deadlineMs` passed. */
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
      posted: this.#items,
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
      this.#items += body.ids.length;
      const delivery = this.#deliver(this.#bodies++, body).finally(() => this.#deliveries.delete(delivery));
      this.#deliveries.add(delivery);
      // A steady rate that does not drift: each body is due one interval after the previous one was.
      due += interval;
      await sleep(Math.max(0, due - performance.now()));
    }
  }

  async #deliver(index: number, body: Body): Promise<void> {
    const { retryMs } = this.#options;
    for (let attempt = 1; ; attempt++) {
      const answer = await this.#post(body);
      this.#exchanges.push({
        body: index,
        attempt,
        at: Math.round(performance.now() - this.#started),
        answer,
      });
      if (answer === 200) {
        for (const id of body.ids) this.#acked.add(id);
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

  async #post(body: Body): Promise<number | string> {
    try {
      const response = await fetch(body.url, {
        method: 'POST',
        headers: body.headers,
        body: body.text,
        signal: AbortSignal.any([AbortSignal.timeout(this.#options.requestTimeoutMs), this.#giveUp.signal]),
      });
      await response.arrayBuffer();
      return response.status;
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code;
      return cause ?? (err as Error).name;
    }
  }
}
