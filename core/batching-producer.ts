/**
 * Coalesces the records of many concurrent callers (webhook requests, consumer batches) into one
 * produce request at a time. An idempotent producer keeps a partition's records in order only with one
 * request in flight (a retried earlier request would land after a later one; core/kafka.ts sends one at
 * a time), and a client without linger sends each caller's records alone, so: while a request is in
 * flight, new records queue; when it completes, everything queued goes out together. Under load batches grow by
 * themselves; at rest a record leaves at once.
 *
 * A request is cut by records and by bytes, between callers or inside one caller's records: the client
 * writes all records of one partition in a request as one record batch, and the broker refuses a batch
 * above the topic's max.message.bytes (MESSAGE_TOO_LARGE) for the whole partition. A record larger than
 * the byte cap goes alone; whether it fits its topic is the caller's check (see recordBatchBytes).
 */
import { deadline } from './deadline.ts';
import { ConnectorError } from './errors.ts';
import type { OutgoingRecord, Producer, TopicRecords } from './kafka.ts';

/**
 * Bytes of a v2 record batch holding these records, uncompressed, counted the way the broker compares
 * it with max.message.bytes (batch header plus records), with every varint at its largest: never less
 * than the real size, at most a few dozen bytes per record more. Compression only makes it smaller.
 */
export function recordBatchBytes(records: readonly OutgoingRecord[]): number {
  let bytes = RECORD_BATCH_HEADER_BYTES;
  for (const record of records) bytes += recordBytes(record);
  return bytes;
}

/** Offset and length before the batch, and the batch header (magic 2). */
const RECORD_BATCH_HEADER_BYTES = 12 + 49;
/** Length, attributes, timestamp and offset deltas, key and value lengths, header count (varints at most). */
const RECORD_OVERHEAD_BYTES = 5 + 1 + 10 + 5 + 5 + 5 + 5;

function recordBytes({ key, value, headers }: OutgoingRecord): number {
  let bytes = RECORD_OVERHEAD_BYTES + byteLength(key) + (value?.length ?? 0);
  if (headers) {
    for (const name in headers) bytes += 10 + Buffer.byteLength(name) + byteLength(headers[name] ?? null);
  }
  return bytes;
}

function byteLength(data: string | Buffer | null): number {
  if (data === null) return 0;
  return typeof data === 'string' ? Buffer.byteLength(data) : data.length;
}

interface Entry {
  batches: TopicRecords[];
  count: number;
  /** Where the records not yet taken into a request start: batches[topicIndex].records[recordIndex]. */
  topicIndex: number;
  recordIndex: number;
  /** Records taken into requests so far; the entry stays queued until all are. */
  taken: number;
  /** Records the broker acked; the entry resolves when all are. */
  acked: number;
  /** Settled early (aborted, or a part failed): later acks are not its to report. */
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

export interface BatchingOptions {
  /** Most records in one produce request. */
  maxBatchRecords?: number;
  /** Most bytes (recordBatchBytes of all its records) in one produce request, unless one record is larger. */
  maxBatchBytes?: number;
}

/**
 * Half of Kafka's default max.message.bytes (1 MiB): every partition's batch of a request stays under
 * the limit of any topic at its default, whatever the partitioner does, with room for the estimate.
 */
export const DEFAULT_MAX_BATCH_BYTES = 512 * 1024;

export function createBatchingProducer(producer: Producer, options: BatchingOptions = {}): BatchingProducer {
  // 2,000 rather than more: a produce request is encoded synchronously, so larger requests hold the
  // event loop longer (webhooks wait behind them) and their buffers raise the peak memory, while the
  // CPU per event does not improve (npm run bench:ingress; the destination's identify calls make two
  // records each).
  const maxBatchRecords = options.maxBatchRecords ?? 2000;
  const maxBatchBytes = options.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES;
  const queue: Entry[] = [];
  let inFlight = false;
  let pendingCount = 0;
  let idleWaiters: (() => void)[] = [];

  const settle = (records: number) => {
    pendingCount -= records;
    if (pendingCount === 0 && !inFlight) {
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const wake of waiters) wake();
    }
  };

  /** Takes the records of a failed or withdrawn entry that did not leave out of the queue. */
  const withdraw = (entry: Entry) => {
    const index = queue.indexOf(entry);
    if (index >= 0) queue.splice(index, 1);
    const left = entry.count - entry.taken;
    entry.taken = entry.count;
    settle(left);
  };

  const pump = () => {
    if (inFlight || queue.length === 0) return;
    const byTopic = new Map<string, OutgoingRecord[]>();
    // Each entry with a part in this request, and how many of its records that part holds.
    const parts = new Map<Entry, number>();
    let records = 0;
    let bytes = 0;
    fill: for (const entry of queue) {
      const takenBefore = entry.taken;
      while (entry.topicIndex < entry.batches.length) {
        const { topic, records: list } = entry.batches[entry.topicIndex] as TopicRecords;
        if (entry.recordIndex >= list.length) {
          entry.topicIndex++;
          entry.recordIndex = 0;
          continue;
        }
        const record = list[entry.recordIndex] as OutgoingRecord;
        const size = recordBytes(record);
        const overBytes = RECORD_BATCH_HEADER_BYTES + bytes + size > maxBatchBytes;
        if (records > 0 && (records >= maxBatchRecords || overBytes)) break fill;
        let out = byTopic.get(topic);
        if (!out) {
          out = [];
          byTopic.set(topic, out);
        }
        out.push(record);
        entry.recordIndex++;
        entry.taken++;
        parts.set(entry, entry.taken - takenBefore);
        records++;
        bytes += size;
      }
    }
    // Entries taken whole leave the queue; one cut short stays at its head for the next request.
    while (queue.length > 0 && (queue[0] as Entry).taken === (queue[0] as Entry).count) queue.shift();
    inFlight = true;
    producer.send([...byTopic].map(([topic, list]) => ({ topic, records: list }))).then(
      () => {
        inFlight = false;
        for (const [entry, part] of parts) {
          if (entry.cancelled) continue;
          entry.acked += part;
          if (entry.acked === entry.count) entry.resolve();
        }
        settle(records);
        pump();
      },
      (err: unknown) => {
        inFlight = false;
        for (const entry of parts.keys()) {
          if (entry.cancelled) continue;
          // The rest of a failed caller's records is not sent: the caller answers failure and resends all.
          entry.cancelled = true;
          withdraw(entry);
          entry.reject(err);
        }
        settle(records);
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
          if (!entry.cancelled) {
            entry.cancelled = true;
            // Withdrawn records must stop counting against the caller's pending limit at once; records
            // already sent may still land.
            withdraw(entry);
          }
          reject(signal?.reason);
        };
        // The listener goes as soon as the entry settles: a timeout signal with a listener stays alive
        // until it fires (INGRESS_ACK_TIMEOUT_MS), and with it every record of the entry.
        const entry: Entry = {
          batches,
          count,
          topicIndex: 0,
          recordIndex: 0,
          taken: 0,
          acked: 0,
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
