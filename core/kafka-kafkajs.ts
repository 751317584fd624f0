/**
 * kafkajs behind core/kafka.ts's interfaces (which it imports): the default client until the move to
 * @platformatic/kafka ends (core/kafka.ts says when), then removed; KAFKA_CLIENT=platformatic runs the
 * other one.
 */
// First: kafkajs's modules take its Encoder class when they load (see the module).
import './kafkajs-encoder.ts';
import {
  type Admin,
  CompressionTypes,
  type ConfigResourceTypes,
  type ICustomPartitioner,
  Kafka,
  type KafkaConfig,
  type Consumer as KafkajsConsumer,
  type Producer as KafkajsProducer,
  type KafkaMessage,
  type LogEntry,
  logLevel,
  type Message,
  Partitioners,
} from 'kafkajs';
import { ConnectorError } from './errors.ts';
import {
  type Consumer,
  type IncomingRecord,
  type KafkaClient,
  type KafkaSecurity,
  type KafkaSettings,
  type OutgoingRecord,
  type Producer,
  type ProducerCompression,
  partitionOf,
  type TopicRecords,
  topicConfigs,
} from './kafka.ts';
import { installCompressionCodecs } from './kafka-codecs.ts';
import type { Logger } from './logger.ts';

installCompressionCodecs();

/** ConfigResourceTypes.TOPIC: Node cannot see that named export of the CommonJS kafkajs. */
const TOPIC_RESOURCE = 2 as ConfigResourceTypes;

/** Transactions are built on @platformatic/kafka only. */
export function createKafkaClient(settings: KafkaSettings): Omit<KafkaClient, 'transactionalProducer'> {
  const log = settings.logger.child({ component: 'kafka' });
  const kafka = new Kafka({
    clientId: settings.clientId,
    brokers: settings.brokers,
    connectionTimeout: settings.connectionTimeoutMs ?? 3000,
    logLevel: logLevel.INFO,
    ...(settings.retries === undefined ? {} : { retry: { retries: settings.retries } }),
    logCreator: () => (entry: LogEntry) => bridgeLog(log, entry),
    ...kafkajsSecurity(settings.security),
  });
  const connect = async (client: { connect(): Promise<void> }) => {
    try {
      await client.connect();
    } catch (err) {
      throw connectError(err, settings.brokers);
    }
  };
  let admin: Admin | undefined;
  const connectedAdmin = async (): Promise<Admin> => {
    if (!admin) {
      const created = kafka.admin();
      await connect(created);
      admin = created;
    }
    return admin;
  };

  return {
    async describeCluster() {
      const cluster = await (await connectedAdmin()).describeCluster();
      return { clusterId: cluster.clusterId, brokers: cluster.brokers };
    },
    async ensureTopics(topics) {
      const admin = await connectedAdmin();
      // Only the missing ones: asked to create a topic that exists, kafkajs logs a warning at every start.
      const existing = new Set(await admin.listTopics());
      const missing = topics.filter((t) => !existing.has(t.topic));
      if (missing.length === 0) return;
      await admin
        .createTopics({
          waitForLeaders: true,
          topics: missing.map((t) => ({
            topic: t.topic,
            numPartitions: t.partitions ?? 1,
            ...(t.replicationFactor === undefined ? {} : { replicationFactor: t.replicationFactor }),
            configEntries: topicConfigs(t),
          })),
        })
        .catch((err: unknown) => {
          // kafkajs says only "Topic creation errors"; the broker's reason per topic is in `errors`.
          const errors = (err as { errors?: { topic?: string; message?: string }[] }).errors;
          if (!Array.isArray(errors)) throw err;
          const reasons = errors.map((e) => `${e.topic}: ${e.message}`).join('; ');
          throw new Error(`${(err as Error).message}: ${reasons}`, { cause: err });
        });
    },
    async describeTopics(topics) {
      const admin = await connectedAdmin();
      const existing = new Set(await admin.listTopics());
      const names = topics.filter((topic) => existing.has(topic));
      if (names.length === 0) return [];
      const [metadata, configs] = await Promise.all([
        admin.fetchTopicMetadata({ topics: names }),
        admin.describeConfigs({
          includeSynonyms: false,
          resources: names.map((name) => ({
            type: TOPIC_RESOURCE,
            name,
            configNames: ['max.message.bytes', 'min.insync.replicas'],
          })),
        }),
      ]);
      return names.map((topic) => {
        const partitions = metadata.topics.find((t) => t.name === topic)?.partitions ?? [];
        const entries = configs.resources.find((r) => r.resourceName === topic)?.configEntries ?? [];
        const value = (name: string) => Number(entries.find((e) => e.configName === name)?.configValue);
        return {
          topic,
          replicationFactor: Math.min(...partitions.map((p) => p.replicas.length)),
          maxMessageBytes: value('max.message.bytes'),
          minInsyncReplicas: value('min.insync.replicas'),
        };
      });
    },
    async committedOffsets(groupId, topic) {
      const [result] = await (await connectedAdmin()).fetchOffsets({ groupId, topics: [topic] });
      return new Map((result?.partitions ?? []).map((p) => [p.partition, p.offset]));
    },
    async endOffsets(topic) {
      const offsets = await (await connectedAdmin()).fetchTopicOffsets(topic);
      return new Map(offsets.map((o) => [o.partition, o.high]));
    },
    async offsetsForTime(topic, timestampMs) {
      const offsets = await (await connectedAdmin()).fetchTopicOffsetsByTimestamp(topic, timestampMs);
      return new Map(offsets.map((o) => [o.partition, o.offset]));
    },
    async topicExists(topic) {
      return (await (await connectedAdmin()).listTopics()).includes(topic);
    },
    async producer(options = {}) {
      const connectedProducer = async () => {
        const producer = kafka.producer({
          // Java-compatible murmur2 partitioning, so keys land where Kafka Streams or Connect would put them.
          createPartitioner: javaCompatiblePartitioner,
          idempotent: options.idempotent ?? true,
          // Idempotence keeps per-partition order only with at most this many requests in flight.
          maxInFlightRequests: options.idempotent === false ? undefined : 5,
          allowAutoTopicCreation: false,
        });
        await connect(producer);
        return producer;
      };
      return wrapProducer(
        await connectedProducer(),
        connectedProducer,
        compressionTypes[settings.compression ?? 'none'],
        log,
      );
    },
    async consumer({ groupId, maxBytesPerPartition = 256 * 1024 }) {
      const consumer = kafka.consumer({
        groupId,
        allowAutoTopicCreation: false,
        // What one batch in a handler holds: 256 KiB is about 450 raw events instead of kafkajs's
        // 1 MiB and 1,800. A batch waits for its sinks (Segment, Mailjet, the topics), so its records'
        // objects outlive the young generation and the old one grows with them: connector peak RSS
        // about 330 → 260 MB, CPU per event unchanged within the noise (npm run bench:connector);
        // 128 KiB cost CPU and saved nothing more.
        maxBytesPerPartition,
        // An idle fetch returns after this long; disconnect() waits for it, so it bounds shutdown time.
        maxWaitTimeInMs: 1000,
      });
      await connect(consumer);
      return wrapConsumer(consumer);
    },
    async close() {
      await admin?.disconnect();
      admin = undefined;
    },
  };
}

function kafkajsSecurity(security: KafkaSecurity | undefined): Pick<KafkaConfig, 'ssl' | 'sasl'> {
  if (!security) return {};
  const { tls, sasl } = security;
  return {
    ...(tls ? { ssl: { ...tls } } : {}),
    ...(sasl
      ? {
          sasl: {
            mechanism: sasl.mechanism.toLowerCase() as 'plain',
            username: sasl.username,
            password: sasl.password,
          },
        }
      : {}),
  };
}

/** Certificate errors of Node's TLS: the brokers' certificate is not one the configured CAs vouch for. */
const certificateCodes = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * A failed first connection, as the catalogue's KAFKA_AUTH_FAILED or KAFKA_TLS_FAILED when it is one of
 * those (neither heals by waiting: the process must stop and say which setting to fix); anything else
 * as it came. kafkajs wraps the cause in retry errors, so the whole chain is searched.
 */
function connectError(err: unknown, brokers: string[]): unknown {
  const where = brokers.join(',');
  for (let cause: unknown = err, depth = 0; cause && depth < 8; depth++) {
    const { name, message, code } = cause as { name?: string; message?: string; code?: string };
    if (name === 'KafkaJSSASLAuthenticationError') {
      return new ConnectorError('KAFKA_AUTH_FAILED', `Kafka (${where}) refused the SASL login: ${message}`, {
        cause: err,
      });
    }
    if ((code && certificateCodes.has(code)) || (message && /certificate|ssl|tls/i.test(message))) {
      return new ConnectorError('KAFKA_TLS_FAILED', `TLS with Kafka (${where}) failed: ${message}`, {
        cause: err,
      });
    }
    const next = cause as { cause?: unknown; originalError?: unknown; retriableError?: unknown };
    cause = next.originalError ?? next.retriableError ?? next.cause;
  }
  return err;
}

/**
 * kafkajs's DefaultPartitioner, with its murmur2 computed in 32-bit integers. kafkajs computes it
 * through long.js 64-bit values, about 3 µs per keyed record: a third of the connector's produce time
 * (bench/connector.ts --cpu-prof). Only the low 32 bits of those values ever reach the result, so both
 * give the same partition for every key (test/core/kafka.test.ts compares them).
 */
const javaCompatiblePartitioner: ICustomPartitioner = () => {
  const roundRobin = Partitioners.DefaultPartitioner();
  return (args) => {
    const { message, partitionMetadata } = args;
    if (message.partition !== null && message.partition !== undefined) return message.partition;
    const partition = partitionOf(message, partitionMetadata.length);
    return partition ?? roundRobin(args);
  };
};

const compressionTypes: Record<ProducerCompression, CompressionTypes> = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  zstd: CompressionTypes.ZSTD,
};

/**
 * A producer that is replaced after any failed send. When a produce request fails for some partitions
 * only (one record too large for its topic, one leader moved), kafkajs's idempotent producer rolls back
 * the sequence numbers of every partition of the request, including those the broker stored: the next
 * batch of the same size to such a partition reuses stored numbers and is acked as a duplicate without
 * being written, and one of another size is refused with OUT_OF_ORDER_SEQUENCE_NUMBER, as is every later
 * one (kafkajs/src/producer/sendMessages.js). So after a failure the producer's state is not trusted: it
 * is disconnected, and the next send connects a new one, whose new producer id starts its sequence
 * numbers afresh. Sends go one at a time, so none is queued on a producer behind the request that fails
 * (it would be numbered after the rollback); the batching producer every process uses sends one at a
 * time anyway.
 */
function wrapProducer(
  first: KafkajsProducer,
  connectedProducer: () => Promise<KafkajsProducer>,
  compression: CompressionTypes,
  log: Logger,
): Producer {
  let current: KafkajsProducer = first;
  let trusted = true;
  let disconnected = false;
  // The send in progress; the next one starts when it settled.
  let previous: Promise<unknown> = Promise.resolve();
  // The disconnects of replaced producers, which disconnect() waits for.
  const retiring = new Set<Promise<void>>();

  const retire = (producer: KafkajsProducer) => {
    const retired = producer.disconnect().catch(() => {});
    retiring.add(retired);
    void retired.then(() => retiring.delete(retired));
  };
  const replace = async () => {
    const fresh = await connectedProducer();
    // disconnect() was called while it connected (it does not wait: with Kafka down, connecting takes the
    // client's retries, tens of seconds): closed at once, and the send fails on the disconnected one.
    if (disconnected) retire(fresh);
    else {
      current = fresh;
      trusted = true;
    }
  };
  const sendNow = async (batches: TopicRecords[]) => {
    // After disconnect() a send goes to the disconnected producer, which refuses it; none is opened.
    if (!trusted && !disconnected) await replace();
    const producer = current;
    try {
      await producer.sendBatch({
        acks: -1,
        compression,
        topicMessages: batches.map(({ topic, records }) => ({ topic, messages: messagesOf(records) })),
      });
    } catch (err) {
      if (trusted && !disconnected) {
        trusted = false;
        retire(producer);
        log.warn(
          { err },
          'a send failed: the producer is replaced before the next one (its sequence numbers are not trusted)',
        );
      }
      throw err;
    }
  };
  return {
    send(batches) {
      const sent = previous.then(() => sendNow(batches));
      previous = sent.catch(() => {});
      return sent;
    },
    async disconnect() {
      disconnected = true;
      await Promise.all([trusted ? current.disconnect() : undefined, ...retiring]);
    },
  };
}

/** kafkajs takes timestamps as text; records without one (the hot path) are passed as they are. */
function messagesOf(records: OutgoingRecord[]): Message[] {
  if (records.every((record) => record.timestamp === undefined)) return records as Message[];
  return records.map(({ timestamp, ...record }) =>
    timestamp === undefined ? record : { ...record, timestamp: String(timestamp) },
  );
}

function wrapConsumer(consumer: KafkajsConsumer): Consumer {
  // kafkajs's run() resolves once the group is joined. A disconnect() before that finds no runner
  // running, closes the connections, and the join then finishes and starts fetching on its own: a
  // consumer nobody can stop, which kept the process alive (a view closed right after it started). So
  // disconnect() first waits for the start in progress to settle (joined, or crashed).
  let starting: Promise<unknown> = Promise.resolve();
  const started = (run: Promise<void>): Promise<void> => {
    starting = run.catch(() => {});
    return run;
  };
  return {
    subscribe: (topics, options = {}) =>
      consumer.subscribe({ topics, fromBeginning: options.fromBeginning ?? false }),
    run: (handler) =>
      started(
        consumer.run({
          autoCommit: true,
          eachMessage: async ({ topic, partition, message }) => {
            await handler(toIncomingRecord(topic, partition, message));
          },
        }),
      ),
    runBatches: (handler, options = {}) => {
      const { startOffsetOf, endOffsetOf, onCommitted } = options;
      const maxBatchRecords = options.maxBatchRecords ?? Number.POSITIVE_INFINITY;
      const commit = options.commit ?? true;
      if (startOffsetOf) {
        // kafkajs emits GROUP_JOIN synchronously at the end of the join, before its first fetch, and
        // applies queued seeks at the start of a fetch: the first records read come from these offsets.
        consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
          for (const [topic, partitions] of Object.entries(payload.memberAssignment)) {
            for (const partition of partitions) {
              const offset = startOffsetOf(topic, partition);
              if (offset !== undefined) consumer.seek({ topic, partition, offset });
            }
          }
        });
      }
      return started(
        consumer.run({
          autoCommit: false,
          eachBatchAutoResolve: false,
          partitionsConsumedConcurrently: options.partitionsConcurrently ?? 1,
          eachBatch: async ({
            batch,
            heartbeat,
            resolveOffset,
            commitOffsetsIfNecessary,
            isRunning,
            pause,
          }) => {
            if (batch.messages.length === 0 || !isRunning() || options.signal?.aborted) return;
            const { topic, partition } = batch;
            const end = endOffsetOf?.(topic, partition);
            const inRange =
              end === undefined
                ? batch.messages
                : batch.messages.filter((message) => BigInt(message.offset) < BigInt(end));
            const reachedEnd = end !== undefined && BigInt(batch.lastOffset()) + 1n >= BigInt(end);
            // Kafka stores the next offset to read: one past the last record handled. Committed through the
            // batch's own handle: consumer.commitOffsets() silently skips once disconnect() began, which
            // would leave the batch that shutdown waited for uncommitted.
            const done = async (next: string) => {
              if (commit) {
                await commitOffsetsIfNecessary({
                  topics: [{ topic, partitions: [{ partition, offset: next }] }],
                });
              }
              onCommitted?.(topic, partition, next);
            };
            for (let first = 0; first < inRange.length; first += maxBatchRecords) {
              // Stopping between pieces: what was handled is committed, the rest comes on the next run.
              if (first > 0 && (!isRunning() || options.signal?.aborted)) return;
              const piece = inRange.slice(first, first + maxBatchRecords);
              const last = first + maxBatchRecords >= inRange.length;
              await handler({
                topic,
                partition,
                records: piece.map((message) => toIncomingRecord(topic, partition, message)),
                heartbeat,
              });
              const lastOffset = last ? batch.lastOffset() : (piece.at(-1)?.offset ?? batch.lastOffset());
              resolveOffset(lastOffset);
              await done(last && reachedEnd ? (end as string) : (BigInt(lastOffset) + 1n).toString());
            }
            if (reachedEnd) {
              if (inRange.length === 0) {
                resolveOffset(batch.lastOffset());
                await done(end as string);
              }
              pause();
            }
          },
        }),
      );
    },
    disconnect: async () => {
      await starting;
      await consumer.disconnect();
    },
    onCrash: (listener) => {
      consumer.on(consumer.events.CRASH, (event) => {
        if (!event.payload.restart) listener(event.payload.error);
      });
    },
    onGroupJoin: (listener) => {
      consumer.on(consumer.events.GROUP_JOIN, () => listener());
    },
  };
}

function toIncomingRecord(topic: string, partition: number, message: KafkaMessage): IncomingRecord {
  return {
    topic,
    partition,
    offset: message.offset,
    timestamp: message.timestamp,
    key: message.key,
    value: message.value,
    headers: normalizeHeaders(message.headers),
  };
}

function normalizeHeaders(headers: Record<string, unknown> | undefined): Record<string, Buffer | undefined> {
  const result: Record<string, Buffer | undefined> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    const first = Array.isArray(value) ? value[0] : value;
    result[name] = first === undefined ? undefined : Buffer.from(first as Buffer | string);
  }
  return result;
}

function bridgeLog(log: Logger, { level, label, log: entry }: LogEntry): void {
  const {
    message,
    timestamp: _timestamp,
    logger: _logger,
    ...fields
  } = entry as unknown as Record<string, unknown> & { message: string };
  // kafkajs logs every failed response as an error and then retries it; a request that finally fails
  // rejects its call, which is where the project reports it. So a failed response is only a warning.
  const retried = level === logLevel.ERROR && message.startsWith('Response ');
  const levels: Record<number, 'error' | 'warn' | 'info'> = {
    [logLevel.ERROR]: retried ? 'warn' : 'error',
    [logLevel.WARN]: 'warn',
    [logLevel.INFO]: 'info',
  };
  const target = levels[level] ?? 'debug';
  log[target]({ kafkajs: label, ...fields }, message);
}
