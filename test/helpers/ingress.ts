import type { TestContext } from 'node:test';
import type { ClusterSecurity } from '../../core/cluster-security.ts';
import { silentLogger } from '../../core/logger.ts';
import { loadTopicConfig, type TopicConfig } from '../../core/topics.ts';
import { type IngressConfig, loadIngressConfig } from '../../ingress/config.ts';
import { type RunningIngress, startIngress } from '../../ingress/server.ts';
import { testStack, uniqueName } from './stack.ts';

export const TEST_USER = 'mailjet';
export const TEST_PASSWORD = 'test-password-123';

export interface TestIngress extends RunningIngress {
  config: IngressConfig;
  topics: TopicConfig;
  /** The webhook URL, without credentials. */
  webhook: string;
  /** Headers that authenticate and declare JSON. */
  headers: Record<string, string>;
}

/** An ingress on a free port with topics of its own, shut down when the test ends. */
export async function startTestIngress(
  t: TestContext,
  env: NodeJS.ProcessEnv = {},
  cluster: { brokers: string[]; registryUrl: string; security?: ClusterSecurity | undefined } = testStack(),
): Promise<TestIngress> {
  const topics = loadTopicConfig({
    RAW_TOPIC: uniqueName('raw'),
    DEAD_LETTER_TOPIC: uniqueName('dlq'),
    NORMALIZED_TOPIC: uniqueName('normalized'),
    IDENTITY_TOPIC: uniqueName('identities'),
    TOPIC_PARTITIONS: '3',
  });
  const config = loadIngressConfig({
    INGRESS_HOST: '127.0.0.1',
    INGRESS_PORT: '0',
    INGRESS_BASIC_AUTH_USER: TEST_USER,
    INGRESS_BASIC_AUTH_PASSWORD: TEST_PASSWORD,
    ...env,
  });
  const ingress = await startIngress({ config, topics, ...cluster, logger: silentLogger() });
  t.after(() => ingress.shutdown());
  return {
    ...ingress,
    config,
    topics,
    webhook: `${ingress.url}${config.INGRESS_PATH}`,
    headers: {
      'content-type': 'application/json',
      authorization: `Basic ${Buffer.from(`${TEST_USER}:${TEST_PASSWORD}`).toString('base64')}`,
    },
  };
}

/** POSTs a body to the webhook the way Mailjet does. */
export function postWebhook(
  ingress: TestIngress,
  body: string,
  headers: Record<string, string> = ingress.headers,
) {
  return fetch(ingress.webhook, { method: 'POST', headers, body });
}

/** Sum of the end offsets of a topic: how many records it holds. */
export async function recordCount(
  kafka: { endOffsets(topic: string): Promise<Map<number, string>> },
  topic: string,
) {
  let total = 0;
  for (const offset of (await kafka.endOffsets(topic)).values()) total += Number(offset);
  return total;
}
