/**
 * The processes of one integrity run, each an OS process as production runs them (bench/service-child.ts
 * starts them from the build): the local Segment server, the ingress and the connector, on topics and a
 * consumer group of the run's own. The ingress keeps its port across restarts, as behind a load
 * balancer, so the sender's retries find it again.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { type ServiceChild, serviceArgs, startSegmentChild, startService } from '../bench/service-child.ts';
import type { ClusterAccess } from '../stack/local-stack.ts';

export const WRITE_KEY = 'integrity-write-key';
const USER = 'mailjet';
const PASSWORD = 'integrity-lane-secret';
export const authorization = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
const PARTITIONS = 3;

export interface RunTopics {
  RAW_TOPIC: string;
  NORMALIZED_TOPIC: string;
  DEAD_LETTER_TOPIC: string;
  IDENTITY_TOPIC: string;
}

export class Pipeline {
  readonly topics: RunTopics;
  readonly groupId: string;
  readonly segmentUrl: string;
  readonly webhookUrl: string;
  ingress: ServiceChild | undefined;
  connector: ServiceChild | undefined;
  /** How each stopped or killed process ended (`exit 0`, `signal SIGKILL`), in order. */
  readonly endings: string[] = [];
  readonly #cluster: ClusterAccess;
  readonly #ingressPort: number;
  readonly #segment: Awaited<ReturnType<typeof startSegmentChild>>;
  /** The scenario's own connector settings. */
  readonly #connectorEnv: NodeJS.ProcessEnv;
  /** Where the services bootstrap: the cluster's brokers, or a proxy in front of them. */
  readonly #serviceBrokers: string[];

  private constructor(
    cluster: ClusterAccess,
    run: string,
    ingressPort: number,
    segment: Awaited<ReturnType<typeof startSegmentChild>>,
    connectorEnv: NodeJS.ProcessEnv,
    serviceBrokers: string[],
  ) {
    this.#cluster = cluster;
    this.#serviceBrokers = serviceBrokers;
    this.#connectorEnv = connectorEnv;
    this.#ingressPort = ingressPort;
    this.#segment = segment;
    this.topics = {
      RAW_TOPIC: `${run}.raw`,
      NORMALIZED_TOPIC: `${run}.normalized`,
      DEAD_LETTER_TOPIC: `${run}.dlq`,
      IDENTITY_TOPIC: `${run}.identities`,
    };
    this.groupId = `${run}.connector`;
    this.segmentUrl = segment.url;
    this.webhookUrl = `http://127.0.0.1:${ingressPort}/webhooks/mailjet`;
  }

  /**
   * The local Segment server (its memory holding `maxEvents` events), then the ingress and the connector,
   * which bootstrap on `serviceBrokers` (a fault proxy's address) instead of the cluster's when given.
   */
  static async start(
    cluster: ClusterAccess,
    scenario: string,
    maxEvents: number,
    connectorEnv: NodeJS.ProcessEnv = {},
    serviceBrokers: string[] = cluster.brokers,
  ): Promise<Pipeline> {
    const run = `integrity.${scenario}.${randomBytes(4).toString('hex')}`;
    const segment = await startSegmentChild({
      writeKey: WRITE_KEY,
      maxMessageIds: maxEvents,
      maxEvents,
      env: { PATH: process.env.PATH },
    });
    const pipeline = new Pipeline(cluster, run, await freePort(), segment, connectorEnv, serviceBrokers);
    await pipeline.startIngress();
    await pipeline.startConnector();
    return pipeline;
  }

  #clusterEnv(): NodeJS.ProcessEnv {
    return {
      PATH: process.env.PATH,
      LOG_LEVEL: 'info',
      KAFKA_BROKERS: this.#serviceBrokers.join(','),
      SCHEMA_REGISTRY_URL: this.#cluster.registryUrl,
      TOPIC_PARTITIONS: String(PARTITIONS),
      ...this.topics,
    };
  }

  async startIngress(): Promise<void> {
    this.ingress = await startService({
      what: 'the ingress',
      command: process.execPath,
      args: serviceArgs('ingress'),
      env: {
        ...this.#clusterEnv(),
        INGRESS_HOST: '127.0.0.1',
        INGRESS_PORT: String(this.#ingressPort),
        INGRESS_BASIC_AUTH_USER: USER,
        INGRESS_BASIC_AUTH_PASSWORD: PASSWORD,
      },
      readyMessage: 'ingress listening',
      keepProblems: 5,
    });
  }

  async startConnector(): Promise<void> {
    this.connector = await startService({
      what: 'the connector',
      command: process.execPath,
      args: serviceArgs('connector'),
      env: {
        ...this.#clusterEnv(),
        SEGMENT_WRITE_KEY: WRITE_KEY,
        SEGMENT_ENDPOINT: this.segmentUrl,
        CONNECTOR_HOST: '127.0.0.1',
        CONNECTOR_PORT: '0',
        CONNECTOR_GROUP_ID: this.groupId,
        ...this.#connectorEnv,
      },
      readyMessage: 'connector running',
      keepProblems: 5,
    });
  }

  /** SIGKILLs the connector: no shutdown, no last commit, whatever it was doing. */
  async killConnector(): Promise<void> {
    const connector = this.connector;
    if (!connector?.alive()) return;
    connector.child.kill('SIGKILL');
    this.endings.push(`connector ${await connector.exited}`);
  }

  /** SIGTERMs a process, as an orchestrator does, and records how it ended. */
  async stop(which: 'ingress' | 'connector'): Promise<void> {
    const child = this[which];
    if (child) this.endings.push(`${which} ${await child.stop()}`);
  }

  /** Sets faults of the local Segment server (its `/_local/faults`), in force until set again. */
  async segmentFaults(faults: object): Promise<void> {
    const response = await fetch(`${this.segmentUrl}/_local/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(faults),
    });
    if (!response.ok) throw new Error(`the Segment server refused the faults: ${await response.text()}`);
  }

  /** Stops everything this run started. */
  async close(): Promise<void> {
    await Promise.all([this.stop('ingress'), this.stop('connector')]);
    await this.#segment.stop();
  }
}

/** A port nothing listens on now: the ingress takes it at every (re)start. */
async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}
