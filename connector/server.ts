/**
 * The connector process: its two stages, each its own consumer group, together (the `connector`
 * command, `start`) or one per process (`normalizer`, `segment-sink`):
 * - the normalizer reads the raw topic (and the identity topic, for userIds) and writes the normalized
 *   and dead-letter topics, each batch with its offsets in one Kafka transaction: exactly once for
 *   read_committed readers, and never waiting on Segment;
 * - the Segment sink reads the normalized topic (read_committed) and delivers its track calls to
 *   Segment, dead-lettering what Segment refuses, then commits: at least once, effectively once in
 *   Segment thanks to the deterministic messageIds.
 * Start order: topics, identity view (normalizer), health server, schemas (waiting for the registry),
 * then each stage's consumer (the normalizer's once the view read the identity topic). Stop order: stop
 * fetching → finish the batches in flight (transactions, Segment) → commit → flush → disconnect.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { createBatchingProducer } from '../core/batching-producer.ts';
import { consumerLagGauge } from '../core/consumer-lag.ts';
import { readinessOf } from '../core/http-answers.ts';
import { listenOn } from '../core/http-listen.ts';
import { createProcessLifecycle } from '../core/process-lifecycle.ts';
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
  type MailjetEventNormalized,
  type MailjetEventRaw,
  mailjetEventNormalizedSchema,
  mailjetEventRawSchema,
  valueSubject,
} from '../schemas/index.ts';
import { buildConnectorApp } from './app.ts';
import {
  type ConnectorConfig,
  mappingOptionsOf,
  segmentSinkGroupId,
  segmentSinkOptionsOf,
} from './config.ts';
import { type IdentityView, startIdentityView } from './identity-view.ts';
import { createConnectorMetrics } from './metrics.ts';
import { createNormalizerHandler } from './normalizer.ts';
import { createSegmentDeliveryHandler } from './segment-delivery.ts';
import { createSegmentSink } from './segment-sink.ts';

export const connectorStages = ['normalizer', 'segment-sink'] as const;
export type ConnectorStage = (typeof connectorStages)[number];

export interface ConnectorDependencies extends ClusterDependencies {
  config: ConnectorConfig;
  topics: TopicConfig;
  /** The stages this process runs; default both. */
  stages?: readonly ConnectorStage[];
  /** Required when the Segment sink runs; `start` fills it with the local Segment server's key. */
  segment?: { endpoint: string; writeKey: string };
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
  const stages = new Set(deps.stages ?? connectorStages);
  const normalizing = stages.has('normalizer');
  const delivering = stages.has('segment-sink');
  if (delivering && !deps.segment) throw new Error('the Segment sink stage needs deps.segment');
  const log = logger.child({ component: 'connector' });
  const lifecycle = createProcessLifecycle(log);
  const clients = openServiceClients(deps, 'mailjet-connector');
  lifecycle.closes('Kafka and registry clients', clients.close);
  const { kafka, registry, probe } = clients;
  const metrics = createConnectorMetrics();
  const fatal = createFatalLatch(log, deps.onFatal);
  const consumers: { normalizer?: GroupConsumer; segmentSink?: GroupConsumer } = {};

  const started = await lifecycle.start(async () => {
    await ensureTopics(
      kafka,
      topics,
      [topics.RAW_TOPIC, topics.NORMALIZED_TOPIC, topics.DEAD_LETTER_TOPIC],
      normalizing ? [topics.IDENTITY_TOPIC] : [],
      log,
    );
    const identities: IdentityView | undefined = normalizing
      ? await startIdentityView({
          kafka,
          topic: topics.IDENTITY_TOPIC,
          groupPrefix: config.CONNECTOR_GROUP_ID,
          maxEntries: config.IDENTITY_VIEW_MAX_ENTRIES,
          logger: log,
        })
      : undefined;
    if (identities) lifecycle.closes('identity view', () => identities.close());
    // The health server first: while the identity view reads the table (minutes for a large one) the
    // process answers, live and not ready (check `identities`).
    const app = buildConnectorApp({
      metrics,
      logger,
      ...(identities ? { onScrape: () => metrics.identities.set(identities.size()) } : {}),
      readiness: async () =>
        readinessOf({
          ...(await probe.check()),
          ...(identities ? { identities: identities.caughtUp() } : {}),
          ...(normalizing ? { normalizerGroup: consumers.normalizer?.joined() ?? false } : {}),
          ...(delivering ? { segmentSinkGroup: consumers.segmentSink?.joined() ?? false } : {}),
          // False once a part stopped for good (a refused Segment write key, a crashed consumer).
          running: !fatal.happened(),
        }),
    });
    lifecycle.closes('HTTP server', () => app.close());
    const listening = await listenOn(
      app,
      config.CONNECTOR_HOST,
      config.CONNECTOR_PORT,
      'connector, CONNECTOR_PORT',
    );

    const producer = await kafka.producer({ idempotent: true });
    lifecycle.closes('producer', () => producer.disconnect());
    const batching = createBatchingProducer(producer);
    if (delivering && deps.segment) {
      const sink = createSegmentSink({
        ...segmentSinkOptionsOf(config, deps.segment),
        logger: log,
        onRequest: (status, _events, seconds) => {
          metrics.segmentRequests.inc({ status: String(status) });
          metrics.segmentSeconds.observe(seconds);
        },
      });
      const segmentSink = await startGroupConsumer({
        kafka,
        groupId: segmentSinkGroupId(config),
        topics: [topics.NORMALIZED_TOPIC],
        handler: createSegmentDeliveryHandler({
          decode: registry.decoder<MailjetEventNormalized>(mailjetEventNormalizedSchema),
          sink,
          deadLetterTopic: topics.DEAD_LETTER_TOPIC,
          metrics,
          logger: log.child({ stage: 'segment-sink' }),
          signal: lifecycle.deadline,
        }),
        producer: batching,
        signal: lifecycle.deadline,
        run: { partitionsConcurrently: config.CONNECTOR_PARTITIONS_CONCURRENTLY },
        sessionTimeoutMs: config.KAFKA_SESSION_TIMEOUT_MS,
        log,
        onFatal: fatal.report,
      });
      consumers.segmentSink = segmentSink;
      lifecycle.closes('Segment sink consumer', () => segmentSink.disconnect());
    }
    if (normalizing && identities) {
      // Once the health server answers: started during a registry outage, the connector is live and
      // not ready, and waits for the registry (a record cannot be written without the schema's id).
      const normalizedSerializer = await registerValueSchemaWhenReachable(
        registry,
        valueSubject(topics.NORMALIZED_TOPIC),
        mailjetEventNormalizedSchema,
        { log },
      );
      // A new id per process, as a pod's name is new per start: the group's generation fences a
      // member that lost its partitions (KIP-447), and what a killed process left open the
      // coordinator aborts after the transaction timeout.
      const transactional = await kafka.transactionalProducer({
        transactionalId: `${config.CONNECTOR_GROUP_ID}-${hostname()}-${randomUUID()}`,
      });
      lifecycle.closes('transactional producer', () => transactional.disconnect());
      const normalize = createNormalizerHandler({
        decode: registry.decoder<MailjetEventRaw>(mailjetEventRawSchema),
        mapping: mappingOptionsOf(config),
        userIdOf: (email) => identities.userIdOf(email),
        encode: (value) => normalizedSerializer.encode(value),
        normalizedTopic: topics.NORMALIZED_TOPIC,
        deadLetterTopic: topics.DEAD_LETTER_TOPIC,
        metrics,
        logger: log.child({ stage: 'normalizer' }),
      });
      // No raw record is fetched before the view holds every identity the topic had at start.
      await identities.ready;
      const normalizer = await startGroupConsumer({
        kafka,
        groupId: config.CONNECTOR_GROUP_ID,
        topics: [topics.RAW_TOPIC],
        handler: normalize,
        transactions: transactional,
        run: { partitionsConcurrently: config.CONNECTOR_PARTITIONS_CONCURRENTLY },
        sessionTimeoutMs: config.KAFKA_SESSION_TIMEOUT_MS,
        log,
        // Through the latch: readiness and the shutdown's verdict must know the consumer is gone.
        onFatal: fatal.report,
      });
      consumers.normalizer = normalizer;
      lifecycle.closes('normalizer consumer', () => normalizer.disconnect());
    }
    return { ...listening, identities, batching };
  });
  const { port, url, identities, batching } = started;
  if (normalizing) {
    consumerLagGauge({
      name: 'mailjet_connector_lag_records',
      registry: metrics.registry,
      kafka,
      groupId: config.CONNECTOR_GROUP_ID,
      topic: topics.RAW_TOPIC,
      logger: log,
    });
  }
  if (delivering) {
    consumerLagGauge({
      name: 'mailjet_connector_segment_lag_records',
      registry: metrics.registry,
      kafka,
      groupId: segmentSinkGroupId(config),
      topic: topics.NORMALIZED_TOPIC,
      logger: log,
    });
  }
  log.info(
    {
      port,
      stages: [...stages],
      group: config.CONNECTOR_GROUP_ID,
      rawTopic: topics.RAW_TOPIC,
      ...(delivering ? { segment: deps.segment?.endpoint } : {}),
    },
    'connector running',
  );

  return {
    url,
    shutdown: () =>
      lifecycle.stop(config.CONNECTOR_SHUTDOWN_TIMEOUT_MS, async ({ within }) => {
        log.info('stopping: finishing the batches in flight');
        // Past the deadline (lifecycle.deadline), waiting for Segment stops; what was not committed comes again.
        const disconnect = (consumer: GroupConsumer | undefined) =>
          consumer?.disconnect().catch((err: unknown) => log.error({ err }, 'consumer disconnect failed'));
        await Promise.all([
          disconnect(consumers.normalizer),
          disconnect(consumers.segmentSink),
          identities?.close().catch((err: unknown) => log.warn({ err }, 'identity view disconnect failed')),
        ]);
        await within(
          Promise.race([batching.drain(), sleep(1000, undefined, { ref: false })]),
          'flushing dead letters',
        );
        const clean = !lifecycle.deadline.aborted && !fatal.happened();
        if (clean) log.info('connector stopped');
        else
          log.error('connector stopped before every batch in flight was finished; they will be redelivered');
        return clean;
      }),
  };
}
