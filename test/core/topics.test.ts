import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConnectorError } from '../../core/errors.ts';
import { ensureTopics, loadTopicConfig, replicationWarnings } from '../../core/topics.ts';
import { testKafka, uniqueName, uniqueTopicEnv } from '../helpers/stack.ts';

const MiB = 1024 * 1024;

// Topics were created at the broker's 1 MiB default although dead letters hold whole webhook bodies of
// up to INGRESS_BODY_LIMIT_BYTES, and replication settings could not be given at all.
test('created topics hold the largest event, dead-letter topics a whole body, with the configured min.insync.replicas', async (t) => {
  const kafka = testKafka(t);
  const config = loadTopicConfig({
    ...uniqueTopicEnv(),
    TOPIC_PARTITIONS: '1',
    TOPIC_MIN_INSYNC_REPLICAS: '2',
  });
  await ensureTopics(
    kafka,
    config,
    [config.RAW_TOPIC, config.DEAD_LETTER_TOPIC, config.DESTINATION_DEAD_LETTER_TOPIC],
    [config.IDENTITY_TOPIC],
  );
  const described = await kafka.describeTopics([
    config.RAW_TOPIC,
    config.DEAD_LETTER_TOPIC,
    config.DESTINATION_DEAD_LETTER_TOPIC,
    config.IDENTITY_TOPIC,
  ]);
  assert.deepEqual(
    described.map(({ topic, maxMessageBytes, minInsyncReplicas }) => ({
      topic,
      maxMessageBytes,
      minInsyncReplicas,
    })),
    [
      { topic: config.RAW_TOPIC, maxMessageBytes: MiB, minInsyncReplicas: 2 },
      { topic: config.DEAD_LETTER_TOPIC, maxMessageBytes: 9 * MiB, minInsyncReplicas: 2 },
      { topic: config.DESTINATION_DEAD_LETTER_TOPIC, maxMessageBytes: 9 * MiB, minInsyncReplicas: 2 },
      { topic: config.IDENTITY_TOPIC, maxMessageBytes: MiB, minInsyncReplicas: 2 },
    ],
  );
});

test('TOPIC_REPLICATION_FACTOR reaches the created topic: more replicas than brokers fails start-up', async (t) => {
  const kafka = testKafka(t);
  const config = loadTopicConfig({ RAW_TOPIC: uniqueName('raw'), TOPIC_REPLICATION_FACTOR: '2' });
  await assert.rejects(ensureTopics(kafka, config, [config.RAW_TOPIC]), (err: unknown) => {
    assert.ok(err instanceof ConnectorError);
    assert.equal(err.code, 'TOPIC_SETUP_FAILED');
    // The broker's reason for this topic, in each client's words.
    assert.match(err.message, new RegExp(`${config.RAW_TOPIC}: Replication[- ]factor is`));
    return true;
  });
  const one = loadTopicConfig({ RAW_TOPIC: uniqueName('raw'), TOPIC_REPLICATION_FACTOR: '1' });
  await ensureTopics(kafka, one, [one.RAW_TOPIC]);
  assert.equal((await kafka.describeTopics([one.RAW_TOPIC]))[0]?.replicationFactor, 1);
});

// Nothing compared an existing topic's max.message.bytes with what the ingress writes to it: a topic
// made small elsewhere refused every large enough body, answered 503 until Mailjet gave up.
test('an existing topic smaller than what we write to it stops start-up with TOPIC_TOO_SMALL, whether we create topics or not', async (t) => {
  const kafka = testKafka(t);
  const env = uniqueTopicEnv();
  await kafka.ensureTopics([
    { topic: env.RAW_TOPIC as string, maxMessageBytes: 100_000 },
    { topic: env.DEAD_LETTER_TOPIC as string, maxMessageBytes: 2 * MiB },
  ]);
  for (const create of ['true', 'false']) {
    const config = loadTopicConfig({ ...env, CREATE_TOPICS: create });
    await assert.rejects(
      ensureTopics(kafka, config, [config.RAW_TOPIC, config.DEAD_LETTER_TOPIC]),
      (err: unknown) => {
        assert.ok(err instanceof ConnectorError);
        assert.equal(err.code, 'TOPIC_TOO_SMALL');
        assert.equal(err.retriable, false);
        assert.match(
          err.message,
          new RegExp(`${config.RAW_TOPIC} has max.message.bytes=100000.*TOPIC_MAX_MESSAGE_BYTES=1048576`),
        );
        assert.match(
          err.message,
          new RegExp(
            `${config.DEAD_LETTER_TOPIC} has max.message.bytes=2097152.*DEAD_LETTER_TOPIC_MAX_MESSAGE_BYTES=9437184`,
          ),
        );
        assert.match(err.message, /kafka-configs/);
        return true;
      },
    );
  }
  // Lowered to what the topics hold, the same topics are accepted.
  await ensureTopics(
    kafka,
    loadTopicConfig({
      ...env,
      TOPIC_MAX_MESSAGE_BYTES: String(512 * 1024),
      DEAD_LETTER_TOPIC_MAX_MESSAGE_BYTES: String(2 * MiB),
    }),
    [env.DEAD_LETTER_TOPIC as string],
  );
});

test('a topic with one replica on a cluster of several brokers is warned about', () => {
  const topic = (name: string, replicationFactor: number) => ({
    topic: name,
    replicationFactor,
    maxMessageBytes: MiB,
    minInsyncReplicas: 1,
  });
  assert.deepEqual(replicationWarnings(1, [topic('raw', 1)]), []);
  const warnings = replicationWarnings(3, [topic('raw', 1), topic('dlq', 3)]);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0] ?? '', /raw has 1 replica on a cluster of 3 brokers/);
  assert.match(warnings[0] ?? '', /TOPIC_REPLICATION_FACTOR/);
});

test('topic size settings: defaults, and the dead-letter topics at least as large as the others', () => {
  const config = loadTopicConfig({});
  assert.equal(config.TOPIC_MAX_MESSAGE_BYTES, MiB);
  assert.equal(config.DEAD_LETTER_TOPIC_MAX_MESSAGE_BYTES, 9 * MiB);
  assert.equal(config.TOPIC_REPLICATION_FACTOR, undefined);
  assert.equal(config.TOPIC_MIN_INSYNC_REPLICAS, undefined);
  assert.throws(
    () =>
      loadTopicConfig({
        TOPIC_MAX_MESSAGE_BYTES: String(2 * MiB),
        DEAD_LETTER_TOPIC_MAX_MESSAGE_BYTES: String(MiB),
      }),
    /DEAD_LETTER_TOPIC_MAX_MESSAGE_BYTES \(1048576\) must be at least TOPIC_MAX_MESSAGE_BYTES \(2097152\)/,
  );
});
