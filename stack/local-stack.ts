/**
 * The Kafka broker and schema registry every process, test and benchmark of the project runs against:
 * an existing cluster when KAFKA_BROKERS and SCHEMA_REGISTRY_URL are set, else a real Apache Kafka and
 * Apicurio Registry fetched from Maven Central and started on free loopback ports, keeping their data
 * in LOCAL_STACK_DATA_DIR (or, when it is unset, in temporary folders gone on stop).
 */
import { rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { type Static, Type } from '@sinclair/typebox';
import {
  type ClusterSecurity,
  clusterSecurityOf,
  clusterSecurityProperties,
  securityProblems,
} from '../core/cluster-security.ts';
import { loadConfig } from '../core/config.ts';
import { ConnectorError } from '../core/errors.ts';
import { type ProducerCompression, producerCompressions } from '../core/kafka.ts';
import type { Logger } from '../core/logger.ts';
import type { JvmProcess } from './jvm-process.ts';
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

/**
 * The broker or the registry of a local stack, to take away and bring back (the integrity lane's
 * faults). Started again, it is the same one: the same port, so clients find it where they left it, and
 * the same data folder, so it keeps what it stored.
 */
export interface StackPart {
  /** SIGKILL (a crash: nothing flushed or closed) or SIGTERM (a clean stop); resolves once it is gone. */
  stop(signal: 'SIGKILL' | 'SIGTERM'): Promise<void>;
  /** Starts it again on its port and data folder; resolves once it answers. */
  start(): Promise<void>;
  running(): boolean;
}

export interface Stack extends ClusterAccess {
  /** True when the stack is someone else's cluster, which stop() leaves alone. */
  external: boolean;
  /** The absolute data folder of a local stack started with LOCAL_STACK_DATA_DIR. */
  dataDir?: string;
  /** Process group ids of the JVMs this stack runs now (empty when external). */
  readonly pids: number[];
  /**
   * The local broker and registry, to stop and start again. Only with a data folder: without one a
   * stopped broker's log and the registry's in-memory schemas are gone, and what came back would be
   * another cluster. Absent for an existing cluster, which is not ours to stop.
   */
  broker?: StackPart;
  registry?: StackPart;
  /** The broker's PROXIED listener, when LOCAL_KAFKA_PROXIED_ADVERTISED_PORT asked for one. */
  proxied?: ProxiedListener;
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
  const { bootstrap, controllerPort, process: brokerJvm, proxied } = broker.value;
  const { url, process: registryJvm } = registry.value;
  log.info({ brokers: bootstrap, registry: url, ms: Date.now() - started }, 'local stack ready');

  const again = { readyTimeoutMs: config.LOCAL_STACK_TIMEOUT_MS, ...(cacheDir ? { cacheDir } : {}) };
  const brokerPart = restartable('broker', brokerJvm, log, async () => {
    const started = await startKafkaBroker({
      ...again,
      heapMb: config.LOCAL_KAFKA_HEAP_MB,
      port: Number(bootstrap.slice(bootstrap.lastIndexOf(':') + 1)),
      controllerPort,
      ...(dataDir ? { dataDir: join(dataDir, DATA_PARTS.kafka) } : {}),
      // Behind the same fault proxy: the PROXIED listener on its own port again.
      ...(proxied
        ? {
            proxiedAdvertisedPort: Number(proxied.advertised.slice(proxied.advertised.lastIndexOf(':') + 1)),
            proxiedPort: Number(proxied.bound.slice(proxied.bound.lastIndexOf(':') + 1)),
          }
        : {}),
    });
    return started.process;
  });
  const registryPart = restartable('registry', registryJvm, log, async () => {
    const started = await startSchemaRegistry({
      ...again,
      heapMb: config.LOCAL_SCHEMA_REGISTRY_HEAP_MB,
      port: Number(new URL(url).port),
      ...(dataDir ? { dataDir: join(dataDir, DATA_PARTS.registry) } : {}),
    });
    return started.process;
  });

  let stopping: Promise<void> | undefined;
  return {
    brokers: [bootstrap],
    registryUrl: url,
    compression: config.KAFKA_COMPRESSION,
    external: false,
    ...(dataDir ? { dataDir, broker: brokerPart, registry: registryPart } : {}),
    ...(proxied ? { proxied } : {}),
    get pids() {
      return [brokerPart.jvm().pid, registryPart.jvm().pid];
    },
    stop() {
      stopping ??= Promise.all([brokerPart.stopForGood(), registryPart.stopForGood()]).then(() => {
        log.info('local stack stopped');
      });
      return stopping;
    },
  };
}

/** How many times, a second apart, a part started again tries to take its port back. */
const PORT_RETAKE_ATTEMPTS = 10;

/**
 * A part of the stack around its current JVM. stop() and start() are serialised, and the stack's own
 * stop waits for a start under way, so no JVM started again outlives the stack.
 */
function restartable(
  name: string,
  first: JvmProcess,
  log: Logger,
  startAgain: () => Promise<JvmProcess>,
): StackPart & { jvm(): JvmProcess; stopForGood(): Promise<void> } {
  let jvm = first;
  let stopped = false;
  let busy: Promise<unknown> = Promise.resolve();
  const serialised = <T>(step: () => Promise<T>): Promise<T> => {
    const result = busy.then(step);
    busy = result.catch(() => {});
    return result;
  };
  return {
    jvm: () => jvm,
    running: () => !jvm.hasExited(),
    stop: (signal) =>
      serialised(async () => {
        if (signal === 'SIGKILL') await jvm.kill();
        else await jvm.stop();
        log.info({ part: name, signal }, 'local stack part stopped');
      }),
    start: () =>
      serialised(async () => {
        if (stopped) throw new Error(`the local stack is stopped: its ${name} cannot start again`);
        if (!jvm.hasExited()) return;
        // Its port was free a moment ago, but any outgoing connection may be given it as its own port
        // meanwhile; that clash passes when the connection closes, so the same port is tried again.
        for (let attempt = 1; ; attempt++) {
          try {
            jvm = await startAgain();
            break;
          } catch (err) {
            const clash = err instanceof ConnectorError && err.code === 'PORT_TAKEN';
            if (!clash || attempt >= PORT_RETAKE_ATTEMPTS) throw err;
            await sleep(1000);
          }
        }
        log.info({ part: name }, 'local stack part started again');
      }),
    stopForGood: () => {
      stopped = true;
      return serialised(() => jvm.stop());
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
