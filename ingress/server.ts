/**
 * The ingress process: what it reads (config, Kafka, the schema registry), what it writes (the raw and
 * dead-letter topics), in which order it starts, and in which order it stops:
 * stop intake (503) → finish in-flight webhooks → close the HTTP server → flush to Kafka → disconnect.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createBatchingProducer } from '../core/batching-producer.ts';
import { parseTrustProxy, readinessOf } from '../core/http-answers.ts';
import { listenOn } from '../core/http-listen.ts';
import {
  type ClusterDependencies,
  createFatalLatch,
  openServiceClients,
  registerValueSchemaOrLater,
} from '../core/service-clients.ts';
import { ensureTopics, type TopicConfig } from '../core/topics.ts';
import { mailjetEventRawSchema, valueSubject } from '../schemas/index.ts';
import { buildIngressApp } from './app.ts';
import { checkBodyLimitFitsTopics, type IngressConfig } from './config.ts';
import { createEventPublisher } from './event-publisher.ts';
import { createIngressMetrics } from './metrics.ts';

export interface IngressDependencies extends ClusterDependencies {
  config: IngressConfig;
  topics: TopicConfig;
  /** Called when the ingress cannot go on (the registry refused the raw schema); the process should stop. */
  onFatal?: (error: Error) => void;
}

export interface RunningIngress {
  /** Base URL of the server, e.g. http://127.0.0.1:8080. */
  url: string;
  port: number;
  /** Stops in order; resolves true when everything in flight reached Kafka before the deadline. */
  shutdown(): Promise<boolean>;
}

export async function startIngress(deps: IngressDependencies): Promise<RunningIngress> {
  const { config, topics, logger } = deps;
  const log = logger.child({ component: 'ingress' });
  checkBodyLimitFitsTopics(config, topics);
  const clients = openServiceClients(deps, 'mailjet-connector-ingress');
  const { kafka, registry, probe } = clients;

  await ensureTopics(kafka, topics, [topics.RAW_TOPIC, topics.DEAD_LETTER_TOPIC], [], log);
  // Registered while the ingress already listens: started during a registry outage, it answers webhooks
  // 503 + Retry-After (Mailjet retries them) and is not ready until the raw schema has an id.
  const fatal = createFatalLatch(log, deps.onFatal);
  const rawSchema = await registerValueSchemaOrLater(
    registry,
    valueSubject(topics.RAW_TOPIC),
    mailjetEventRawSchema,
    { log, onFatal: fatal.report },
  ).catch(async (err: unknown) => {
    await clients.close();
    throw err;
  });
  const rawSerializer = rawSchema.serializer;
  const producer = await kafka.producer({ idempotent: true });
  const batching = createBatchingProducer(producer);
  const publisher = createEventPublisher({
    producer: batching,
    rawSerializer,
    rawTopic: topics.RAW_TOPIC,
    deadLetterTopic: topics.DEAD_LETTER_TOPIC,
    ackTimeoutMs: config.INGRESS_ACK_TIMEOUT_MS,
    maxPendingEvents: config.INGRESS_MAX_PENDING_EVENTS,
    maxRawRecordBytes: topics.TOPIC_MAX_MESSAGE_BYTES,
    maxDeadLetterBytes: topics.DEAD_LETTER_TOPIC_MAX_MESSAGE_BYTES,
  });

  const { app, stopIntake, idle } = buildIngressApp({
    path: config.INGRESS_PATH,
    credentials: credentialsOf(config),
    bodyLimitBytes: config.INGRESS_BODY_LIMIT_BYTES,
    maxBytesInFlight: config.INGRESS_MAX_BYTES_IN_FLIGHT,
    retryAfterSeconds: config.INGRESS_RETRY_AFTER_SECONDS,
    trustProxy: parseTrustProxy(config.INGRESS_TRUST_PROXY),
    publisher,
    readiness: async () => {
      // Once the raw schema has its id, webhooks need Kafka, not the registry.
      const { kafka: kafkaUp, schemaRegistry } = await probe.check();
      return readinessOf({ kafka: kafkaUp, rawSchema: rawSchema.registered() }, { schemaRegistry });
    },
    metrics: createIngressMetrics(),
    logger,
  });

  const { port, url } = await listenOn(
    app,
    config.INGRESS_HOST,
    config.INGRESS_PORT,
    'ingress, INGRESS_PORT',
  ).catch(async (err: unknown) => {
    rawSchema.abandon();
    await Promise.allSettled([producer.disconnect(), clients.close()]);
    throw err;
  });
  log.info(
    {
      port,
      path: config.INGRESS_PATH,
      rawTopic: topics.RAW_TOPIC,
      schemaId: rawSchema.registered() ? rawSerializer.schemaId : null,
    },
    'ingress listening',
  );

  let stopping: Promise<boolean> | undefined;
  return {
    url,
    port,
    shutdown() {
      stopping ??= (async () => {
        // Unreferenced: the deadline must not keep a process alive that finished early.
        const deadline = sleep(config.INGRESS_SHUTDOWN_TIMEOUT_MS, undefined, { ref: false }).then(
          () => 'timeout' as const,
        );
        log.info({ pending: publisher.pending() }, 'stopping intake');
        stopIntake();
        rawSchema.abandon();
        const drained = await Promise.race([idle().then(() => 'idle' as const), deadline]);
        await app.close();
        const flushed =
          !fatal.happened() &&
          drained === 'idle' &&
          (await Promise.race([publisher.drain().then(() => 'drained' as const), deadline])) === 'drained';
        await Promise.allSettled([producer.disconnect(), clients.close()]);
        if (flushed) log.info('ingress stopped');
        else log.error({ pending: publisher.pending() }, 'ingress stopped before every webhook was answered');
        return flushed;
      })();
      return stopping;
    },
  };
}

function credentialsOf(config: IngressConfig) {
  if (config.INGRESS_AUTH_DISABLED) return undefined;
  return {
    ...(config.INGRESS_BASIC_AUTH_USER !== undefined && config.INGRESS_BASIC_AUTH_PASSWORD !== undefined
      ? { basic: { user: config.INGRESS_BASIC_AUTH_USER, password: config.INGRESS_BASIC_AUTH_PASSWORD } }
      : {}),
    ...(config.INGRESS_TOKEN !== undefined ? { token: config.INGRESS_TOKEN } : {}),
  };
}
