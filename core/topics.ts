import { type Static, Type } from '@sinclair/typebox';
import { loadConfig } from './config.ts';
import { ConnectorError } from './errors.ts';
import type { KafkaClient, TopicDescription, TopicSpec } from './kafka.ts';
import type { Logger } from './logger.ts';

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
    TOPIC_MAX_MESSAGE_BYTES: Type.Integer({
      // The producer's request cap (core/batching-producer.ts): merged records must fit every topic.
      minimum: 512 * 1024,
      default: 1024 * 1024,
      description:
        'max.message.bytes of the event topics this project creates, checked on existing ones at start-up; also the largest event the ingress writes to the raw topic (a larger one goes whole to the dead-letter topic as EVENT_TOO_LARGE).',
    }),
    DEAD_LETTER_TOPIC_MAX_MESSAGE_BYTES: Type.Integer({
      minimum: 512 * 1024,
      default: 9 * 1024 * 1024,
      description:
        'max.message.bytes of the dead-letter topics this project creates, checked on existing ones at start-up: a dead letter can be a whole webhook body, so at least INGRESS_BODY_LIMIT_BYTES + 64 KiB.',
    }),
    TOPIC_REPLICATION_FACTOR: Type.Optional(
      Type.Integer({
        minimum: 1,
        examples: [3],
        description:
          "Replication factor of topics this project creates. Unset: the cluster's default.replication.factor.",
      }),
    ),
    TOPIC_MIN_INSYNC_REPLICAS: Type.Optional(
      Type.Integer({
        minimum: 1,
        examples: [2],
        description:
          "min.insync.replicas of topics this project creates: replicas that hold a record before Kafka acks it. Unset: the cluster's default.",
      }),
    ),
  },
  { additionalProperties: false },
);

export type TopicConfig = Static<typeof topicConfigSchema>;

export function loadTopicConfig(env: NodeJS.ProcessEnv = process.env): TopicConfig {
  return loadConfig(topicConfigSchema, env, (config) => {
    const problems: string[] = [];
    if (config.DEAD_LETTER_TOPIC_MAX_MESSAGE_BYTES < config.TOPIC_MAX_MESSAGE_BYTES) {
      problems.push(
        `DEAD_LETTER_TOPIC_MAX_MESSAGE_BYTES (${config.DEAD_LETTER_TOPIC_MAX_MESSAGE_BYTES}) must be at least TOPIC_MAX_MESSAGE_BYTES (${config.TOPIC_MAX_MESSAGE_BYTES}): an event too large for the raw topic is dead-lettered whole.`,
      );
    }
    const replicas = config.TOPIC_REPLICATION_FACTOR;
    const minInsync = config.TOPIC_MIN_INSYNC_REPLICAS;
    if (replicas !== undefined && minInsync !== undefined && minInsync > replicas) {
      problems.push(
        `TOPIC_MIN_INSYNC_REPLICAS (${minInsync}) must not exceed TOPIC_REPLICATION_FACTOR (${replicas}): no write could be acked.`,
      );
    }
    return problems;
  });
}

/** The max.message.bytes a topic of this project must allow: dead letters can be whole webhook bodies. */
export function requiredMaxMessageBytes(
  config: TopicConfig,
  topic: string,
): { bytes: number; setting: string } {
  return topic === config.DEAD_LETTER_TOPIC || topic === config.DESTINATION_DEAD_LETTER_TOPIC
    ? { bytes: config.DEAD_LETTER_TOPIC_MAX_MESSAGE_BYTES, setting: 'DEAD_LETTER_TOPIC_MAX_MESSAGE_BYTES' }
    : { bytes: config.TOPIC_MAX_MESSAGE_BYTES, setting: 'TOPIC_MAX_MESSAGE_BYTES' };
}

/**
 * Start-up warnings about durability: a topic with one replica on a cluster of several brokers loses
 * its acked records with that broker, whatever acks=all promises.
 */
export function replicationWarnings(brokerCount: number, topics: readonly TopicDescription[]): string[] {
  if (brokerCount < 2) return [];
  return topics
    .filter((t) => t.replicationFactor === 1)
    .map(
      (t) =>
        `Topic ${t.topic} has 1 replica on a cluster of ${brokerCount} brokers: losing that broker loses acked records. New topics take TOPIC_REPLICATION_FACTOR; raise this one with kafka-reassign-partitions.`,
    );
}

/**
 * Creates the topics that are missing when CREATE_TOPICS is on (existing topics are left as they are),
 * then checks every existing one: its max.message.bytes must hold what this project writes to it, or
 * records would be refused at run time, and a webhook answered 503 until Mailjet gives up on it.
 */
export async function ensureTopics(
  kafka: KafkaClient,
  config: TopicConfig,
  topics: string[],
  compacted: string[] = [],
  log?: Logger,
): Promise<void> {
  const names = [...topics, ...compacted];
  const spec = (topic: string): TopicSpec => ({
    topic,
    partitions: config.TOPIC_PARTITIONS,
    maxMessageBytes: requiredMaxMessageBytes(config, topic).bytes,
    ...(config.TOPIC_REPLICATION_FACTOR === undefined
      ? {}
      : { replicationFactor: config.TOPIC_REPLICATION_FACTOR }),
    ...(config.TOPIC_MIN_INSYNC_REPLICAS === undefined
      ? {}
      : { minInsyncReplicas: config.TOPIC_MIN_INSYNC_REPLICAS }),
  });
  let described: TopicDescription[];
  let brokerCount: number;
  try {
    if (config.CREATE_TOPICS) {
      await kafka.ensureTopics([
        ...topics.map(spec),
        ...compacted.map((topic) => ({ ...spec(topic), compacted: true })),
      ]);
    }
    [described, brokerCount] = await Promise.all([
      kafka.describeTopics(names),
      kafka.describeCluster().then((cluster) => cluster.brokers.length),
    ]);
  } catch (err) {
    // A refused login or certificate says more than "could not create topics".
    if (err instanceof ConnectorError && !err.retriable) throw err;
    throw new ConnectorError(
      'TOPIC_SETUP_FAILED',
      `Could not create or describe topics ${names.join(', ')}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  const tooSmall = described.flatMap((t) => {
    const required = requiredMaxMessageBytes(config, t.topic);
    return t.maxMessageBytes < required.bytes
      ? [`${t.topic} has max.message.bytes=${t.maxMessageBytes}, below ${required.setting}=${required.bytes}`]
      : [];
  });
  if (tooSmall.length > 0) throw new ConnectorError('TOPIC_TOO_SMALL', tooSmall.join('; '));
  for (const warning of replicationWarnings(brokerCount, described)) log?.warn(warning);
}
