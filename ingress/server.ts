/**
 * The ingress process: what it reads (config, Kafka, the schema registry), what it writes (the raw and
 * dead-letter topics), in which order it starts, and in which order it stops (core/process-lifecycle.ts):
 * stop intake (503) → finish in-flight webhooks → close the HTTP server → flush to Kafka → disconnect.
 */
import { createBatchingProducer } from '../core/batching-producer.ts';
import { parseTrustProxy, readinessOf } from '../core/http-answers.ts';
import { listenOn } from '../core/http-listen.ts';
import { createProcessLifecycle } from '../core/process-lifecycle.ts';
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
  const lifecycle = createProcessLifecycle(log);
  const clients = openServiceClients(deps, 'mailjet-connector-ingress');
  lifecycle.closes('Kafka and registry clients', clients.close);
  const { kafka, registry, probe } = clients;
  const fatal = createFatalLatch(log, deps.onFatal);

  const started = await lifecycle.start(async () => {
    await ensureTopics(kafka, topics, [topics.RAW_TOPIC, topics.DEAD_LETTER_TOPIC], [], log);
    // Registered while the ingress already listens: started during a registry outage, it answers
    // webhooks 503 + Retry-After (Mailjet retries them) and is not ready until the raw schema has an id.
    const rawSchema = await registerValueSchemaOrLater(
      registry,
      valueSubject(topics.RAW_TOPIC),
      mailjetEventRawSchema,
      { log, onFatal: fatal.report },
    );
    lifecycle.closes('raw schema registration', async () => rawSchema.abandon());
    const producer = await kafka.producer({ idempotent: true });
    lifecycle.closes('producer', () => producer.disconnect());
    const publisher = createEventPublisher({
      producer: createBatchingProducer(producer),
      rawSerializer: rawSchema.serializer,
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
    lifecycle.closes('HTTP server', () => app.close());
    const listening = await listenOn(app, config.INGRESS_HOST, config.INGRESS_PORT, 'ingress, INGRESS_PORT');
    return { ...listening, rawSchema, publisher, app, stopIntake, idle };
  });
  const { port, url, rawSchema, publisher, app, stopIntake, idle } = started;
  log.info(
    {
      port,
      path: config.INGRESS_PATH,
      rawTopic: topics.RAW_TOPIC,
      schemaId: rawSchema.registered() ? rawSchema.serializer.schemaId : null,
    },
    'ingress listening',
  );

  return {
    url,
    port,
    shutdown: () =>
      lifecycle.stop(config.INGRESS_SHUTDOWN_TIMEOUT_MS, async ({ within }) => {
        log.info({ pending: publisher.pending() }, 'stopping intake');
        stopIntake();
        rawSchema.abandon();
        const answered = await within(idle(), 'answering the webhooks in flight');
        await app.close();
        const flushed =
          !fatal.happened() && answered && (await within(publisher.drain(), 'flushing to Kafka'));
        if (flushed) log.info('ingress stopped');
        else log.error({ pending: publisher.pending() }, 'ingress stopped before every webhook was answered');
        return flushed;
      }),
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
