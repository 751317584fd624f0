import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ConnectorConfig, loadConnectorConfig } from '../../connector/config.ts';
import { type RunningConnector, startConnector } from '../../connector/server.ts';
import type { KafkaClient } from '../../core/kafka.ts';
import { silentLogger } from '../../core/logger.ts';
import type { TopicConfig } from '../../core/topics.ts';
import { type LocalSegment, startLocalSegment } from '../../local-saas/segment/server.ts';
import { testStack, uniqueName } from './stack.ts';

export const SEGMENT_WRITE_KEY = 'test-write-key';

/** A local Segment server for one test. */
export async function startTestSegment(t: TestContext): Promise<LocalSegment> {
  const segment = await startLocalSegment({ writeKeys: [SEGMENT_WRITE_KEY] });
  t.after(() => segment.stop());
  return segment;
}

export interface TestConnector extends RunningConnector {
  config: ConnectorConfig;
}

/** A connector on the given topics with a group of its own, shut down when the test ends. */
export async function startTestConnector(
  t: TestContext,
  topics: TopicConfig,
  segment: LocalSegment,
  env: NodeJS.ProcessEnv = {},
  cluster: { brokers: string[]; registryUrl: string } = testStack(),
): Promise<TestConnector> {
  const config = loadConnectorConfig({
    CONNECTOR_GROUP_ID: uniqueName('connector'),
    CONNECTOR_HOST: '127.0.0.1',
    CONNECTOR_PORT: '0',
    ...env,
  });
  const connector = await startConnector({
    config,
    topics,
    ...cluster,
    segment: { endpoint: segment.url, writeKey: SEGMENT_WRITE_KEY },
    logger: silentLogger(),
  });
  t.after(() => connector.shutdown());
  return { ...connector, config };
}

/** Waits until `condition` holds, polling; fails with `what` after `timeoutMs`. */
export async function eventually(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 60_000,
) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await sleep(100);
  }
}

/**
 * Writes an identity table of `count` emails nobody mails (large enough that reading it takes a while),
 * then `known`: a view reads these last.
 */
export async function writeIdentityTable(
  t: TestContext,
  kafka: KafkaClient,
  topic: string,
  known: [email: string, userId: string][],
  count = 40_000,
) {
  await kafka.ensureTopics([{ topic, compacted: true }]);
  const producer = await kafka.producer();
  t.after(() => producer.disconnect());
  for (let first = 0; first < count; first += 5000) {
    const records = [];
    for (let i = first; i < Math.min(count, first + 5000); i++) {
      records.push({ key: `someone-${i}@example.com`, value: Buffer.from(`user-someone-${i}`) });
    }
    await producer.send([{ topic, records }]);
  }
  await producer.send([
    { topic, records: known.map(([email, userId]) => ({ key: email, value: Buffer.from(userId) })) },
  ]);
}
