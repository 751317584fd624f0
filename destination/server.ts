/**
 * The Mailjet destination process: Segment identify calls → Kafka → Mailjet contacts.
 * Reads: HTTP identify calls (the intake), the identify topic (the worker), Mailjet's properties and list.
 * Writes: the identify, identity and destination dead-letter topics; contacts in the Mailjet list.
 * Starts: topics and schema → intake, health and metrics routes (not ready yet) → the worker: Mailjet
 * list check, waiting as long as Mailjet fails in a way a retry may fix (a wrong key pair or list stops
 * the process here, with what to do) → joins its group → ready. DESTINATION_ROLE=intake or worker starts
 * only that part. Stops: stop intake (503) → a start-up still waiting for Mailjet ends → answer requests
 * in flight → flush to Kafka → finish the contacts in flight (Mailjet) → commit → disconnect.
 */
import { type BatchingProducer, createBatchingProducer } from '../core/batching-producer.ts';
import { consumerLagGauge } from '../core/consumer-lag.ts';
import { ConnectorError, firstLine } from '../core/errors.ts';
import { parseTrustProxy, readinessOf } from '../core/http-answers.ts';
import { listenOn } from '../core/http-listen.ts';
import type { Logger } from '../core/logger.ts';
import { createProcessLifecycle } from '../core/process-lifecycle.ts';
import {
  type ClusterDependencies,
  createFatalLatch,
  type GroupConsumer,
  openServiceClients,
  registerValueSchemaOrLater,
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
  /**
   * Called when the worker cannot go on (Mailjet refuses the key pair, the list is gone), at start-up
   * too: the process should stop.
   */
  onFatal?: (error: Error) => void;
}

/**
 * A destination that listens: the intake takes calls; the worker may still be starting (readiness says
 * what it waits for), a failed start reported through `onFatal`.
 */
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
  const lifecycle = createProcessLifecycle(log);
  const clients = openServiceClients(deps, 'mailjet-connector-destination');
  lifecycle.closes('Kafka and registry clients', clients.close);
  const { kafka, registry, probe } = clients;
  const metrics = createDestinationMetrics();
  const runsIntake = config.DESTINATION_ROLE !== 'worker';
  const runsWorker = config.DESTINATION_ROLE !== 'intake';
  const fatal = createFatalLatch(log, deps.onFatal);
  // Aborted as shutdown begins: a start-up waiting for Mailjet has nothing in flight to finish.
  const starting = new AbortController();
  const startup: WorkerStartup = { listRead: false, waitingFor: 'reading the Mailjet list and properties' };
  let worker: { consumer: GroupConsumer } | undefined;

  const started = await lifecycle.start(async () => {
    await ensureTopics(
      kafka,
      topics,
      [topics.IDENTIFY_TOPIC, topics.DESTINATION_DEAD_LETTER_TOPIC],
      [topics.IDENTITY_TOPIC],
      log,
    );
    // As in the ingress: started during a registry outage, the intake listens, answers 503 + Retry-After
    // and is not ready until the identify schema has an id.
    const identifySchema = runsIntake
      ? await registerValueSchemaOrLater(
          registry,
          valueSubject(topics.IDENTIFY_TOPIC),
          segmentIdentifySchema,
          {
            log,
            onFatal: fatal.report,
          },
        )
      : undefined;
    if (identifySchema)
      lifecycle.closes('identify schema registration', async () => identifySchema.abandon());
    const identifySerializer = identifySchema?.serializer;
    const producer = await kafka.producer({ idempotent: true });
    lifecycle.closes('producer', () => producer.disconnect());
    const batching = createBatchingProducer(producer);
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
        // Once the identify schema has its id, the intake encodes with it and takes calls without the
        // registry, so where it runs the registry is only reported. A worker alone decodes with it.
        const registryCheck = { schemaRegistry };
        const mailjetUp = startup.listRead && !fatal.happened();
        return readinessOf(
          {
            kafka: kafkaUp,
            ...(identifySchema ? { identifySchema: identifySchema.registered() } : registryCheck),
            ...(runsWorker ? { consumerGroup: worker?.consumer.joined() ?? false, mailjet: mailjetUp } : {}),
          },
          runsIntake ? registryCheck : undefined,
          runsWorker && !mailjetUp && startup.waitingFor ? { mailjet: startup.waitingFor } : undefined,
        );
      },
    });
    lifecycle.closes('HTTP server', () => app.close());
    const listening = await listenOn(
      app,
      config.DESTINATION_HOST,
      config.DESTINATION_PORT,
      'Mailjet destination, DESTINATION_PORT',
    );
    return { ...listening, identifySchema, batching, app, stopIntake, idle };
  });
  const { port, url, identifySchema, batching, app, stopIntake, idle } = started;
  const running = () =>
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
  // The worker starts after the routes listen: while Mailjet keeps it waiting (an outage of minutes),
  // the process answers, live and not ready, and a shutdown stops it; it stops by itself only on what
  // no retry fixes.
  let workerStarted = Promise.resolve();
  if (runsWorker) {
    log.info({ port }, 'listening; the worker reads the Mailjet list, then joins its group');
    workerStarted = startWorker(deps, {
      clients,
      metrics,
      log,
      batching,
      signal: lifecycle.deadline,
      startSignal: starting.signal,
      startup,
      fatal,
    }).then(
      (started) => {
        worker = started;
        running();
      },
      (err: unknown) => {
        if (starting.signal.aborted) return;
        const error = err instanceof Error ? err : new Error(String(err));
        const code = error instanceof ConnectorError ? `${error.code}: ` : '';
        startup.waitingFor = `start-up failed: ${code}${firstLine(error)}`;
        fatal.report(error);
      },
    );
  } else running();

  return {
    url,
    port,
    shutdown: () =>
      lifecycle.stop(config.DESTINATION_SHUTDOWN_TIMEOUT_MS, async ({ within }) => {
        log.info('stopping intake');
        stopIntake();
        starting.abort(new Error('shutdown during start-up'));
        identifySchema?.abandon();
        const answered = await within(idle(), 'answering the requests in flight');
        await app.close();
        // A group join under way ends before the consumer can leave the group.
        await workerStarted;
        await worker?.consumer
          .disconnect()
          .catch((err: unknown) => log.error({ err }, 'consumer disconnect failed'));
        const flushed = await within(batching.drain(), 'flushing to Kafka');
        const clean = answered && flushed && !lifecycle.deadline.aborted && !fatal.happened();
        if (clean) log.info('Mailjet destination stopped');
        else
          log.error('Mailjet destination stopped before everything in flight was finished; it comes again');
        return clean;
      }),
  };
}

/** The worker's start-up as readiness reports it. */
interface WorkerStartup {
  /** Mailjet's list and properties were read. */
  listRead: boolean;
  /** What it waits for while the list is not read; why it failed once it did. */
  waitingFor: string | undefined;
}

/**
 * The worker: checks the Mailjet key pair and list, as long as Mailjet keeps failing in a way a retry
 * may fix (a wrong key pair or list stops start-up with what to do), then joins the group that reads
 * the identify topic and writes contacts.
 */
async function startWorker(
  deps: DestinationDependencies,
  parts: {
    clients: ServiceClients;
    metrics: DestinationMetrics;
    log: Logger;
    batching: BatchingProducer;
    signal: AbortSignal;
    /** Ends the wait for Mailjet (a shutdown during start-up). */
    startSignal: AbortSignal;
    startup: WorkerStartup;
    fatal: ReturnType<typeof createFatalLatch>;
  },
): Promise<{ consumer: GroupConsumer }> {
  const { config, topics } = deps;
  const { metrics, log, startup } = parts;
  const mailjet = createMailjetClient({
    ...deps.mailjet,
    logger: log,
    maxRequestsPerSecond: config.MAILJET_MAX_REQUESTS_PER_SECOND,
    requestTimeoutMs: config.MAILJET_REQUEST_TIMEOUT_MS,
    retry: { maxDelayMs: config.MAILJET_RETRY_MAX_DELAY_MS },
    onRequest: (operation, status, seconds) => {
      metrics.mailjetRequests.inc({ operation, status: String(status) });
      metrics.mailjetSeconds.observe({ operation }, seconds);
      if (!startup.listRead && (status === 'error' || status === 408 || status === 429 || status >= 500)) {
        startup.waitingFor = `waiting for Mailjet: ${operation} ${status === 'error' ? 'got no answer (timed out or no connection)' : `answered ${status}`}; retrying`;
      }
    },
  });
  const writer = createContactWriter({
    client: mailjet,
    listId: config.MAILJET_LIST_ID,
    action: config.MAILJET_CONTACT_ACTION,
    bulkMinContacts: config.MAILJET_BULK_MIN_CONTACTS,
    jobPollMs: config.MAILJET_JOB_POLL_MS,
    retry: { maxDelayMs: config.MAILJET_RETRY_MAX_DELAY_MS },
    logger: log,
    onPropertyCreated: (datatype) => metrics.propertiesCreated.inc({ datatype }),
  });
  // No deadline: Mailjet failing for minutes (429s, 5xx, timeouts) keeps the worker waiting, not ready,
  // as a running worker waits for it; a wrong key pair or list fails here at once.
  await writer.start(parts.startSignal);
  startup.listRead = true;
  startup.waitingFor = undefined;
  const handler = createWorkerHandler({
    decode: parts.clients.registry.decoder<SegmentIdentify>(segmentIdentifySchema),
    writer,
    deadLetterTopic: topics.DESTINATION_DEAD_LETTER_TOPIC,
    metrics,
    logger: log,
    signal: parts.signal,
  });
  const consumer = await startGroupConsumer({
    kafka: parts.clients.kafka,
    groupId: config.DESTINATION_GROUP_ID,
    topics: [topics.IDENTIFY_TOPIC],
    handler,
    producer: parts.batching,
    signal: parts.signal,
    run: { partitionsConcurrently: config.DESTINATION_PARTITIONS_CONCURRENTLY },
    // 1 MiB rather than the connector's 256 KiB: a batch becomes one Mailjet bulk job, and a quarter of
    // the batch makes four times the jobs, each polled until done, so far fewer calls a second
    // (npm run bench:destination).
    maxBytesPerPartition: 1024 * 1024,
    sessionTimeoutMs: config.KAFKA_SESSION_TIMEOUT_MS,
    log,
    // Through the latch: readiness and the shutdown's verdict must know the worker cannot go on.
    onFatal: parts.fatal.report,
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
