/**
 * Coalesces the records of many concurrent callers (webhook requests, consumer batches) into one
 * produce request at a time. kafkajs has no linger and its idempotent producer keeps per-partition
 * sequence numbers right only with one request in flight, so: while a request is in flight, new
 * records queue; when it completes, everything queued goes out together. Under load batches grow by
 * themselves; at rest a record leaves at once.
 */
import { deadline } from './deadline.ts';
import { ConnectorError } from './errors.ts';
import type { OutgoingRecord, Producer, TopicRecords } from './kafka.ts';

interface Entry {
  batches: TopicRecords[];
  count: number;
  dispatched: boolean;
  cancelled: boolean;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export interface BatchingProducer {
  /**
   * Resolves when the broker acked every record. Aborting before the records left (the caller gave up,
   * e.g. answered 503) withdraws them; once sent they can still land, which callers must tolerate.
   */
  send(batches: TopicRecords[], signal?: AbortSignal): Promise<void>;
  /** Records queued or in flight. */
  pending(): number;
  /** Resolves once nothing is queued or in flight. */
  drain(): Promise<void>;
}

export function createBatchingProducer(
  producer: Producer,
  options: { maxBatchRecords?: number } = {},
): BatchingProducer {
  // 2,000 rather than more: kafkajs encodes a produce request synchronously, in several copies, so
  // larger requests held the event loop for tens of milliseconds and their buffers raised the peak
  // memory (npm run bench:ingress: peak RSS 202–211 → 192 MB, p99 of 100-event webhooks at half load
  // 6.6 ms, CPU per event unchanged; the destination's identify calls make two records each).
  const maxBatchRecords = options.maxBatchRecords ?? 2000;
  const queue: Entry[] = [];
  let inFlight = false;
  let pendingCount = 0;
  let idleWaiters: (() => void)[] = [];

  const settle = (entries: Entry[]) => {
    for (const entry of entries) pendingCount -= entry.count;
    if (pendingCount === 0 && !inFlight) {
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const wake of waiters) wake();
    }
  };

  const pump = () => {
    if (inFlight) return;
    const taken: Entry[] = [];
    let records = 0;
    while (queue.length > 0) {
      const next = queue[0] as Entry;
      if (taken.length > 0 && records + next.count > maxBatchRecords) break;
      queue.shift();
      next.dispatched = true;
      taken.push(next);
      records += next.count;
    }
    if (taken.length === 0) return;
    inFlight = true;
    producer.send(mergeByTopic(taken)).then(
      () => {
        inFlight = false;
        for (const entry of taken) entry.resolve();
        settle(taken);
        pump();
      },
      (err: unknown) => {
        inFlight = false;
        for (const entry of taken) entry.reject(err);
        settle(taken);
        pump();
      },
    );
  };

  return {
    send(batches, signal) {
      const count = batches.reduce((sum, b) => sum + b.records.length, 0);
      if (count === 0) return Promise.resolve();
      if (signal?.aborted) return Promise.reject(signal.reason);
      return new Promise<void>((resolve, reject) => {
        const onAbort = () => {
          if (!entry.dispatched && !entry.cancelled) {
            entry.cancelled = true;
            // Withdrawn records must stop counting against the caller's pending limit at once.
            queue.splice(queue.indexOf(entry), 1);
            settle([entry]);
          }
          reject(signal?.reason);
        };
        // The listener goes as soon as the entry settles: a timeout signal with a listener stays alive
        // until it fires (INGRESS_ACK_TIMEOUT_MS), and with it every record of the entry.
        const entry: Entry = {
          batches,
          count,
          dispatched: false,
          cancelled: false,
          resolve: () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          },
          reject: (err) => {
            signal?.removeEventListener('abort', onAbort);
            reject(err);
          },
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        pendingCount += count;
        queue.push(entry);
        // A microtask lets the callers of this same tick join the batch.
        queueMicrotask(pump);
      });
    },
    pending: () => pendingCount,
    drain() {
      if (pendingCount === 0 && !inFlight) return Promise.resolve();
      return new Promise((resolve) => idleWaiters.push(resolve));
    },
  };
}

function mergeByTopic(entries: Entry[]): TopicRecords[] {
  const byTopic = new Map<string, OutgoingRecord[]>();
  for (const entry of entries) {
    for (const { topic, records } of entry.batches) {
      let list = byTopic.get(topic);
      if (!list) {
        list = [];
        byTopic.set(topic, list);
      }
      for (const record of records) list.push(record);
    }
  }
  return [...byTopic].map(([topic, records]) => ({ topic, records }));
}

/** The intake request a body's records come from, and when it arrived: stamped on what they publish. */
export interface PublishContext {
  requestId: string;
  receivedAt: number;
}

/**
 * An intake refuses a request's records when too much already waits for Kafka; checked before they
 * are encoded, so shedding stays cheap when Kafka is slow. A request is always taken when nothing
 * waits: one larger than the limit would otherwise be refused on every retry until its sender gives
 * up; the body limit bounds it instead. Retriable: the caller answers 503 and the sender retries.
 */
export function refuseWhenFull(
  producer: BatchingProducer,
  count: number,
  limit: { max: number; code: 'INGRESS_OVERLOADED' | 'DESTINATION_OVERLOADED'; setting: string },
): void {
  const waiting = producer.pending();
  if (waiting > 0 && waiting + count > limit.max) {
    throw new ConnectorError(
      limit.code,
      `${waiting} records already wait for Kafka; ${count} more would pass ${limit.setting}=${limit.max}.`,
    );
  }
}

/**
 * Sends an intake request's records and waits for Kafka's ack within `ackTimeoutMs`; a late ack
 * withdraws what did not leave yet. Either failure is KAFKA_UNAVAILABLE (retriable: 503, sent again).
 */
export async function sendAcked(
  producer: BatchingProducer,
  batches: TopicRecords[],
  count: number,
  ack: { timeoutMs: number; setting: string },
): Promise<void> {
  const within = deadline(ack.timeoutMs);
  try {
    await producer.send(batches, within.signal);
  } catch (err) {
    const detail = within.expired()
      ? `Kafka did not ack ${count} records within ${ack.setting}=${ack.timeoutMs}`
      : `Kafka refused ${count} records: ${(err as Error).message}`;
    throw new ConnectorError('KAFKA_UNAVAILABLE', detail, { cause: err });
  } finally {
    within.release();
  }
}
