/**
 * The replay process: what it reads (one time range of the raw or dead-letter topic, the identity topic,
 * the schema registry), what it writes (the connector's targets; with --dead-letters also the raw topic),
 * in which order it starts and stops.
 *
 * The range is fixed once at start (offsets by timestamp), read by a consumer group of the replay's own
 * (see replayGroupId) that commits after every batch, so the group's offsets are the progress and the
 * same command resumes. The live connector's group is never joined or committed to. Each partition
 * stops by itself at its end offset; the replay ends when every partition got there, or when `signal`
 * aborts: then the batch in flight is finished and committed (within CONNECTOR_SHUTDOWN_TIMEOUT_MS).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type BatchOutcome, createBatchHandler } from '../connector/batch-handler.ts';
import { type ConnectorConfig, mappingOptionsOf, segmentSinkOptionsOf } from '../connector/config.ts';
import { startIdentityView } from '../connector/identity-view.ts';
import { createConnectorMetrics } from '../connector/metrics.ts';
import { createSegmentSink, type SegmentSink } from '../connector/segment-sink.ts';
import { createBatchingProducer } from '../core/batching-producer.ts';
import type { ClusterSecurity } from '../core/cluster-security.ts';
import { ConnectorError } from '../core/errors.ts';
import { createKafkaClient, type ProducerCompression, type RecordBatch } from '../core/kafka.ts';
import type { Logger } from '../core/logger.ts';
import { type AvroSerializer, createSchemaRegistryClient } from '../core/schema-registry.ts';
import { registerValueSchema } from '../core/service-clients.ts';
import { createTokenBucket, type TokenBucket } from '../core/token-bucket.ts';
import type { TopicConfig } from '../core/topics.ts';
import { createIdentifyPublisher } from '../destination/identify-publisher.ts';
import { createEventPublisher } from '../ingress/event-publisher.ts';
import {
  type MailjetEventRaw,
  mailjetEventNormalizedSchema,
  mailjetEventRawSchema,
  segmentIdentifySchema,
  valueSubject,
} from '../schemas/index.ts';
import { type ReplayOptions, resumeCommand } from './arguments.ts';
import { createDeadLetterRedrive, type RedriveOutcome } from './dead-letter-redrive.ts';
import {
  createProgressReporter,
  type ProgressReporter,
  type ReplayOutput,
  type ReplayPlan,
  type ReplayProgress,
  type ReplaySummary,
} from './progress.ts';
import { expireDeleted, type PartitionRange, rangeTotals, replayGroupId, resolveRange } from './range.ts';

export interface ReplayDependencies {
  brokers: string[];
  registryUrl: string;
  /** TLS/SASL towards Kafka and the registry's credentials, as for the services. */
  security?: ClusterSecurity | undefined;
  /** Codec of the replay's producers (normalized and dead-letter topics), as the connector's. */
  compression?: ProducerCompression | undefined;
  topics: TopicConfig;
  /** The connector's configuration: mapping, identity, Segment timeout, group id prefix, shutdown time. */
  config: ConnectorConfig;
  /** Required when Segment is a target and it is not a dry run. */
  segment?: { endpoint: string; writeKey: string };
  logger: Logger;
  /** Aborting stops the replay: the batch in flight is finished and committed, the rest waits for a re-run. */
  signal?: AbortSignal;
  /** Where the plan, progress and summary go; default: this process's stdout and stderr. */
  output?: ReplayOutput;
  /** Called after every committed batch (tests stop a run part-way with it). */
  onProgress?: (progress: ReplayProgress) => void;
  /** Records handled and committed at a time (default 500); the rate cap may make it smaller. */
  maxBatchRecords?: number;
  /** The `--rate` cap for a rate (default: a token bucket on the real clock); tests count what it is asked. */
  rateLimiter?: (ratePerSecond: number) => TokenBucket;
  clientId?: string;
}

/** How often a running replay looks for the rest of a range deleted by retention. */
const EXPIRY_CHECK_MS = 5000;

const emptySegmentSink: SegmentSink = {
  deliver: () => Promise.reject(new Error('Segment is not a target of this replay')),
};

const noSerializer: AvroSerializer = {
  subject: '(none)',
  schemaId: -1,
  encode: () => {
    throw new Error('the normalized topic is not a target of this replay');
  },
};

export async function runReplay(options: ReplayOptions, deps: ReplayDependencies): Promise<ReplaySummary> {
  const { config, topics, logger } = deps;
  const log = logger.child({ component: 'replay' });
  const started = performance.now();
  const topic = options.topic ?? (options.deadLetters ? topics.DEAD_LETTER_TOPIC : topics.RAW_TOPIC);
  const toSegment = options.targets.includes('segment') && !options.dryRun;
  const toNormalized = options.targets.includes('normalized') && !options.dryRun;
  if (toSegment && !deps.segment) {
    throw new ConnectorError(
      'CONFIG_INVALID',
      'Replaying to Segment needs SEGMENT_WRITE_KEY (or --targets normalized, or --dry-run).',
    );
  }
  const reporter: ProgressReporter = createProgressReporter(
    deps.output ?? { stdout: process.stdout, stderr: process.stderr, isTTY: process.stdout.isTTY === true },
  );
  const kafka = createKafkaClient({
    brokers: deps.brokers,
    clientId: deps.clientId ?? 'mailjet-connector-replay',
    logger,
    ...(deps.security?.kafka ? { security: deps.security.kafka } : {}),
    ...(deps.compression ? { compression: deps.compression } : {}),
  });
  const closers: (() => Promise<unknown>)[] = [() => kafka.close()];
  try {
    if (!(await kafka.topicExists(topic))) {
      throw new ConnectorError(
        'REPLAY_ARGUMENT_INVALID',
        `--topic: topic "${topic}" does not exist on the cluster ${deps.brokers.join(',')}.`,
      );
    }
    const groupId = replayGroupId(config.CONNECTOR_GROUP_ID, topic, options);
    // A dry run never commits, so its group holds no progress: it always reads the whole range.
    const partitions = await resolveRange(
      kafka,
      topic,
      options.fromMs,
      options.toMs,
      options.dryRun ? undefined : groupId,
    );
    const byPartition = new Map(partitions.map((p) => [p.partition, p]));
    const { total, done: alreadyDone } = rangeTotals(partitions);
    const plan: ReplayPlan = {
      groupId,
      topic,
      mode: options.deadLetters ? 'dead-letters' : 'raw',
      from: new Date(options.fromMs).toISOString(),
      to: new Date(options.toMs).toISOString(),
      targets: options.targets,
      dryRun: options.dryRun,
      rate: options.rate ?? null,
      total,
      alreadyDone,
      resumeCommand: resumeCommand(options, topic),
    };
    reporter.plan(plan);
    log.info({ ...plan, partitions: partitions.map(describe) }, 'replay range resolved');

    const counts = { records: 0, eventsByType: {} as Record<string, number>, deadLettered: 0, expired: 0 };
    const redriveCounts = { toRawTopic: 0, toIdentifyTopic: 0, stillRejected: 0, skipped: 0 };
    const finish = (complete: boolean): ReplaySummary => {
      const durationMs = Math.round(performance.now() - started);
      const events = Object.values(counts.eventsByType).reduce((sum, n) => sum + n, 0);
      const summary: ReplaySummary = {
        ...plan,
        complete,
        ...counts,
        ...redriveCounts,
        durationMs,
        eventsPerSecond: durationMs > 0 ? Math.round((events * 1000) / durationMs) : 0,
      };
      reporter.summary(summary);
      return summary;
    };
    if (partitions.every((p) => p.position >= p.end)) return finish(true);

    // Sinks and topics, as the connector sets them up.
    const registry = createSchemaRegistryClient(deps.registryUrl, deps.security?.registryAuth);
    const register = (subject: string, schema: object) => registerValueSchema(registry, subject, schema);
    const normalizedSerializer = toNormalized
      ? await register(valueSubject(topics.NORMALIZED_TOPIC), mailjetEventNormalizedSchema)
      : noSerializer;
    const identities = await startIdentityView({
      kafka,
      topic: topics.IDENTITY_TOPIC,
      groupPrefix: groupId,
      maxEntries: config.IDENTITY_VIEW_MAX_ENTRIES,
      logger: log,
    });
    closers.unshift(() => identities.close());
    // Nothing is mapped before the view holds every identity the topic had at start; a Ctrl-C meanwhile
    // ends the run with nothing done, to be run again.
    const interrupted = new Promise<'interrupted'>((resolve) => {
      if (deps.signal?.aborted) resolve('interrupted');
      deps.signal?.addEventListener('abort', () => resolve('interrupted'), { once: true });
    });
    if ((await Promise.race([identities.ready, interrupted])) === 'interrupted') return finish(false);
    const producer = await kafka.producer({ idempotent: true });
    closers.unshift(() => producer.disconnect());
    const batching = createBatchingProducer(producer);
    const sink =
      toSegment && deps.segment
        ? createSegmentSink({ ...segmentSinkOptionsOf(config, deps.segment), logger: log })
        : emptySegmentSink;

    // `stop` ends fetching (graceful); `abort` also stops waiting for Segment and Kafka (past the deadline).
    const stop = new AbortController();
    const abort = new AbortController();
    let failure: Error | undefined;
    const fail = (error: Error) => {
      failure ??= error;
      stop.abort(error);
    };
    const handle = createBatchHandler({
      decode: registry.decoder<MailjetEventRaw>(mailjetEventRawSchema),
      mapping: mappingOptionsOf(config),
      userIdOf: (email) => identities.userIdOf(email),
      sink,
      producer: batching,
      normalizedSerializer,
      normalizedTopic: topics.NORMALIZED_TOPIC,
      deadLetterTopic: topics.DEAD_LETTER_TOPIC,
      metrics: createConnectorMetrics({ defaultMetrics: false }),
      logger: log,
      signal: abort.signal,
      onFatal: fail,
      targets: { segment: toSegment, normalized: toNormalized },
      dryRun: options.dryRun,
    });
    let handleBatch: (batch: RecordBatch) => Promise<BatchOutcome | RedriveOutcome> = handle;
    if (options.deadLetters) {
      const rawSerializer = options.dryRun
        ? noSerializer
        : await register(valueSubject(topics.RAW_TOPIC), mailjetEventRawSchema);
      // Only for the destination's letters: registering the identify schema when re-driving the
      // connector's would create a registry subject for a part the user may not run.
      const identify =
        topic === topics.DESTINATION_DEAD_LETTER_TOPIC
          ? {
              topic: topics.IDENTIFY_TOPIC,
              producer: batching,
              publisher: createIdentifyPublisher({
                producer: batching,
                identifySerializer: options.dryRun
                  ? noSerializer
                  : await register(valueSubject(topics.IDENTIFY_TOPIC), segmentIdentifySchema),
                identifyTopic: topics.IDENTIFY_TOPIC,
                identityTopic: topics.IDENTITY_TOPIC,
                deadLetterTopic: topics.DESTINATION_DEAD_LETTER_TOPIC,
                ackTimeoutMs: config.CONNECTOR_SHUTDOWN_TIMEOUT_MS,
                maxPendingRecords: Number.MAX_SAFE_INTEGER,
              }),
            }
          : undefined;
      handleBatch = createDeadLetterRedrive({
        handle,
        publisher: createEventPublisher({
          producer: batching,
          rawSerializer,
          rawTopic: topics.RAW_TOPIC,
          deadLetterTopic: topics.DEAD_LETTER_TOPIC,
          ackTimeoutMs: config.CONNECTOR_SHUTDOWN_TIMEOUT_MS,
          maxPendingEvents: Number.MAX_SAFE_INTEGER,
          maxRawRecordBytes: topics.TOPIC_MAX_MESSAGE_BYTES,
          maxDeadLetterBytes: topics.DEAD_LETTER_TOPIC_MAX_MESSAGE_BYTES,
        }),
        ...(identify ? { identify } : {}),
        dryRun: options.dryRun,
      });
    }

    const bucket =
      options.rate === undefined ? undefined : (deps.rateLimiter ?? createTokenBucket)(options.rate);
    const maxBatchRecords = Math.min(
      deps.maxBatchRecords ?? 500,
      bucket?.capacity ?? Number.POSITIVE_INFINITY,
    );
    let completed!: () => void;
    const allDone = new Promise<void>((resolve) => {
      completed = resolve;
    });
    const progress = (): ReplayProgress => {
      const done = rangeTotals(partitions).done;
      return { done, total, thisRun: done - alreadyDone, elapsedMs: performance.now() - started };
    };

    // Synchronously: a batch that starts after the caller asked to stop is not handled (nor committed).
    const stopRequested = () => stop.abort(deps.signal?.reason);
    if (deps.signal?.aborted) stopRequested();
    deps.signal?.addEventListener('abort', stopRequested, { once: true });
    closers.unshift(async () => deps.signal?.removeEventListener('abort', stopRequested));

    const consumer = await kafka.consumer({ groupId });
    closers.unshift(() => consumer.disconnect());
    consumer.onCrash(fail);
    await consumer.subscribe([topic], { fromBeginning: true });
    await consumer.runBatches(
      async (batch) => {
        // Not abortable: the wait is at most about a second, and throwing here would crash the consumer.
        await bucket?.take(batch.records.length);
        const outcome = await handleBatch(batch);
        counts.records += batch.records.length;
        counts.deadLettered += outcome.deadLettered;
        for (const [type, n] of Object.entries(outcome.delivered))
          counts.eventsByType[type] = (counts.eventsByType[type] ?? 0) + n;
        if ('toRawTopic' in outcome) {
          redriveCounts.toRawTopic += outcome.toRawTopic;
          redriveCounts.toIdentifyTopic += outcome.toIdentifyTopic;
          redriveCounts.stillRejected += outcome.stillRejected;
          redriveCounts.skipped += outcome.skipped;
        }
      },
      {
        partitionsConcurrently: config.CONNECTOR_PARTITIONS_CONCURRENTLY,
        maxBatchRecords,
        commit: !options.dryRun,
        signal: stop.signal,
        endOffsetOf: (_topic, partition) => byPartition.get(partition)?.end.toString(),
        // Only where the group has not gone past the start: elsewhere its committed offset is the resume point.
        startOffsetOf: (_topic, partition) => {
          const range = byPartition.get(partition);
          return range && range.position <= range.start ? range.start.toString() : undefined;
        },
        onCommitted: (_topic, partition, next) => {
          const range = byPartition.get(partition);
          if (!range) return;
          const offset = BigInt(next);
          // Never backwards: a batch fetched before retention deleted the rest of its range may commit
          // after the range was found gone (expireDeleted) and set to its end.
          if (offset > range.position) range.position = offset > range.end ? range.end : offset;
          const current = progress();
          reporter.progress(current);
          deps.onProgress?.(current);
          if (partitions.every((p) => p.position >= p.end)) completed();
        },
      },
    );

    // Retention can delete the rest of a partition's range while the replay runs (a range near
    // retention.ms; the broker checks every 5 minutes). The client then reads on from the log's new start
    // and finds the range's end only once a later record is written, which on a quiet partition (the
    // dead-letter topic) may be never. So a partition whose log now starts at or past its end is done.
    const expiryCheck = setInterval(() => {
      kafka.offsetsForTime(topic, 0).then(
        (earliest) => {
          const expired = expireDeleted(partitions, earliest);
          if (expired === 0) return;
          counts.expired += expired;
          log.warn({ expired }, 'records of the range were deleted by retention before they were read');
          const current = progress();
          reporter.progress(current);
          deps.onProgress?.(current);
          if (partitions.every((p) => p.position >= p.end)) completed();
        },
        (err: unknown) => log.warn({ err }, 'checking for records deleted by retention failed'),
      );
    }, EXPIRY_CHECK_MS);
    closers.unshift(async () => clearInterval(expiryCheck));

    const stopped = new Promise<void>((resolve) => {
      if (stop.signal.aborted) resolve();
      stop.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    await Promise.race([allDone, stopped]);
    clearInterval(expiryCheck);
    if (!partitions.every((p) => p.position >= p.end)) log.info('stopping: finishing the batch in flight');
    if (!stop.signal.aborted) stop.abort(new Error('replay finished'));
    // Past the deadline, waiting for Segment stops and the uncommitted records come again on a re-run.
    const deadline = setTimeout(
      () => abort.abort(new Error('shutdown deadline')),
      config.CONNECTOR_SHUTDOWN_TIMEOUT_MS,
    );
    deadline.unref();
    await consumer.disconnect();
    await Promise.race([batching.drain(), sleep(1000, undefined, { ref: false })]);
    clearTimeout(deadline);
    if (failure) throw failure;
    return finish(partitions.every((p) => p.position >= p.end));
  } finally {
    reporter.close();
    for (const close of closers) await close().catch((err: unknown) => log.warn({ err }, 'close failed'));
  }
}

function describe(p: PartitionRange) {
  return {
    partition: p.partition,
    start: p.start.toString(),
    end: p.end.toString(),
    position: p.position.toString(),
  };
}
