/**
 * The Mailjet destination process: Segment identify calls → Kafka → Mailjet contacts.
 * Reads: HTTP identify calls (the intake), the identify topic (the worker), Mailjet's properties and list.
 * Writes: the identify, identity and destination dead-letter topics; contacts in the Mailjet list.
 * Starts: topics and schema → Mailjet list check (a wrong key or list fails here, with what to do) →
 * worker → intake; DESTINATION_ROLE=intake or worker starts only that part. Stops: stop intake (503) →
 * answer requests in flight → flush to Kafka → finish the contacts in flight (Mailjet) → commit →
 * disconnect.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type BatchingProducer, createBatchingProducer } from '../core/batching-producer.ts';
import { consumerLagGauge } from '../core/consumer-lag.ts';
import { ConnectorError } from '../core/errors.ts';
import { parseTrustProxy, readinessOf } from '../core/http-answers.ts';
import { listenOn } from '../core/http-listen.ts';
import type { Logger } from '../core/logger.ts';
import {
  type ClusterDependencies,
  createFatalLatch,
  type GroupConsumer,
  openServiceClients,
  registerValueSchema,
  type ServiceClients,
  startGroupConsumer,
} from '../core/service-clients.ts';
import { ensureTopics, type TopicConfig } from '../core/topics.ts';
import { type SegmentIdentify, segmentIdentifySchema, valueSubject } from '../schemas/index.ts';
import type { DestinationConfig } from './config.ts';
import { createContactWriter } from './contact-writer.ts';
import { createIdentifyPublisher } from './identify-publisher.ts';
import { buildIntakeApp } from './intake-app.ts';
import { intakeCredentials } from './intake-auth.ts';
import { createMailjetClient } from './mailjet-client.ts';
import { createDestinationMetrics, type DestinationMetrics } from './metrics.ts';
import { createWorkerHandler } from './worker.ts';

export interface DestinationDependencies extends ClusterDependencies {
  config: DestinationConfig;
  topics: TopicConfig;
  /** Required here; `start` fills it with the local Mailjet server when no key pair is configured. */
  mailjet: { baseUrl: string; apiKey: string; apiSecret: string };
  /** Called when the worker cannot go on (Mailjet refuses the key pair, the list is gone). */
  onFatal?: (error: Error) => void;
}

export interface RunningDestination {
  /** Base URL of the intake (identify routes, /health/*, /metrics). */
  url: string;
  port: number;
  /** Resolves true when every request was answered and every batch in flight committed in time. */
  shutdown(): Promise<boolean>;
}

export async function startDestination(deps: DestinationDependencies): Promise<RunningDestination> {
  const { config, topics, logger } = deps;
  const log = logger.child({ component: 'destination' });
  const clients = openServiceClients(deps, 'mailjet-connector-destination');
  const { kafka, registry, probe } = clients;
  const metrics = createDestinationMetrics();

  await ensureTopics(
    kafka,
    topics,
    [topics.IDENTIFY_TOPIC, topics.DESTINATION_DEAD_LETTER_TOPIC],
    [topics.IDENTITY_TOPIC],
    log,
  );
  const runsIntake = config.DESTINATION_ROLE !== 'worker';
  const runsWorker = config.DESTINATION_ROLE !== 'intake';
  const identifySerializer = runsIntake
    ? await registerValueSchema(registry, valueSubject(topics.IDENTIFY_TOPIC), segmentIdentifySchema)
    : undefined;

  const producer = await kafka.producer({ idempotent: true });
  const batching = createBatchingProducer(producer);
  const abort = new AbortController();
  const fatal = createFatalLatch(log, deps.onFatal);
  const worker = runsWorker
    ? await startWorker(deps, { clients, metrics, log, batching, signal: abort.signal, fatal }).catch(
        async (err: unknown) => {
          await Promise.allSettled([producer.disconnect(), clients.close()]);
          throw err;
        },
      )
    : undefined;

  const publisher =
    identifySerializer &&
    createIdentifyPublisher({
      producer: batching,
      identifySerializer,
      identifyTopic: topics.IDENTIFY_TOPIC,
      identityTopic: topics.IDENTITY_TOPIC,
      deadLetterTopic: topics.DESTINATION_DEAD_LETTER_TOPIC,
      ackTimeoutMs: config.DESTINATION_ACK_TIMEOUT_MS,
      maxPendingRecords: config.DESTINATION_MAX_PENDING_RECORDS,
    });
  const { app, stopIntake, idle } = buildIntakeApp({
    credentials: intakeCredentials(config),
    bodyLimitBytes: config.DESTINATION_BODY_LIMIT_BYTES,
    maxBytesInFlight: config.DESTINATION_MAX_BYTES_IN_FLIGHT,
    trustProxy: parseTrustProxy(config.DESTINATION_TRUST_PROXY),
    publisher,
    metrics,
    logger,
    readiness: async () => {
      const { kafka: kafkaUp, schemaRegistry } = await probe.check();
      // The intake encodes with the identify schema's id registered at start: it takes calls without the
      // registry, so where it runs the registry is only reported. A worker alone decodes with it.
      const registryCheck = { schemaRegistry };
      return readinessOf(
        {
          kafka: kafkaUp,
          ...(runsIntake ? {} : registryCheck),
          ...(worker ? { consumerGroup: worker.consumer.joined(), mailjet: !fatal.happened() } : {}),
        },
        runsIntake ? registryCheck : undefined,
      );
    },
  });
  const { port, url } = await listenOn(
    app,
    config.DESTINATION_HOST,
    config.DESTINATION_PORT,
    'Mailjet destination, DESTINATION_PORT',
  ).catch(async (err: unknown) => {
    await Promise.allSettled([worker?.consumer.disconnect(), producer.disconnect(), clients.close()]);
    throw err;
  });
  log.info(
    {
      port,
      role: config.DESTINATION_ROLE,
      group: config.DESTINATION_GROUP_ID,
      identifyTopic: topics.IDENTIFY_TOPIC,
      listId: config.MAILJET_LIST_ID,
    },
    'Mailjet destination running',
  );

  let stopping: Promise<boolean> | undefined;
  return {
    url,
    port,
    shutdown() {
      stopping ??= (async () => {
        // Unreferenced: the deadline must not keep a process alive that finished early.
        const deadline = sleep(config.DESTINATION_SHUTDOWN_TIMEOUT_MS, undefined, { ref: false }).then(
          () => 'timeout' as const,
        );
        log.info('stopping intake');
        stopIntake();
        const answered = (await Promise.race([idle().then(() => 'idle' as const), deadline])) === 'idle';
        await app.close();
        // Past the deadline, waiting for Mailjet stops and the uncommitted records come again later.
        void deadline.then(() => abort.abort(new Error('shutdown deadline')));
        await worker?.consumer
          .disconnect()
          .catch((err: unknown) => log.error({ err }, 'consumer disconnect failed'));
        const flushed =
          (await Promise.race([batching.drain().then(() => 'drained' as const), deadline])) === 'drained';
        await Promise.allSettled([producer.disconnect(), clients.close()]);
        const clean = answered && flushed && !abort.signal.aborted && !fatal.happened();
        if (clean) log.info('Mailjet destination stopped');
        else
          log.error('Mailjet destination stopped before everything in flight was finished; it comes again');
        return clean;
      })();
      return stopping;
    },
  };
}

/**
 * The worker: checks the Mailjet key pair and list (a wrong one stops start-up with what to do), then
 * joins the group that reads the identify topic and writes contacts.
 */
async function startWorker(
  deps: DestinationDependencies,
  parts: {
    clients: ServiceClients;
    metrics: DestinationMetrics;
    log: Logger;
    batching: BatchingProducer;
    signal: AbortSignal;
    fatal: ReturnType<typeof createFatalLatch>;
  },
): Promise<{ consumer: GroupConsumer }> {
  const { config, topics } = deps;
  const { metrics, log } = parts;
  const mailjet = createMailjetClient({
    ...deps.mailjet,
    logger: log,
    maxRequestsPerSecond: config.MAILJET_MAX_REQUESTS_PER_SECOND,
    requestTimeoutMs: config.MAILJET_REQUEST_TIMEOUT_MS,
    retry: { maxDelayMs: config.MAILJET_RETRY_MAX_DELAY_MS },
    onRequest: (operation, status, seconds) => {
      metrics.mailjetRequests.inc({ operation, status: String(status) });
      metrics.mailjetSeconds.observe({ operation }, seconds);
    },
  });
  const writer = createContactWriter({
    client: mailjet,
    listId: config.MAILJET_LIST_ID,
    action: config.MAILJET_CONTACT_ACTION,
    bulkMinContacts: config.MAILJET_BULK_MIN_CONTACTS,
    jobPollMs: config.MAILJET_JOB_POLL_MS,
    logger: log,
    onPropertyCreated: (datatype) => metrics.propertiesCreated.inc({ datatype }),
  });
  // Fails fast on a wrong key pair or list: a worker that started would only dead-letter or stall.
  // A Mailjet that does not answer makes start-up wait (with retries) rather than fail.
  await writer.start(AbortSignal.timeout(config.MAILJET_REQUEST_TIMEOUT_MS * 4)).catch((err: unknown) => {
    if (err instanceof ConnectorError) throw err;
    throw new ConnectorError(
      'MAILJET_UNAVAILABLE',
      `Mailjet (${deps.mailjet.baseUrl}) did not answer at start-up: ${(err as Error).message}`,
      { cause: err },
    );
  });
  const handler = createWorkerHandler({
    decode: parts.clients.registry.decoder<SegmentIdentify>(segmentIdentifySchema),
    writer,
    producer: parts.batching,
    deadLetterTopic: topics.DESTINATION_DEAD_LETTER_TOPIC,
    metrics,
    logger: log,
    signal: parts.signal,
    onFatal: parts.fatal.report,
  });
  const consumer = await startGroupConsumer({
    kafka: parts.clients.kafka,
    groupId: config.DESTINATION_GROUP_ID,
    topics: [topics.IDENTIFY_TOPIC],
    handler,
    run: { partitionsConcurrently: config.DESTINATION_PARTITIONS_CONCURRENTLY },
    // 1 MiB rather than the connector's 256 KiB: a batch becomes one Mailjet bulk job, and a quarter of
    // the batch makes four times the jobs, each polled until done, so far fewer calls a second
    // (npm run bench:destination).
    maxBytesPerPartition: 1024 * 1024,
    sessionTimeoutMs: config.KAFKA_SESSION_TIMEOUT_MS,
    log,
    ...(deps.onFatal ? { onFatal: deps.onFatal } : {}),
  });
  consumerLagGauge({
    name: 'mailjet_destination_lag_records',
    registry: metrics.registry,
    kafka: parts.clients.kafka,
    groupId: config.DESTINATION_GROUP_ID,
    topic: topics.IDENTIFY_TOPIC,
    logger: log,
  });
  return { consumer };
}
