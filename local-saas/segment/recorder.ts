/**
 * What the local Segment server received, in memory: the figures a test or demo checks (events received,
 * distinct messageIds, duplicates, rejections) and the latest events themselves. Memory is bounded so a
 * demo that runs for days stays small: counters are exact forever, while the stored events, rejections
 * and remembered messageIds are each a window of the most recent ones.
 */

export const callTypes = ['track', 'identify', 'page', 'screen', 'group', 'alias'] as const;
export type CallType = (typeof callTypes)[number];

/** An accepted event as Segment would store it: the sent fields plus messageId and receivedAt. */
export interface RecordedEvent {
  [field: string]: unknown;
  type: CallType;
  messageId: string;
  receivedAt: string;
}

/** Why an event was dropped although its request was answered 200 (Segment's own codes where it has one). */
export type RejectReason =
  | 'invalid_event'
  | 'missing_type'
  | 'invalid_type'
  | 'missing_event'
  | 'no_user_anon_id'
  | 'invalid_message_id'
  | 'too_many_events';

export interface Rejection {
  reason: RejectReason;
  message: string;
  receivedAt: string;
  event: unknown;
}

export interface RecorderStats {
  /** Requests to the Segment API paths, whatever their answer (faulted ones included). */
  requests: number;
  responsesByStatus: Record<string, number>;
  /** Accepted events, duplicates included. */
  eventsReceived: number;
  /** Events whose messageId had not been seen before: what Segment keeps after its dedupe. */
  distinctMessageIds: number;
  /** eventsReceived − distinctMessageIds. */
  duplicates: number;
  byType: Record<string, number>;
  /** Track events by their `event` name. */
  byEvent: Record<string, number>;
  eventsRejected: number;
  rejectedByReason: Record<string, number>;
  eventsInMemory: number;
  /** Accepted events no longer in memory because newer ones took their place (they stay counted). */
  eventsDroppedFromMemory: number;
  /**
   * MessageIds pushed out of the dedupe window. While this is 0, distinctMessageIds is exact; after, a
   * very old id sent again counts as new, as it would once past Segment's ~24 h dedupe window.
   */
  messageIdsForgotten: number;
}

export interface RecorderOptions {
  /** Accepted events kept for /_local/events (default 10,000). */
  maxEvents?: number;
  /** Rejected events kept with their reason (default 1,000). */
  maxRejections?: number;
  /** MessageIds remembered for dedupe (default 250,000, some 30 MB at 64-character ids). */
  maxMessageIds?: number;
}

export class SegmentRecorder {
  readonly #events: Ring<RecordedEvent>;
  readonly #rejections: Ring<Rejection>;
  readonly #maxMessageIds: number;
  // A Set iterates in insertion order, so its first value is always the oldest id: eviction is O(1).
  #messageIds = new Set<string>();
  #counters = emptyCounters();

  constructor(options: RecorderOptions = {}) {
    this.#events = new Ring(positive(options.maxEvents ?? 10_000, 'maxEvents'));
    this.#rejections = new Ring(positive(options.maxRejections ?? 1_000, 'maxRejections'));
    this.#maxMessageIds = positive(options.maxMessageIds ?? 250_000, 'maxMessageIds');
  }

  requestReceived(): void {
    this.#counters.requests += 1;
  }

  responded(status: number): void {
    const byStatus = this.#counters.responsesByStatus;
    byStatus[status] = (byStatus[status] ?? 0) + 1;
  }

  accept(event: RecordedEvent): void {
    const counters = this.#counters;
    counters.eventsReceived += 1;
    increment(counters.byType, event.type);
    if (event.type === 'track' && typeof event.event === 'string') increment(counters.byEvent, event.event);
    if (!this.#messageIds.has(event.messageId)) {
      counters.distinctMessageIds += 1;
      this.#messageIds.add(event.messageId);
      if (this.#messageIds.size > this.#maxMessageIds) {
        const oldest = this.#messageIds.values().next().value as string;
        this.#messageIds.delete(oldest);
        counters.messageIdsForgotten += 1;
      }
    }
    if (this.#events.push(event)) counters.eventsDroppedFromMemory += 1;
  }

  reject(rejection: Rejection): void {
    this.#counters.eventsRejected += 1;
    increment(this.#counters.rejectedByReason, rejection.reason);
    this.#rejections.push(rejection);
  }

  stats(): RecorderStats {
    const counters = structuredClone(this.#counters);
    return {
      ...counters,
      duplicates: counters.eventsReceived - counters.distinctMessageIds,
      eventsInMemory: this.#events.length,
    };
  }

  /** The newest `limit` accepted events, oldest first. */
  events(limit = 100): RecordedEvent[] {
    return this.#events.last(limit);
  }

  /** The newest `limit` rejected events with their reasons, oldest first. */
  rejections(limit = 100): Rejection[] {
    return this.#rejections.last(limit);
  }

  clear(): void {
    this.#events.clear();
    this.#rejections.clear();
    this.#messageIds = new Set();
    this.#counters = emptyCounters();
  }
}

function emptyCounters() {
  return {
    requests: 0,
    responsesByStatus: {} as Record<string, number>,
    eventsReceived: 0,
    distinctMessageIds: 0,
    byType: {} as Record<string, number>,
    byEvent: {} as Record<string, number>,
    eventsRejected: 0,
    rejectedByReason: {} as Record<string, number>,
    eventsDroppedFromMemory: 0,
    messageIdsForgotten: 0,
  };
}

function increment(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

function positive(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1)
    throw new RangeError(`${name} must be an integer ≥ 1, got ${value}`);
  return value;
}

/** A fixed-capacity buffer that overwrites its oldest item; no array shifting on the hot path. */
class Ring<T> {
  readonly #capacity: number;
  #items: T[] = [];
  #next = 0;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  get length(): number {
    return this.#items.length;
  }

  /** Adds an item; true when it pushed the oldest one out. */
  push(item: T): boolean {
    if (this.#items.length < this.#capacity) {
      this.#items.push(item);
      return false;
    }
    this.#items[this.#next] = item;
    this.#next = (this.#next + 1) % this.#capacity;
    return true;
  }

  last(limit: number): T[] {
    const ordered = [...this.#items.slice(this.#next), ...this.#items.slice(0, this.#next)];
    return limit <= 0 ? [] : ordered.slice(-limit);
  }

  clear(): void {
    this.#items = [];
    this.#next = 0;
  }
}
