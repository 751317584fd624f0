/**
 * A single-node Apache Kafka broker in KRaft mode (broker and controller in one JVM) on loopback, with
 * its log in a data folder that outlives it, or in a temporary one. Settings follow Apache's own
 * docker image: replication factor 1 everywhere and no initial rebalance delay, so consumer groups
 * form at once.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { ConnectorError } from '../core/errors.ts';
import { createKafkaClient } from '../core/kafka.ts';
import { silentLogger } from '../core/logger.ts';
import { assertPortFree, freePort, retryPortClash } from './free-port.ts';
import { findJava } from './java.ts';
import { type JvmProcess, startJvm } from './jvm-process.ts';
import { kafkaJars } from './maven-artifacts.ts';
import { waitUntil } from './wait-until.ts';

const run = promisify(execFile);

/**
 * Any 22-character base64 UUID works for a single-node cluster. It is written into the data folder
 * when that folder is formatted, and a formatted folder is never formatted again, so it stays.
 */
const CLUSTER_ID = 'mailjetConnectorLocal0';

export interface KafkaBrokerOptions {
  /** 0 picks a free port. */
  port: number;
  heapMb: number;
  readyTimeoutMs: number;
  /** Aborted while starting: stop and give up (the rest of the stack failed). */
  signal?: AbortSignal;
  cacheDir?: string;
  /**
   * Keep the log here (topics, committed offsets, the KRaft metadata) instead of in a temporary folder,
   * and leave it on stop, even on SIGKILL: a broker started again on the same folder is the same broker,
   * with the same cluster id. Its ports may change: the metadata names the controller by node id only
   * (the quorum's voter is `1`, its address comes from the properties written at each start), and the
   * broker registers its listeners anew each time it starts.
   */
  dataDir?: string;
  /** 0 or absent picks a free port. */
  controllerPort?: number;
  /**
   * Also the listeners managed clusters offer, for the tests of TLS and SASL: SASL_SSL (a self-signed
   * certificate for 127.0.0.1, SASL PLAIN and SCRAM-SHA-512 for these users) and SSL with mutual TLS
   * (a client certificate made for the occasion). Needs the JDK's keytool and OpenSSL's command line.
   */
  saslSslUsers?: Record<string, string>;
  /**
   * Also a plaintext listener PROXIED on a free port, advertised at this port of 127.0.0.1, where a TCP
   * proxy forwards to it: clients bootstrapping there are told that address in the metadata, so every
   * connection of theirs goes through the proxy (the integrity lane's network faults). Not together
   * with `saslSslUsers`.
   */
  proxiedAdvertisedPort?: number;
  /**
   * The PROXIED listener's own port; 0 or absent picks a free one. A broker started again passes the
   * one it had (RunningBroker.proxied.bound), so the proxy's upstream stays right.
   */
  proxiedPort?: number;
}

/** The secured listeners of a broker started with `saslSslUsers`, and the PEM files' contents to use them. */
export interface SecuredListeners {
  /** Bootstrap of the SASL_SSL listener. */
  saslSsl: string;
  /** Bootstrap of the SSL listener that requires a client certificate. */
  mutualTls: string;
  /** The broker's certificate, to trust (it is self-signed). */
  caPem: string;
  /** A client certificate and key the SSL listener accepts. */
  clientCertPem: string;
  clientKeyPem: string;
}

export interface RunningBroker {
  bootstrap: string;
  controllerPort: number;
  process: JvmProcess;
  /** When `saslSslUsers` was given. */
  secured?: SecuredListeners;
  /** When `proxiedAdvertisedPort` was given: where the PROXIED listener is bound, and where it is advertised. */
  proxied?: ProxiedListener;
}

export interface ProxiedListener {
  /** host:port the broker listens on: the proxy's upstream. */
  bound: string;
  /** host:port the metadata names: the proxy's own. */
  advertised: string;
}

export function startKafkaBroker(options: KafkaBrokerOptions): Promise<RunningBroker> {
  return retryPortClash(options.port === 0 && !options.controllerPort, () => startOnce(options));
}

async function startOnce(options: KafkaBrokerOptions): Promise<RunningBroker> {
  const [java, jars] = await Promise.all([findJava(17, `Apache Kafka`), kafkaJars(options.cacheDir)]);
  const port = options.port === 0 ? await freePort() : options.port;
  await assertPortFree(port, 'Kafka broker');
  const controllerPort = options.controllerPort || (await freePort());
  const home = await mkdtemp(join(tmpdir(), 'mailjet-connector-kafka-'));
  const properties = join(home, 'server.properties');
  const log4j = join(home, 'log4j2.properties');
  const users = options.saslSslUsers;
  const secured = users
    ? {
        port: await freePort(),
        mutualTlsPort: await freePort(),
        ...(await selfSignedKeystore(java.executable, home)),
      }
    : undefined;
  if (users && options.proxiedAdvertisedPort) {
    throw new Error('a broker with SASL_SSL listeners has no PROXIED listener');
  }
  const proxied = options.proxiedAdvertisedPort
    ? { port: options.proxiedPort || (await freePort()), advertisedPort: options.proxiedAdvertisedPort }
    : undefined;
  const dataDir = options.dataDir ?? join(home, 'data');
  await mkdir(dataDir, { recursive: true });
  await writeFile(
    properties,
    serverProperties(port, controllerPort, dataDir, proxied) +
      (secured && users ? saslSslProperties({ port, controllerPort }, secured, users) : ''),
  );
  await writeFile(log4j, LOG4J2_PROPERTIES);

  const classpath = ['-cp', `${jars}/*`, `-Dlog4j2.configurationFile=${log4j}`];
  // Formatting writes the cluster id and the first metadata: only a new folder needs it, and skipping
  // the tool's JVM saves a few seconds of every restart.
  if (!existsSync(join(dataDir, 'meta.properties'))) {
    await run(
      java.executable,
      [
        ...classpath,
        'kafka.tools.StorageTool',
        'format',
        '-t',
        CLUSTER_ID,
        '-c',
        properties,
        '--ignore-formatted',
        // SCRAM users live in the cluster metadata, written when the storage is formatted.
        ...Object.entries(users ?? {}).flatMap(([name, password]) => [
          '--add-scram',
          `SCRAM-SHA-512=[name=${name},password=${password}]`,
        ]),
      ],
      { timeout: 60_000 },
    );
  }

  const jvm = startJvm({
    name: 'kafka',
    java: java.executable,
    args: [
      `-Xms128m`,
      `-Xmx${options.heapMb}m`,
      '-XX:+UseG1GC',
      '-XX:MaxGCPauseMillis=20',
      // G1 sizes regions from the heap: 1 MB at 512 MB, so any object over 512 KB is "humongous" and
      // costly to allocate and reclaim, and a produce request of 1,000–2,000 records is one: the broker
      // then spent several times the CPU per event on the ingress's load (npm run bench:ingress).
      // Kafka's documentation sets 16 MB regions for its 6 GB heap; 4 MB here.
      '-XX:G1HeapRegionSize=4m',
      '-XX:+ExitOnOutOfMemoryError',
      '-Djava.awt.headless=true',
      ...classpath,
      'kafka.Kafka',
      properties,
    ],
    cwd: home,
    logFile: join(home, 'broker.log'),
    cleanupDir: home,
  });

  const bootstrap = `127.0.0.1:${port}`;
  const client = createKafkaClient({
    brokers: [bootstrap],
    clientId: 'local-stack-probe',
    logger: silentLogger(),
    connectionTimeoutMs: 1000,
    retries: 0,
  });
  try {
    await waitUntil({
      timeoutMs: options.readyTimeoutMs,
      signal: options.signal,
      // Kafka locks its log folder; a second broker on the same data folder says so, and hangs.
      failedWhen: (tail) =>
        options.dataDir && /Failed to acquire lock/.test(tail)
          ? new ConnectorError(
              'LOCAL_STACK_DATA_IN_USE',
              `The Kafka data folder ${options.dataDir} is locked by another broker.`,
            )
          : undefined,
      process: jvm,
      probe: async () => (await client.describeCluster()).brokers.length > 0,
      notReady: (tail) =>
        new ConnectorError(
          'BROKER_NOT_READY',
          `Kafka broker on ${bootstrap} not ready after ${options.readyTimeoutMs} ms. Log tail:\n${tail}`,
        ),
    });
  } catch (err) {
    await jvm.stop(2000);
    throw err;
  } finally {
    await client.close().catch(() => {});
  }
  return {
    bootstrap,
    controllerPort,
    process: jvm,
    ...(proxied
      ? {
          proxied: {
            bound: `127.0.0.1:${proxied.port}`,
            advertised: `127.0.0.1:${proxied.advertisedPort}`,
          },
        }
      : {}),
    ...(secured
      ? {
          secured: {
            saslSsl: `127.0.0.1:${secured.port}`,
            mutualTls: `127.0.0.1:${secured.mutualTlsPort}`,
            caPem: secured.certificatePem,
            clientCertPem: secured.clientCertPem,
            clientKeyPem: secured.clientKeyPem,
          },
        }
      : {}),
  };
}

/** A PKCS12 keystore with a self-signed certificate for 127.0.0.1 and localhost, made by the JDK's keytool. */
async function selfSignedKeystore(
  javaExecutable: string,
  home: string,
): Promise<{
  keystore: string;
  truststore: string;
  password: string;
  certificatePem: string;
  clientCertPem: string;
  clientKeyPem: string;
}> {
  const keytool = join(dirname(javaExecutable), 'keytool');
  const keystore = join(home, 'broker.p12');
  const password = 'local-broker-keystore';
  const store = ['-keystore', keystore, '-storetype', 'PKCS12', '-storepass', password];
  await run(keytool, [
    '-genkeypair',
    ...store,
    '-alias',
    'broker',
    '-keyalg',
    'EC',
    '-groupname',
    'secp256r1',
    '-validity',
    '7',
    '-dname',
    'CN=localhost',
    '-ext',
    'SAN=ip:127.0.0.1,dns:localhost',
  ]);
  const { stdout } = await run(keytool, ['-exportcert', '-rfc', ...store, '-alias', 'broker']);
  // The client's certificate, trusted by the broker as it is (self-signed too).
  const clientKey = join(home, 'client.key');
  const clientCert = join(home, 'client.pem');
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    clientKey,
    '-out',
    clientCert,
    '-days',
    '7',
    '-subj',
    '/CN=mailjet-connector-test-client',
  ]);
  const truststore = join(home, 'truststore.p12');
  await run(keytool, [
    '-importcert',
    '-noprompt',
    '-alias',
    'client',
    '-file',
    clientCert,
    '-keystore',
    truststore,
    '-storetype',
    'PKCS12',
    '-storepass',
    password,
  ]);
  return {
    keystore,
    truststore,
    password,
    certificatePem: stdout,
    clientCertPem: await readFile(clientCert, 'utf8'),
    clientKeyPem: await readFile(clientKey, 'utf8'),
  };
}

/**
 * Appended to the server properties; later keys win, so the listeners are stated again with SASL_SSL
 * beside PLAINTEXT (the broker and its probe keep talking plaintext to themselves).
 */
function saslSslProperties(
  ports: { port: number; controllerPort: number },
  secured: { port: number; mutualTlsPort: number; keystore: string; truststore: string; password: string },
  users: Record<string, string>,
): string {
  const plainUsers = Object.entries(users)
    .map(([name, password]) => `user_${name}="${password}"`)
    .join(' ');
  const clients = `SASL_SSL://127.0.0.1:${secured.port},SSL://127.0.0.1:${secured.mutualTlsPort}`;
  return `listeners=PLAINTEXT://127.0.0.1:${ports.port},${clients},CONTROLLER://127.0.0.1:${ports.controllerPort}
advertised.listeners=PLAINTEXT://127.0.0.1:${ports.port},${clients}
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL
listener.name.ssl.ssl.client.auth=required
ssl.truststore.type=PKCS12
ssl.truststore.location=${secured.truststore}
ssl.truststore.password=${secured.password}
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required ${plainUsers};
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PKCS12
ssl.keystore.location=${secured.keystore}
ssl.keystore.password=${secured.password}
ssl.key.password=${secured.password}
`;
}

function serverProperties(
  port: number,
  controllerPort: number,
  dataDir: string,
  proxied?: { port: number; advertisedPort: number },
): string {
  // The broker and its probe talk to themselves on PLAINTEXT; only clients told to bootstrap on the
  // proxy's port use PROXIED.
  const listener = proxied ? `,PROXIED://127.0.0.1:${proxied.port}` : '';
  const advertised = proxied ? `,PROXIED://127.0.0.1:${proxied.advertisedPort}` : '';
  return `process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${controllerPort}
listeners=PLAINTEXT://127.0.0.1:${port}${listener},CONTROLLER://127.0.0.1:${controllerPort}
advertised.listeners=PLAINTEXT://127.0.0.1:${port}${advertised}
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT${proxied ? ',PROXIED:PLAINTEXT' : ''}
log.dirs=${dataDir}
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
`;
}

/** Warnings and the start-up line only: the broker's INFO output would drown the test logs. */
const LOG4J2_PROPERTIES = `status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.stdout.ref = STDOUT
logger.raft.name = kafka.server.KafkaRaftServer
logger.raft.level = info
`;
