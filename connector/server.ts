/**
 * The connector process: what it reads (the raw topic, the identity topic, the schema registry), what it
 * writes (Segment, the normalized and dead-letter topics), in which order it starts (topics, identity
 * view, health server, the normalized schema (waiting for the registry), then, once the view read the
 * identity topic, the raw consumer), and
 * in which order it stops: stop fetching → finish the batches in flight (Segment, topics) → commit → flush → disconnect.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createBatchingProducer } from '../core/batching-producer.ts';
import { consumerLagGauge } from '../core/consumer-lag.ts';
import { readinessOf } from '../core/http-answers.ts';
import { listenOn } from '../core/http-listen.ts';
import {
  type ClusterDependencies,
  createFatalLatch,
  type GroupConsumer,
  openServiceClients,
  registerValueSchemaWhenReachable,
  startGroupConsumer,
} from '../core/service-clients.ts';
import { ensureTopics, type TopicConfig } from '../core/topics.ts';
import {
  type MailjetEventRaw,
  mailjetEventNormalizedSchema,
  mailjetEventRawSchema,
  valueSubject,
} from '../schemas/index.ts';
import { buildConnectorApp } from './app.ts';
import { createBatchHandler } from './batch-handler.ts';
import { type ConnectorConfig, mappingOptionsOf, segmentSinkOptionsOf } from './config.ts';
import { startIdentityView } from './identity-view.ts';
import { createConnectorMetrics } from './metrics.ts';
import { createSegmentSink } from './segment-sink.ts';

export interface ConnectorDependencies extends ClusterDependencies {
  config: ConnectorConfig;
  topics: TopicConfig;
  /** Required here; `start` fills it with the local Segment server's key when none is configured. */
  segment: { endpoint: string; writeKey: string };
  /** Called when the connector cannot go on (e.g. Segment refuses the write key); the process should stop. */
  onFatal?: (error: Error) => void;
}

export interface RunningConnector {
  /** Base URL of the health and metrics server. */
  url: string;
  /** Resolves true when every batch in flight was finished and committed before the deadline. */
  shutdown(): Promise<boolean>;
}

export async function startConnector(deps: ConnectorDependencies): Promise<RunningConnector> {
  const { config, topics, logger } = deps;
  const log = logger.child({ component: 'connector' });
  const clients = openServiceClients(deps, 'mailjet-connector');
  const { kafka, registry, probe } = clients;
  const metrics = createConnectorMetrics();

  await ensureTopics(
    kafka,
    topics,
    [topics.RAW_TOPIC, topics.NORMALIZED_TOPIC, topics.DEAD_LETTER_TOPIC],
    [topics.IDENTITY_TOPIC],
    log,
  );
  const identities = await startIdentityView({
    kafka,
    topic: topics.IDENTITY_TOPIC,
    groupPrefix: config.CONNECTOR_GROUP_ID,
    maxEntries: config.IDENTITY_VIEW_MAX_ENTRIES,
    logger: log,
  });
  const producer = await kafka.producer({ idempotent: true });
  const batching = createBatchingProducer(producer);
  const sink = createSegmentSink({
    ...segmentSinkOptionsOf(config, deps.segment),
    logger: log,
    onRequest: (status, _events, seconds) => {
      metrics.segmentRequests.inc({ status: String(status) });
      metrics.segmentSeconds.observe(seconds);
    },
  });

  const abort = new AbortController();
  const fatal = createFatalLatch(log, deps.onFatal);
  // The health server first: while the identity view reads the table (minutes for a large one) the
  // process answers, live and not ready (check `identities`).
  let consumer: GroupConsumer | undefined;
  const app = buildConnectorApp({
    metrics,
    logger,
    onScrape: () => metrics.identities.set(identities.size()),
    readiness: async () => {
      return readinessOf({
        ...(await probe.check()),
        identities: identities.caughtUp(),
        consumerGroup: consumer?.joined() ?? false,
        // False once a part stopped for good (a refused Segment write key, a crashed consumer).
        running: !fatal.happened(),
      });
    },
  });
  const closeAll = async () => {
    await Promise.allSettled([
      consumer?.disconnect(),
      identities.close(),
      producer.disconnect(),
      clients.close(),
      app.close(),
    ]);
  };
  const { port, url } = await listenOn(
    app,
    config.CONNECTOR_HOST,
    config.CONNECTOR_PORT,
    'connector, CONNECTOR_PORT',
  ).catch(async (err: unknown) => {
    await closeAll();
    throw err;
  });

  try {
    // Once the health server answers: started during a registry outage, the connector is live and not
    // ready, and waits for the registry (a record cannot be written without the normalized schema's id).
    const normalizedSerializer = await registerValueSchemaWhenReachable(
      registry,
      valueSubject(topics.NORMALIZED_TOPIC),
      mailjetEventNormalizedSchema,
      { log },
    );
    const handler = createBatchHandler({
      decode: registry.decoder<MailjetEventRaw>(mailjetEventRawSchema),
      mapping: mappingOptionsOf(config),
      userIdOf: (email) => identities.userIdOf(email),
      sink,
      producer: batching,
      normalizedSerializer,
      normalizedTopic: topics.NORMALIZED_TOPIC,
      deadLetterTopic: topics.DEAD_LETTER_TOPIC,
      metrics,
      logger: log,
      signal: abort.signal,
      onFatal: fatal.report,
    });
    // No raw record is fetched before the view holds every identity the topic had at start.
    await identities.ready;
    consumer = await startGroupConsumer({
      kafka,
      groupId: config.CONNECTOR_GROUP_ID,
      topics: [topics.RAW_TOPIC],
      handler,
      run: { partitionsConcurrently: config.CONNECTOR_PARTITIONS_CONCURRENTLY },
      sessionTimeoutMs: config.KAFKA_SESSION_TIMEOUT_MS,
      log,
      // Through the latch: readiness and the shutdown's verdict must know the consumer is gone.
      onFatal: fatal.report,
    });
  } catch (err) {
    await closeAll();
    throw err;
  }
  consumerLagGauge({
    name: 'mailjet_connector_lag_records',
    registry: metrics.registry,
    kafka,
    groupId: config.CONNECTOR_GROUP_ID,
    topic: topics.RAW_TOPIC,
    logger: log,
  });
  log.info(
    { port, group: config.CONNECTOR_GROUP_ID, rawTopic: topics.RAW_TOPIC, segment: deps.segment.endpoint },
    'connector running',
  );

  let stopping: Promise<boolean> | undefined;
  return {
    url,
    shutdown() {
      stopping ??= (async () => {
        log.info('stopping: finishing the batches in flight');
        // Past the deadline, waiting for Segment stops and the uncommitted records come again later.
        const timer = setTimeout(
          () => abort.abort(new Error('shutdown deadline')),
          config.CONNECTOR_SHUTDOWN_TIMEOUT_MS,
        );
        timer.unref();
        await Promise.all([
          consumer?.disconnect().catch((err: unknown) => log.error({ err }, 'consumer disconnect failed')),
          identities.close().catch((err: unknown) => log.warn({ err }, 'identity view disconnect failed')),
        ]);
        await Promise.race([batching.drain(), sleep(1000, undefined, { ref: false })]);
        clearTimeout(timer);
        await Promise.allSettled([identities.close(), producer.disconnect(), clients.close(), app.close()]);
        const clean = !abort.signal.aborted && !fatal.happened();
        if (clean) log.info('connector stopped');
        else
          log.error('connector stopped before every batch in flight was finished; they will be redelivered');
        return clean;
      })();
      return stopping;
    },
  };
}
