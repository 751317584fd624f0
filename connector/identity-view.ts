/**
 * A bounded local view of the identity topic (compacted: email → userId). Read from the beginning by a
 * consumer of its own, never committed, so every instance sees the whole table. The least recently used
 * emails leave when the view is full: memory stays bounded whatever the table's size, and an email that
 * left is simply sent as anonymousId until it is seen again. The connector and replay map nothing before
 * the view has read what the topic held when it started (`ready`).
 */
import { randomUUID } from 'node:crypto';
import type { KafkaClient } from '../core/kafka.ts';
import type { Logger } from '../core/logger.ts';

export interface IdentityView {
  userIdOf(email: string | null): string | undefined;
  size(): number;
  /** Records applied from the topic so far. */
  applied(): number;
  /** True once every record the topic held when the view started was applied (readiness). */
  caughtUp(): boolean;
  /**
   * Resolves once caughtUp() is true; rejects when the view stops before. Nothing may be mapped before:
   * a backlog mapped while the table is still being read would go out with the email as anonymousId
   * although the userId is known (after every restart, and in every replay).
   */
  ready: Promise<void>;
  close(): Promise<void>;
}

export function createIdentityMap(maxEntries: number) {
  const map = new Map<string, string>();
  return {
    set(email: string, userId: string | null) {
      const key = email.trim().toLowerCase();
      map.delete(key);
      if (userId === null || userId === '') return;
      map.set(key, userId);
      if (map.size > maxEntries) map.delete(map.keys().next().value as string);
    },
    get(email: string): string | undefined {
      // Most deployments have no identity table: no lower-cased copy of every event's email then.
      if (map.size === 0) return undefined;
      const key = email.trim().toLowerCase();
      const userId = map.get(key);
      if (userId !== undefined) {
        // Map keeps insertion order: re-inserting marks the entry as recently used.
        map.delete(key);
        map.set(key, userId);
      }
      return userId;
    },
    size: () => map.size,
  };
}

export async function startIdentityView(options: {
  kafka: KafkaClient;
  topic: string;
  groupPrefix: string;
  maxEntries: number;
  logger: Logger;
}): Promise<IdentityView> {
  const map = createIdentityMap(options.maxEntries);
  let applied = 0;
  // Read before the consumer starts: what the view must have applied before anything is mapped. Per
  // partition, the last offset the topic held (the record before the high watermark). The tail of a
  // compacted log is its active segment, which is never cleaned, so that record is there to be read.
  const behind = new Map<number, bigint>();
  for (const [partition, end] of await options.kafka.endOffsets(options.topic)) {
    if (BigInt(end) > 0n) behind.set(partition, BigInt(end) - 1n);
  }
  let caughtUp!: () => void;
  let stopped!: (err: unknown) => void;
  const ready = new Promise<void>((resolve, reject) => {
    caughtUp = resolve;
    stopped = reject;
  });
  // A rejection nobody awaits yet (the view stopped while nothing waits on it) must not end the process.
  ready.catch(() => {});
  const settle = () => {
    if (behind.size > 0) return;
    options.logger.info({ topic: options.topic, applied, size: map.size() }, 'identity view caught up');
    caughtUp();
  };
  settle();
  // A group of its own per process: it must read the whole topic, not share it with other instances.
  const consumer = await options.kafka.consumer({
    groupId: `${options.groupPrefix}-identities-${randomUUID()}`,
  });
  await consumer.subscribe([options.topic], { fromBeginning: true });
  void consumer
    .run(async (record) => {
      if (record.key) {
        map.set(record.key.toString('utf8'), record.value === null ? null : record.value.toString('utf8'));
        applied++;
      }
      const last = behind.get(record.partition);
      if (last !== undefined && BigInt(record.offset) >= last) {
        behind.delete(record.partition);
        settle();
      }
    })
    .catch((err: unknown) => {
      options.logger.error({ err, topic: options.topic }, 'identity view stopped');
      stopped(err);
    });
  consumer.onCrash((err) => {
    options.logger.error({ err, topic: options.topic }, 'identity view stopped');
    stopped(err);
  });
  return {
    userIdOf: (email) => (email ? map.get(email) : undefined),
    size: () => map.size(),
    applied: () => applied,
    caughtUp: () => behind.size === 0,
    ready,
    close: () => consumer.disconnect(),
  };
}
