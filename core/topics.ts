import { type Static, Type } from '@sinclair/typebox';
import { loadConfig } from './config.ts';
import { ConnectorError } from './errors.ts';
import type { KafkaClient } from './kafka.ts';

const topicName = (fallback: string, description: string) =>
  Type.String({ pattern: '^[a-zA-Z0-9._-]{1,249}$', default: fallback, examples: [fallback], description });

export const topicConfigSchema = Type.Object(
  {
    RAW_TOPIC: topicName(
      'mailjet.events.raw',
      'Topic of the raw Mailjet events (Avro, key = recipient email).',
    ),
    DEAD_LETTER_TOPIC: topicName(
      'mailjet.events.dlq',
      'Dead-letter topic: original bytes plus dlq.* headers with stage, error code and message.',
    ),
    NORMALIZED_TOPIC: topicName(
      'mailjet.events.normalized',
      'Topic of normalized events for other teams (Avro MailjetEventNormalized, key = recipient email).',
    ),
    IDENTITY_TOPIC: topicName(
      'mailjet.identities',
      'Compacted topic of known users: key = email (lower case), value = userId as UTF-8 text; empty value deletes.',
    ),
    IDENTIFY_TOPIC: topicName(
      'segment.identifies',
      'Topic of the Segment identify calls the Mailjet destination received (Avro SegmentIdentify, key = email).',
    ),
    DESTINATION_DEAD_LETTER_TOPIC: topicName(
      'segment.identifies.dlq',
      'Dead-letter topic of the Mailjet destination: identify calls it could not store or Mailjet refused, with dlq.* headers.',
    ),
    CREATE_TOPICS: Type.Boolean({
      default: true,
      description: 'Create missing topics at start-up. Set false where topics are managed elsewhere.',
    }),
    TOPIC_PARTITIONS: Type.Integer({
      minimum: 1,
      default: 6,
      description: 'Partitions of topics this project creates (ingress and connector scale up to this many).',
    }),
  },
  { additionalProperties: false },
);

export type TopicConfig = Static<typeof topicConfigSchema>;

export function loadTopicConfig(env: NodeJS.ProcessEnv = process.env): TopicConfig {
  return loadConfig(topicConfigSchema, env);
}

/** Creates the topics that are missing when CREATE_TOPICS is on; existing topics are left as they are. */
export async function ensureTopics(
  kafka: KafkaClient,
  config: TopicConfig,
  topics: string[],
  compacted: string[] = [],
): Promise<void> {
  if (!config.CREATE_TOPICS) return;
  try {
    await kafka.ensureTopics([
      ...topics.map((topic) => ({ topic, partitions: config.TOPIC_PARTITIONS })),
      ...compacted.map((topic) => ({ topic, partitions: config.TOPIC_PARTITIONS, compacted: true })),
    ]);
  } catch (err) {
    // A refused login or certificate says more than "could not create topics".
    if (err instanceof ConnectorError && !err.retriable) throw err;
    const names = [...topics, ...compacted].join(', ');
    throw new ConnectorError(
      'TOPIC_SETUP_FAILED',
      `Could not create topics ${names}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}
