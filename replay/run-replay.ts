/**
 * The replay process: what it reads (one time range of the raw, normalized or dead-letter topic; the
 * identity topic when it normalizes; the schema registry), what it writes (by mode: the normalizer's
 * topics, Segment, or where each dead letter's stage takes it again), in which order it starts and stops.
 *
 * The range is fixed once at start (offsets by timestamp), read by a consumer group of the replay's own
 * (see replayGroupId) that commits after every batch, so the group's offsets are the progress and the
 * same command resumes. The live connector's group is never joined or committed to. Each partition
 * stops by itself at its end offset; the replay ends when every partition got there, or when `signal`
 * aborts: then the batch in flight is finished and committed (within CONNECTOR_SHUTDOWN_TIMEOUT_MS).
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ConnectorConfig, mappingOptionsOf, segmentSinkOptionsOf } from '../connector/config.ts';
import { startIdentityView } from '../connector/identity-view.ts';
import { createConnectorMetrics } from '../connector/metrics.ts';
import { createNormalizerHandler } from '../connector/normalizer.ts';
import { createSegmentDeliveryHandler } from '../connector/segment-delivery.ts';
import { createSegmentSink, type SegmentSink } from '../connector/segment-sink.ts';
import { type BatchingProducer, createBatchingProducer } from '../core/batching-producer.ts';
import type { ClusterSecurity } from '../core/cluster-security.ts';
import { ConnectorError } from '../core/errors.ts';
import {
  createKafkaClient,
  type ProducerCompression,
  type RecordBatch,
  type TopicRecords,
} from '../core/kafka.ts';
import type { Logger } from '../core/logger.ts';
import type { StageBatch, StageOutcome } from '../core/pipeline-stage.ts';
import { type AvroSerializer, createSchemaRegistryClient } from '../core/schema-registry.ts';
import { registerValueSchema, startGroupConsumer } from '../core/service-clients.ts';
import { createTokenBucket, type TokenBucket } from '../core/token-bucket.ts';
import type { TopicConfig } from '../core/topics.ts';
import { createIdentifyPublisher } from '../destination/identify-publisher.ts';
import { createEventPublisher } from '../ingress/event-publisher.ts';
import {
  type MailjetEventNormalized,
  type MailjetEventRaw,
  mailjetEventNormalizedSchema,
  mailjetEventRawSchema,
  segmentIdentifySchema,
  valueSubject,
} from '../schemas/index.ts';
import { type ReplayMode, type ReplayOptions, resumeCommand } from './arguments.ts';
import { createCommittedTally } from './committed-tally.ts';
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

/** A dry run without Segment's key: calls are built and counted, never sent. */
const noSegment: SegmentSink = {
  deliver: () => Promise.reject(new Error('a dry run sends nothing to Segment')),
};

const noSerializer: AvroSerializer = {
  subject: '(none)',
  schemaId: -1,
  encode: () => {
    throw new Error('a dry run encodes nothing');
  },
};

export async function runReplay(options: ReplayOptions, deps: ReplayDependencies): Promise<ReplaySummary> {
  const { config, topics, logger } = deps;
  const log = logger.child({ component: 'replay' });
  const started = performance.now();
  const { mode, dryRun } = options;
  const topic = options.topic ?? topicOf(mode, topics);
  checkTopicFitsMode(topic, mode, topics);
  if (mode === 'redeliver' && !dryRun && !deps.segment) {
    throw new ConnectorError(
      'CONFIG_INVALID',
      "Re-delivering to Segment needs SEGMENT_WRITE_KEY (and SEGMENT_ENDPOINT if not Segment's own), or --dry-run.",
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
      dryRun ? undefined : groupId,
    );
    const byPartition = new Map(partitions.map((p) => [p.partition, p]));
    const { total, done: alreadyDone } = rangeTotals(partitions);
    const plan: ReplayPlan = {
      groupId,
      topic,
      mode,
      from: new Date(options.fromMs).toISOString(),
      to: new Date(options.toMs).toISOString(),
      dryRun,
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

    // The stages, as the connector sets them up.
    const registry = createSchemaRegistryClient(deps.registryUrl, deps.security?.registryAuth);
    const register = (subject: string, schema: object) => registerValueSchema(registry, subject, schema);
    const metrics = createConnectorMetrics({ defaultMetrics: false });
    // `stop` ends fetching (graceful); `abort` also stops waiting for Segment and Kafka (past the deadline).
    const stop = new AbortController();
    const abort = new AbortController();
    let failure: Error | undefined;
    const fail = (error: Error) => {
      failure ??= error;
      stop.abort(error);
    };

    const normalizing =
      mode === 'renormalize' || (mode === 'dead-letters' && topic !== topics.DESTINATION_DEAD_LETTER_TOPIC);
    let normalize: ((batch: RecordBatch) => Promise<StageBatch>) | undefined;
    if (normalizing) {
      const normalizedSerializer = dryRun
        ? undefined
        : await register(valueSubject(topics.NORMALIZED_TOPIC), mailjetEventNormalizedSchema);
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
      normalize = createNormalizerHandler({
        decode: registry.decoder<MailjetEventRaw>(mailjetEventRawSchema),
        mapping: mappingOptionsOf(config),
        userIdOf: (email) => identities.userIdOf(email),
        ...(normalizedSerializer ? { encode: (value) => normalizedSerializer.encode(value) } : {}),
        normalizedTopic: topics.NORMALIZED_TOPIC,
        deadLetterTopic: topics.DEAD_LETTER_TOPIC,
        metrics,
        logger: log,
      });
    }
    // Re-normalizing writes in transactions with the replay group's offsets, as the normalizer does;
    // the other modes write dead letters (and re-driven records) at least once, committed after.
    const transactional =
      mode === 'renormalize' && !dryRun
        ? await kafka.transactionalProducer({ transactionalId: `${groupId}-${randomUUID()}` })
        : undefined;
    if (transactional) closers.unshift(() => transactional.disconnect());
    const producer = mode === 'renormalize' ? undefined : await kafka.producer({ idempotent: true });
    if (producer) closers.unshift(() => producer.disconnect());
    const batching = producer ? createBatchingProducer(producer) : undefined;
    const redeliver =
      mode !== 'renormalize' && batching && (deps.segment || dryRun)
        ? createSegmentDeliveryHandler({
            decode: registry.decoder<MailjetEventNormalized>(mailjetEventNormalizedSchema),
            sink: deps.segment
              ? createSegmentSink({ ...segmentSinkOptionsOf(config, deps.segment), logger: log })
              : noSegment,
            deadLetterTopic: topics.DEAD_LETTER_TOPIC,
            metrics,
            logger: log,
            signal: abort.signal,
            dryRun,
          })
        : undefined;

    type Outcome = StageOutcome | RedriveOutcome;
    let handleBatch: (batch: RecordBatch) => Promise<{ outcome: Outcome; output: TopicRecords[] }>;
    if (mode === 'renormalize' && normalize) handleBatch = normalize;
    else if (mode === 'redeliver' && redeliver) handleBatch = redeliver;
    else if (mode === 'dead-letters' && batching) {
      const redrive = await deadLetterRedrive(topic, {
        deps,
        dryRun,
        register,
        batching,
        ...(redeliver ? { redeliver } : {}),
        ...(normalize ? { normalize } : {}),
      });
      // Segment's letters without a write key fail with a refusal no retry can fix: the batch loop
      // stops the replay (onFatal).
      handleBatch = redrive;
    } else throw new Error(`replay mode ${mode} has no handler`);

    const tally = createCommittedTally<Outcome>((outcome, records) => {
      counts.records += records;
      counts.deadLettered += outcome.deadLettered;
      redriveCounts.skipped += outcome.skipped;
      for (const [type, n] of Object.entries(outcome.delivered))
        counts.eventsByType[type] = (counts.eventsByType[type] ?? 0) + n;
      if ('toRawTopic' in outcome) {
        redriveCounts.toRawTopic += outcome.toRawTopic;
        redriveCounts.toIdentifyTopic += outcome.toIdentifyTopic;
        redriveCounts.stillRejected += outcome.stillRejected;
      }
    });

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

    const consumer = await startGroupConsumer({
      kafka,
      groupId,
      topics: [topic],
      handler: async (batch) => {
        // Not abortable: the wait is at most about a second, and throwing here would fail the batch.
        await bucket?.take(batch.records.length);
        const handled = await handleBatch(batch);
        tally.handled(batch.partition, batch.records, handled.outcome);
        return handled;
      },
      ...(transactional ? { transactions: transactional } : {}),
      ...(batching ? { producer: batching } : {}),
      signal: abort.signal,
      run: {
        partitionsConcurrently: config.CONNECTOR_PARTITIONS_CONCURRENTLY,
        maxBatchRecords,
        commit: !dryRun,
        signal: stop.signal,
        endOffsetOf: (_topic, partition) => byPartition.get(partition)?.end.toString(),
        // Only where the group has not gone past the start: elsewhere its committed offset is the resume point.
        startOffsetOf: (_topic, partition) => {
          const range = byPartition.get(partition);
          return range && range.position <= range.start ? range.start.toString() : undefined;
        },
        onCommitted: (_topic, partition, next) => {
          tally.committed(partition, next);
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
      log,
      onFatal: fail,
    });
    closers.unshift(() => consumer.disconnect());

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
    if (batching) await Promise.race([batching.drain(), sleep(1000, undefined, { ref: false })]);
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

/** The topic a mode reads when --topic does not say. */
function topicOf(mode: ReplayMode, topics: TopicConfig): string {
  if (mode === 'redeliver') return topics.NORMALIZED_TOPIC;
  if (mode === 'dead-letters') return topics.DEAD_LETTER_TOPIC;
  return topics.RAW_TOPIC;
}

/** A known topic read in a mode that cannot take its records: every one of them would be a dead letter. */
function checkTopicFitsMode(topic: string, mode: ReplayMode, topics: TopicConfig): void {
  const misfit =
    mode === 'renormalize' && topic === topics.NORMALIZED_TOPIC
      ? 'holds normalized records: re-deliver them to Segment with --redeliver'
      : mode !== 'dead-letters' &&
          (topic === topics.DEAD_LETTER_TOPIC || topic === topics.DESTINATION_DEAD_LETTER_TOPIC)
        ? 'holds dead letters: re-drive them with --dead-letters'
        : mode === 'redeliver' && topic === topics.RAW_TOPIC
          ? 'holds raw events: re-normalize them (no --redeliver); the Segment sink delivers what that writes'
          : undefined;
  if (misfit) throw new ConnectorError('REPLAY_ARGUMENT_INVALID', `--topic: topic "${topic}" ${misfit}.`);
}

/**
 * The dead-letter re-drive of `topic`: the destination's letters back to its identify topic, the
 * connector's through the normalizer or to Segment, the ingress's through the webhook reader.
 */
async function deadLetterRedrive(
  topic: string,
  options: {
    deps: ReplayDependencies;
    dryRun: boolean;
    register: (subject: string, schema: object) => Promise<AvroSerializer>;
    batching: BatchingProducer;
    normalize?: (batch: RecordBatch) => Promise<StageBatch>;
    redeliver?: (batch: RecordBatch) => Promise<StageBatch>;
  },
): Promise<(batch: RecordBatch) => Promise<{ output: TopicRecords[]; outcome: RedriveOutcome }>> {
  const { deps, dryRun, register, batching } = options;
  const { topics, config } = deps;
  const rawSerializer = dryRun
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
            identifySerializer: dryRun
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
  return createDeadLetterRedrive({
    ...(options.normalize ? { normalize: options.normalize } : {}),
    ...(options.redeliver ? { redeliver: options.redeliver } : {}),
    normalizedTopic: topics.NORMALIZED_TOPIC,
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
    dryRun,
  });
}
