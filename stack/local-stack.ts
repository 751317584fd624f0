/**
 * The Kafka broker and schema registry every process, test and benchmark of the project runs against:
 * an existing cluster when KAFKA_BROKERS and SCHEMA_REGISTRY_URL are set, else a real Apache Kafka and
 * Apicurio Registry fetched from Maven Central and started on free loopback ports, keeping their data
 * in LOCAL_STACK_DATA_DIR (or, when it is unset, in temporary folders gone on stop).
 */
import { rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Static, Type } from '@sinclair/typebox';
import {
  type ClusterSecurity,
  clusterSecurityOf,
  clusterSecurityProperties,
  securityProblems,
} from '../core/cluster-security.ts';
import { loadConfig } from '../core/config.ts';
import { type ProducerCompression, producerCompressions } from '../core/kafka.ts';
import type { Logger } from '../core/logger.ts';
import { type ProxiedListener, type RunningBroker, startKafkaBroker } from './kafka-broker.ts';
import { projectDir } from './maven-artifacts.ts';
import { type RunningRegistry, startSchemaRegistry } from './schema-registry-server.ts';

const project = projectDir(dirname(fileURLToPath(import.meta.url)));

/** Where `start` keeps the local stack's data unless LOCAL_STACK_DATA_DIR says otherwise. */
export const DEFAULT_DATA_DIR = '.data';

/** The data folder's parts, one per JVM: what `start --fresh` deletes, and nothing else. */
const DATA_PARTS = { kafka: 'kafka', registry: 'registry' } as const;

const port = (description: string) =>
  Type.Integer({ minimum: 0, maximum: 65535, default: 0, examples: [9092], description });

export const stackConfigSchema = Type.Object(
  {
    KAFKA_BROKERS: Type.Optional(
      Type.String({
        pattern: '^[^,\\s]+:\\d+(,[^,\\s]+:\\d+)*$',
        examples: ['kafka-1:9092,kafka-2:9092'],
        description:
          'Bootstrap servers of an existing cluster (host:port, comma-separated). Unset: start the local stack.',
      }),
    ),
    SCHEMA_REGISTRY_URL: Type.Optional(
      Type.String({
        pattern: '^https?://',
        examples: ['http://schema-registry:8081'],
        description: 'Confluent-compatible schema registry of that cluster. Set together with KAFKA_BROKERS.',
      }),
    ),
    ...clusterSecurityProperties,
    KAFKA_COMPRESSION: Type.Union(
      producerCompressions.map((c) => Type.Literal(c)),
      {
        default: 'none',
        description:
          "Codec of the batches the project's producers write (consumers read every codec, whatever this says). zstd and gzip trade CPU for broker disk and network.",
      },
    ),
    LOCAL_KAFKA_PORT: port('Port of the local broker on 127.0.0.1; 0 picks a free one.'),
    LOCAL_SCHEMA_REGISTRY_PORT: port('Port of the local schema registry on 127.0.0.1; 0 picks a free one.'),
    LOCAL_KAFKA_PROXIED_ADVERTISED_PORT: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 65535,
        examples: [19092],
        description:
          'Gives the local broker a second listener (PROXIED, on a free port) that it advertises at this port of 127.0.0.1, where a TCP proxy forwarding to it listens: clients bootstrapping there reach the broker only through the proxy. Unset: no such listener. The integrity lane sets it for its network faults.',
      }),
    ),
    LOCAL_KAFKA_HEAP_MB: Type.Integer({
      minimum: 128,
      default: 512,
      description: 'Java heap of the local broker.',
    }),
    LOCAL_SCHEMA_REGISTRY_HEAP_MB: Type.Integer({
      minimum: 128,
      default: 384,
      description: 'Java heap of the local schema registry.',
    }),
    LOCAL_STACK_DATA_DIR: Type.Optional(
      Type.String({
        pattern: '^[^;]+$',
        examples: [DEFAULT_DATA_DIR],
        description: `Folder of the local stack's data (the broker's topics, committed offsets and metadata; the registry's schemas), kept across restarts; relative to the project folder, no ";". \`start\` uses \`${DEFAULT_DATA_DIR}\` when unset, \`start --fresh\` empties it first; tests and benchmarks use temporary folders.`,
      }),
    ),
    LOCAL_STACK_TIMEOUT_MS: Type.Integer({
      minimum: 1000,
      default: 120_000,
      description: 'How long the local broker and registry may take to answer after start.',
    }),
  },
  { additionalProperties: false },
);

export type StackConfig = Static<typeof stackConfigSchema>;

export function loadStackConfig(env: NodeJS.ProcessEnv = process.env): StackConfig {
  return loadConfig(stackConfigSchema, env, (config) =>
    (config.KAFKA_BROKERS === undefined) === (config.SCHEMA_REGISTRY_URL === undefined)
      ? securityProblems(config)
      : [
          'KAFKA_BROKERS and SCHEMA_REGISTRY_URL: set both to use an existing cluster, or neither to start the local stack.',
        ],
  );
}

/** How the processes reach a cluster: its addresses, credentials and the codec of their producers. */
export interface ClusterAccess {
  brokers: string[];
  registryUrl: string;
  /** How to authenticate to an existing cluster; undefined for the local stack (plaintext, loopback). */
  security?: ClusterSecurity | undefined;
  /** Codec of the project's producers (KAFKA_COMPRESSION). */
  compression: ProducerCompression;
}

/** The existing cluster KAFKA_BROKERS and SCHEMA_REGISTRY_URL name; undefined when they are unset. */
export function existingCluster(config: StackConfig): ClusterAccess | undefined {
  if (config.KAFKA_BROKERS === undefined || config.SCHEMA_REGISTRY_URL === undefined) return undefined;
  return {
    brokers: config.KAFKA_BROKERS.split(','),
    registryUrl: config.SCHEMA_REGISTRY_URL,
    security: clusterSecurityOf(config),
    compression: config.KAFKA_COMPRESSION,
  };
}

export interface Stack extends ClusterAccess {
  /** True when the stack is someone else's cluster, which stop() leaves alone. */
  external: boolean;
  /** The absolute data folder of a local stack started with LOCAL_STACK_DATA_DIR. */
  dataDir?: string;
  /** The broker's PROXIED listener, when LOCAL_KAFKA_PROXIED_ADVERTISED_PORT asked for one. */
  proxied?: ProxiedListener;
  /** Process group ids of the JVMs this stack started (empty when external). */
  pids: number[];
  stop(): Promise<void>;
}

export async function startStack(config: StackConfig, logger: Logger, cacheDir?: string): Promise<Stack> {
  const log = logger.child({ component: 'local-stack' });
  const existing = existingCluster(config);
  if (existing) {
    log.info(
      { brokers: config.KAFKA_BROKERS, registry: withoutCredentials(config.SCHEMA_REGISTRY_URL ?? '') },
      'using an existing cluster',
    );
    return {
      ...existing,
      external: true,
      pids: [],
      stop: async () => {},
    };
  }

  const started = Date.now();
  const dataDir = localStackDataDir(config);
  log.info(
    { dataDir: dataDir ?? '(temporary)' },
    'starting the local Kafka broker and schema registry (first run downloads them with Maven)',
  );
  // The first failure of either half stops the other at once, instead of after its own start-up
  // (minutes, for a registry retrying a database another stack holds).
  const failed = new AbortController();
  const failFast = <T>(starting: Promise<T>) =>
    starting.catch((err: unknown) => {
      if (!failed.signal.aborted) failed.abort(err);
      throw err;
    });
  const { signal } = failed;
  const [broker, registry] = await Promise.allSettled([
    failFast(
      startKafkaBroker({
        port: config.LOCAL_KAFKA_PORT,
        heapMb: config.LOCAL_KAFKA_HEAP_MB,
        readyTimeoutMs: config.LOCAL_STACK_TIMEOUT_MS,
        ...(cacheDir ? { cacheDir } : {}),
        ...(dataDir ? { dataDir: join(dataDir, DATA_PARTS.kafka) } : {}),
        ...(config.LOCAL_KAFKA_PROXIED_ADVERTISED_PORT
          ? { proxiedAdvertisedPort: config.LOCAL_KAFKA_PROXIED_ADVERTISED_PORT }
          : {}),
        signal,
      }),
    ),
    failFast(
      startSchemaRegistry({
        port: config.LOCAL_SCHEMA_REGISTRY_PORT,
        heapMb: config.LOCAL_SCHEMA_REGISTRY_HEAP_MB,
        readyTimeoutMs: config.LOCAL_STACK_TIMEOUT_MS,
        ...(cacheDir ? { cacheDir } : {}),
        ...(dataDir ? { dataDir: join(dataDir, DATA_PARTS.registry) } : {}),
        signal,
      }),
    ),
  ]);
  if (broker.status === 'rejected' || registry.status === 'rejected') {
    await Promise.all([stopQuietly(broker), stopQuietly(registry)]);
    throw signal.reason;
  }
  const { bootstrap, process: brokerJvm, proxied } = broker.value;
  const { url, process: registryJvm } = registry.value;
  log.info({ brokers: bootstrap, registry: url, ms: Date.now() - started }, 'local stack ready');

  let stopping: Promise<void> | undefined;
  return {
    brokers: [bootstrap],
    registryUrl: url,
    compression: config.KAFKA_COMPRESSION,
    external: false,
    ...(dataDir ? { dataDir } : {}),
    ...(proxied ? { proxied } : {}),
    pids: [brokerJvm.pid, registryJvm.pid],
    stop() {
      stopping ??= Promise.all([brokerJvm.stop(), registryJvm.stop()]).then(() => {
        log.info('local stack stopped');
      });
      return stopping;
    },
  };
}

async function stopQuietly(result: PromiseSettledResult<RunningBroker | RunningRegistry>): Promise<void> {
  if (result.status === 'fulfilled') await result.value.process.stop(2000);
}

/** The absolute data folder LOCAL_STACK_DATA_DIR names (relative to the project folder), if set. */
export function localStackDataDir(config: StackConfig): string | undefined {
  return config.LOCAL_STACK_DATA_DIR === undefined
    ? undefined
    : resolve(project, config.LOCAL_STACK_DATA_DIR);
}

/**
 * Empties a local stack's data folder (`start --fresh`): deletes the parts the broker and the registry
 * keep there and nothing else, so a folder the user named by mistake loses no file of theirs.
 */
export async function clearLocalStackData(dataDir: string): Promise<void> {
  await Promise.all(
    Object.values(DATA_PARTS).map((part) => rm(join(dataDir, part), { recursive: true, force: true })),
  );
}

/** A configured URL as it may be printed or logged: without user and password, should it carry any. */
export function withoutCredentials(url: string): string {
  try {
    const parsed = new URL(url);
    if (!parsed.username && !parsed.password) return url;
    parsed.username = '';
    parsed.password = '';
    return parsed.href;
  } catch {
    return url;
  }
}
