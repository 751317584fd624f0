/**
 * A bounded local view of the identity topic (compacted: email → userId). Read from the beginning by a
 * consumer of its own, never committed, so every instance sees the whole table. The least recently used
 * emails leave when the view is full: memory stays bounded whatever the table's size, and an email that
 * left is simply sent as anonymousId until it is seen again.
 */
import { randomUUID } from 'node:crypto';
import type { KafkaClient } from '../core/kafka.ts';
import type { Logger } from '../core/logger.ts';

export interface IdentityView {
  userIdOf(email: string | null): string | undefined;
  size(): number;
  /** Records applied from the topic so far. */
  applied(): number;
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
  // A group of its own per process: it must read the whole topic, not share it with other instances.
  const consumer = await options.kafka.consumer({
    groupId: `${options.groupPrefix}-identities-${randomUUID()}`,
  });
  await consumer.subscribe([options.topic], { fromBeginning: true });
  void consumer
    .run(async (record) => {
      if (!record.key) return;
      map.set(record.key.toString('utf8'), record.value === null ? null : record.value.toString('utf8'));
      applied++;
    })
    .catch((err: unknown) => options.logger.error({ err, topic: options.topic }, 'identity view stopped'));
  return {
    userIdOf: (email) => (email ? map.get(email) : undefined),
    size: () => map.size(),
    applied: () => applied,
    close: () => consumer.disconnect(),
  };
}
