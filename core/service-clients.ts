/**
 * What every process of the project opens the same way: the Kafka client, the schema registry client
 * and the readiness probe of both; its value schemas registered (a refusal stops start-up with what to
 * do, a registry that does not answer is waited for); and a consumer group whose join readiness reports
 * and whose end for good stops the process.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Type } from '@sinclair/typebox';
import type { BatchingProducer } from './batching-producer.ts';
import { createClusterProbe } from './cluster-probe.ts';
import type { ClusterSecurity } from './cluster-security.ts';
import { ConnectorError, isRetriable } from './errors.ts';
import {
  type BatchRunOptions,
  createKafkaClient,
  DEFAULT_SESSION_TIMEOUT_MS,
  type KafkaClient,
  type ProducerCompression,
  type RecordBatch,
  type TopicRecords,
  type TransactionalProducer,
} from './kafka.ts';
import type { Logger } from './logger.ts';
import {
  type AvroSerializer,
  createSchemaRegistryClient,
  type SchemaRegistryClient,
} from './schema-registry.ts';

/** Where a process finds the cluster, how it authenticates, and how it names itself to it. */
export interface ClusterDependencies {
  brokers: string[];
  registryUrl: string;
  /** TLS/SASL towards Kafka and the registry's credentials; absent: plaintext and an open registry. */
  security?: ClusterSecurity | undefined;
  /** Codec of this process's producers; absent: none. */
  compression?: ProducerCompression | undefined;
  logger: Logger;
  clientId?: string;
}

export interface ServiceClients {
  kafka: KafkaClient;
  registry: SchemaRegistryClient;
  /** Kafka and the registry answering, probed at most every 2 s: what /health/ready reports. */
  probe: ReturnType<typeof createClusterProbe>;
  /** Closes the admin connection and the probe; producers and consumers close themselves. */
  close(): Promise<unknown>;
}

export function openServiceClients(deps: ClusterDependencies, defaultClientId: string): ServiceClients {
  const clientId = deps.clientId ?? defaultClientId;
  const security = deps.security?.kafka;
  const kafka = createKafkaClient({
    brokers: deps.brokers,
    clientId,
    logger: deps.logger,
    ...(security ? { security } : {}),
    ...(deps.compression ? { compression: deps.compression } : {}),
  });
  const registry = createSchemaRegistryClient(deps.registryUrl, deps.security?.registryAuth);
  const probe = createClusterProbe({
    brokers: deps.brokers,
    clientId,
    registry,
    logger: deps.logger,
    ...(security ? { security } : {}),
  });
  return { kafka, registry, probe, close: () => Promise.allSettled([kafka.close(), probe.close()]) };
}

/**
 * Registers `schema` under `subject` (compatibility checked by the registry) and returns its serializer.
 * Fails with REGISTRY_UNAVAILABLE (retriable) when the registry did not answer, else with what it refused.
 */
export async function registerValueSchema(
  registry: SchemaRegistryClient,
  subject: string,
  schema: object,
): Promise<AvroSerializer> {
  try {
    return await registerRacing(registry, subject, schema);
  } catch (err) {
    // Already judged where it happened (a registry that did not answer in time).
    if (err instanceof ConnectorError) throw err;
    const status = (err as { status?: number }).status;
    if (status === 401 || status === 403) {
      throw new ConnectorError(
        'REGISTRY_AUTH_FAILED',
        `Registering ${subject}: the schema registry answered ${status}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    // The registry client reports a refused connection as a 400 of its own: whether the registry
    // answered at all is asked again, so that only a real refusal stops a process.
    if ((status !== undefined && status >= 500) || !(await registry.ping())) {
      throw new ConnectorError(
        'REGISTRY_UNAVAILABLE',
        `Registering ${subject}: the schema registry did not answer: ${(err as Error).message}`,
        { cause: err },
      );
    }
    throw new ConnectorError(
      'SCHEMA_REGISTRATION_FAILED',
      `Registering ${subject}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}

/** Attempts at a registration the registry answers 409, and the pause between them. */
const CONFLICT_ATTEMPTS = 4;
const CONFLICT_PAUSE_MS = 250;

/**
 * registry.serializer, asked again on a 409 Conflict. Replicas starting together on a new subject race
 * to create it, and the registry refuses the losers with a 409 (Apicurio: "A rule named
 * 'COMPATIBILITY' already exists"); asked again, they find the subject and its schema. An incompatible
 * schema is a 409 too, and fails every attempt the same way: it is then reported as before.
 */
async function registerRacing(
  registry: SchemaRegistryClient,
  subject: string,
  schema: object,
): Promise<AvroSerializer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await registry.serializer(subject, schema);
    } catch (err) {
      if ((err as { status?: number }).status !== 409 || attempt >= CONFLICT_ATTEMPTS) throw err;
      await sleep(CONFLICT_PAUSE_MS * attempt);
    }
  }
}

/** Between two attempts to register while the registry does not answer: doubling up to the last. */
const REGISTRATION_RETRY_MS = [500, 1000, 2000, 5000];

/**
 * registerValueSchema, waiting for a registry that does not answer: a process started during a registry
 * outage (a deploy, a rescheduled pod) comes up when the registry does, instead of exiting and waiting
 * for someone to start it again. A refusal fails at once; `signal` gives up (the process is stopping).
 */
export async function registerValueSchemaWhenReachable(
  registry: SchemaRegistryClient,
  subject: string,
  schema: object,
  options: { log: Logger; signal?: AbortSignal },
): Promise<AvroSerializer> {
  for (let attempt = 0; ; attempt++) {
    options.signal?.throwIfAborted();
    try {
      const serializer = await registerValueSchema(registry, subject, schema);
      if (attempt > 0) options.log.info({ subject, schemaId: serializer.schemaId }, 'schema registered');
      return serializer;
    } catch (err) {
      if (!isRetriable(err)) throw err;
      const waitMs = REGISTRATION_RETRY_MS[Math.min(attempt, REGISTRATION_RETRY_MS.length - 1)] as number;
      options.log.warn(
        { subject, attempt: attempt + 1, retryInMs: waitMs, code: (err as ConnectorError).code },
        (err as Error).message.split('\n')[0],
      );
      await sleep(waitMs, undefined, options.signal ? { signal: options.signal } : {});
    }
  }
}

/** A value schema registered while the process already runs, and the serializer to use meanwhile. */
export interface PendingValueSchema {
  /**
   * Encodes with the registered schema; until it is registered, throws REGISTRY_UNAVAILABLE (retriable),
   * so an intake answers 503 with Retry-After and stores nothing.
   */
  serializer: AvroSerializer;
  registered(): boolean;
  /** Gives up waiting (the process is stopping). */
  abandon(): void;
}

/**
 * registerValueSchema for an intake, which must listen even while the registry is away: when the
 * registry answers, registered (or refused) at once, as registerValueSchema; when it does not, resolves
 * at once all the same and goes on trying (registerValueSchemaWhenReachable), the intake answering
 * "retry later" meanwhile. A refusal then goes to `onFatal`: nothing the process writes could be encoded.
 */
export async function registerValueSchemaOrLater(
  registry: SchemaRegistryClient,
  subject: string,
  schema: object,
  options: { log: Logger; onFatal: (error: Error) => void },
): Promise<PendingValueSchema> {
  try {
    const serializer = await registerValueSchema(registry, subject, schema);
    return { serializer, registered: () => true, abandon: () => {} };
  } catch (err) {
    if (!isRetriable(err)) throw err;
    options.log.warn({ subject, code: (err as ConnectorError).code }, (err as Error).message.split('\n')[0]);
  }
  let registered: AvroSerializer | undefined;
  const abandoned = new AbortController();
  registerValueSchemaWhenReachable(registry, subject, schema, {
    log: options.log,
    signal: abandoned.signal,
  }).then(
    (serializer) => {
      registered = serializer;
    },
    (err: unknown) => {
      if (!abandoned.signal.aborted) options.onFatal(err as Error);
    },
  );
  const notYet = () =>
    new ConnectorError(
      'REGISTRY_UNAVAILABLE',
      `The schema registry has not answered since this process started: ${subject} has no schema id yet`,
    );
  return {
    serializer: {
      subject,
      get schemaId() {
        if (!registered) throw notYet();
        return registered.schemaId;
      },
      encode(value) {
        if (!registered) throw notYet();
        return registered.encode(value);
      },
    },
    registered: () => registered !== undefined,
    abandon: () => abandoned.abort(),
  };
}

/**
 * The first error no retry can fix (a refused key, a missing list): logged once, then the process is
 * told to stop. Readiness and the shutdown's verdict read it afterwards.
 */
export function createFatalLatch(log: Logger, onFatal?: (error: Error) => void) {
  let fatal: Error | undefined;
  return {
    report(error: Error): void {
      if (fatal) return;
      fatal = error;
      if (error instanceof ConnectorError) log.fatal({ code: error.code }, error.message);
      else log.fatal({ err: error }, 'stopping: the error above cannot be retried');
      onFatal?.(error);
    },
    happened: (): boolean => fatal !== undefined,
  };
}

export interface GroupConsumer {
  /** True once the member got partitions assigned. */
  joined(): boolean;
  /** Finishes the batches in progress, then leaves the group. */
  disconnect(): Promise<void>;
}

/** The settings of a process that consumes in a group (the connector, the destination worker). */
export const consumerGroupProperties = {
  KAFKA_SESSION_TIMEOUT_MS: Type.Integer({
    // Kafka's defaults for group.min.session.timeout.ms and group.max.session.timeout.ms: a broker
    // refuses a member whose session is outside its bounds.
    minimum: 6000,
    maximum: 1_800_000,
    default: DEFAULT_SESSION_TIMEOUT_MS,
    examples: [10_000],
    description:
      "How long the consumer group waits for an instance that stopped without leaving (killed, frozen, cut off) before its partitions go to the other instances; heartbeats every tenth of it. Shorter: a killed instance stalls its partitions less long; too short for the network or GC pauses: needless rebalances. A clean stop (SIGTERM) hands them over at once. Within the brokers' group.min/max.session.timeout.ms.",
  }),
};

/**
 * The batch loop of every consuming stage (the normalizer, the Segment sink, the destination's worker,
 * replay): a consumer group on `topics` from their beginning, handing batches to `handler`, which
 * returns what the batch becomes (createStageHandler). That output is written before the batch's
 * offsets are committed: with `transactions`, in one transaction with them (read-process-write, see
 * Consumer.runTransactions); otherwise by `producer`, then the commit. So no stage commits a batch whose
 * outcome is not in Kafka.
 */
export async function startGroupConsumer(options: {
  kafka: KafkaClient;
  groupId: string;
  topics: string[];
  handler: (batch: RecordBatch) => Promise<{ output: TopicRecords[] }>;
  transactions?: TransactionalProducer;
  /** Writes the output of a stage without `transactions`; its sends stop waiting once `signal` aborts. */
  producer?: BatchingProducer;
  signal?: AbortSignal;
  run?: BatchRunOptions;
  /** See KafkaClient.consumer. */
  maxBytesPerPartition?: number;
  /** See KafkaClient.consumer; KAFKA_SESSION_TIMEOUT_MS of the process. */
  sessionTimeoutMs?: number;
  log: Logger;
  /**
   * Called when the client gives up for good (after its own retries), or a batch fails with an error no
   * retry can fix (a refused key, a missing list): the process should stop.
   */
  onFatal?: (error: Error) => void;
}): Promise<GroupConsumer> {
  const { kafka, groupId, maxBytesPerPartition, sessionTimeoutMs } = options;
  const consumer = await kafka.consumer({
    groupId,
    ...(maxBytesPerPartition === undefined ? {} : { maxBytesPerPartition }),
    ...(sessionTimeoutMs === undefined ? {} : { sessionTimeoutMs }),
  });
  let joined = false;
  consumer.onGroupJoin(() => {
    joined = true;
  });
  consumer.onCrash((error) => {
    options.log.fatal({ err: error }, 'the Kafka consumer stopped for good');
    options.onFatal?.(error);
  });
  await consumer.subscribe(options.topics, { fromBeginning: true });
  const { producer, signal } = options;
  // A failed batch comes again from the committed offset; one failing with a refusal no retry can fix
  // would come again for ever, so the process is told to stop first (every stage, and replay).
  const handler = async (batch: RecordBatch) => {
    try {
      return await options.handler(batch);
    } catch (err) {
      if (err instanceof ConnectorError && !err.retriable) options.onFatal?.(err);
      throw err;
    }
  };
  if (options.transactions) {
    const { commit: _ignored, ...run } = options.run ?? {};
    await consumer.runTransactions(options.transactions, async (batch) => (await handler(batch)).output, run);
  } else {
    await consumer.runBatches(async (batch) => {
      const { output } = await handler(batch);
      if (output.length === 0) return;
      if (!producer) throw new Error(`${options.groupId}: a stage wrote output without a producer`);
      await producer.send(output, signal);
    }, options.run);
  }
  return { joined: () => joined, disconnect: () => consumer.disconnect() };
}
