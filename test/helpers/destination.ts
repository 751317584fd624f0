import type { TestContext } from 'node:test';
import { silentLogger } from '../../core/logger.ts';
import { loadTopicConfig, type TopicConfig } from '../../core/topics.ts';
import { type DestinationConfig, loadDestinationConfig } from '../../destination/config.ts';
import { type RunningDestination, startDestination } from '../../destination/server.ts';
import { type LocalMailjet, startLocalMailjet } from '../../local-saas/mailjet/server.ts';
import { eventually } from './connector.ts';
import { testStack, uniqueName } from './stack.ts';

export const MAILJET_CREDENTIALS = { apiKey: 'test-api-key', apiSecret: 'test-api-secret' };
export const DESTINATION_WRITE_KEY = 'test-destination-write-key';

/** A local Mailjet server for one test. */
export async function startTestMailjet(t: TestContext): Promise<LocalMailjet> {
  const mailjet = await startLocalMailjet({ credentials: [MAILJET_CREDENTIALS] });
  t.after(() => mailjet.stop());
  return mailjet;
}

export interface TestDestination extends RunningDestination {
  config: DestinationConfig;
  topics: TopicConfig;
  /** POSTs a JSON body to an intake path with the test write key. */
  post(path: string, body: unknown): Promise<Response>;
}

/**
 * A destination on topics and a group of its own, writing to `mailjet`, shut down when the test ends;
 * returned once its worker (if it runs one) read the Mailjet list and joined its group.
 */
export async function startTestDestination(
  t: TestContext,
  mailjet: LocalMailjet,
  env: NodeJS.ProcessEnv = {},
  topicEnv: NodeJS.ProcessEnv = {},
  cluster: { brokers: string[]; registryUrl: string } = testStack(),
): Promise<TestDestination> {
  const topics = loadTopicConfig({
    IDENTIFY_TOPIC: uniqueName('identifies'),
    DESTINATION_DEAD_LETTER_TOPIC: uniqueName('identifies-dlq'),
    IDENTITY_TOPIC: uniqueName('identities'),
    TOPIC_PARTITIONS: '3',
    ...topicEnv,
  });
  const config = loadDestinationConfig({
    DESTINATION_HOST: '127.0.0.1',
    DESTINATION_PORT: '0',
    DESTINATION_GROUP_ID: uniqueName('destination'),
    DESTINATION_WRITE_KEY,
    MAILJET_JOB_POLL_MS: '50',
    MAILJET_MAX_REQUESTS_PER_SECOND: '1000',
    MAILJET_RETRY_MAX_DELAY_MS: '200',
    ...env,
  });
  const destination = await startDestination({
    config,
    topics,
    ...cluster,
    mailjet: { baseUrl: mailjet.url, ...MAILJET_CREDENTIALS },
    logger: silentLogger(),
  });
  t.after(() => destination.shutdown());
  // Only a worker has something to wait for (an intake takes calls once it listens); asked of an intake,
  // readiness would be probed early, and a test that takes a service away after would read the old probe.
  if (config.DESTINATION_ROLE !== 'intake') {
    await eventually(
      'the worker started',
      async () => (await fetch(`${destination.url}/health/ready`)).status === 200,
    );
  }
  const authorization = `Basic ${Buffer.from(`${DESTINATION_WRITE_KEY}:`).toString('base64')}`;
  return {
    ...destination,
    config,
    topics,
    post: (path, body) =>
      fetch(`${destination.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization },
        body: JSON.stringify(body),
      }),
  };
}
