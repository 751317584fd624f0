import { randomBytes } from 'node:crypto';
import type { TestContext } from 'node:test';
import { createKafkaClient, type IncomingRecord, type KafkaClient } from '../../core/kafka.ts';
import { silentLogger } from '../../core/logger.ts';
import { createSchemaRegistryClient, type SchemaRegistryClient } from '../../core/schema-registry.ts';

/** The broker and registry that test/global-setup.ts started for this run. */
export function testStack(): { brokers: string[]; registryUrl: string } {
  const brokers = process.env.TEST_KAFKA_BROKERS;
  const registryUrl = process.env.TEST_SCHEMA_REGISTRY_URL;
  if (!brokers || !registryUrl) {
    throw new Error(
      'No test stack: run tests with `npm run test:node`, which starts one (test/global-setup.ts).',
    );
  }
  return { brokers: brokers.split(','), registryUrl };
}

/** A name no other test (or earlier run against the same cluster) uses: topics, groups, subjects. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(6).toString('hex')}`;
}

/** Every topic name variable, each a topic of its own for this test. */
export function uniqueTopicEnv(): Record<string, string> {
  return {
    RAW_TOPIC: uniqueName('raw'),
    DEAD_LETTER_TOPIC: uniqueName('dlq'),
    NORMALIZED_TOPIC: uniqueName('normalized'),
    IDENTITY_TOPIC: uniqueName('identities'),
    IDENTIFY_TOPIC: uniqueName('identifies'),
    DESTINATION_DEAD_LETTER_TOPIC: uniqueName('identifies-dlq'),
  };
}

/** A Kafka client on the test stack, closed when the test ends. */
export function testKafka(t: TestContext): KafkaClient {
  const client = createKafkaClient({
    brokers: testStack().brokers,
    clientId: uniqueName('test'),
    logger: silentLogger(),
  });
  t.after(() => client.close());
  return client;
}

export function testRegistry(): SchemaRegistryClient {
  return createSchemaRegistryClient(testStack().registryUrl);
}

/** Reads `count` records of `topic` from the beginning with a fresh consumer group; fails after `timeoutMs`. */
export async function readRecords(
  t: TestContext,
  client: KafkaClient,
  topic: string,
  count: number,
  timeoutMs = 30_000,
): Promise<IncomingRecord[]> {
  const consumer = await client.consumer({ groupId: uniqueName('reader') });
  t.after(() => consumer.disconnect());
  await consumer.subscribe([topic], { fromBeginning: true });
  const records: IncomingRecord[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`read ${records.length} of ${count} records from ${topic} in ${timeoutMs} ms`)),
      timeoutMs,
    );
    consumer
      .run(async (record) => {
        records.push(record);
        if (records.length === count) {
          clearTimeout(timer);
          resolve(records);
        }
      })
      .catch(reject);
  });
}
