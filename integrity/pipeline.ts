/**
 * The processes of one integrity run, each an OS process as production runs them (bench/service-child.ts
 * starts them from the build): the local Segment server, the ingress and one or more connectors (one
 * consumer group), on topics and a consumer group of the run's own. The ingress keeps its port across
 * restarts, as behind a load balancer, so the sender's retries find it again.
 */
import { randomBytes } from 'node:crypto';
import { type ServiceChild, serviceArgs, startSegmentChild, startService } from '../bench/service-child.ts';
import { freePort } from '../stack/free-port.ts';
import type { ClusterAccess } from '../stack/local-stack.ts';
import { RunLogs } from './run-logs.ts';

export const WRITE_KEY = 'integrity-write-key';
const USER = 'mailjet';
const PASSWORD = 'integrity-lane-secret';
export const authorization = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
/** What a scenario does not say otherwise: one connector over three partitions. */
const DEFAULT_SHAPE: PipelineShape = { connectors: 1, partitions: 3 };

/** How many connector processes a run starts with, and the partitions of its topics. */
export interface PipelineShape {
  connectors: number;
  partitions: number;
}

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
  readonly partitions: number;
  ingress: ServiceChild | undefined;
  /** The connectors running (or started and not yet stopped by the run), oldest first. */
  readonly connectors: ServiceChild[] = [];
  /** How each stopped or killed process ended (`exit 0`, `signal SIGKILL`), in order. */
  readonly endings: string[] = [];
  /** The services' logs, a file each: kept when the run fails. */
  readonly logs: RunLogs;
  readonly #cluster: ClusterAccess;
  readonly #ingressPort: number;
  readonly #segment: Awaited<ReturnType<typeof startSegmentChild>>;
  /** The scenario's own connector settings. */
  readonly #connectorEnv: NodeJS.ProcessEnv;
  /** Each connector's number in its endings, in the order they were started. */
  readonly #numbers = new Map<ServiceChild, number>();
  #started = 0;
  /** Endings name connectors by number only when a run has several. */
  readonly #numbered: boolean;
  /** Where the services bootstrap: the cluster's brokers, or a proxy in front of them. */
  readonly #serviceBrokers: string[];

  private constructor(
    cluster: ClusterAccess,
    run: string,
    ingressPort: number,
    segment: Awaited<ReturnType<typeof startSegmentChild>>,
    connectorEnv: NodeJS.ProcessEnv,
    shape: PipelineShape,
    serviceBrokers: string[],
  ) {
    this.logs = new RunLogs(run);
    this.#cluster = cluster;
    this.partitions = shape.partitions;
    this.#numbered = shape.connectors > 1;
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
   * The local Segment server (its memory holding `maxEvents` events), then the ingress and the connectors,
   * which bootstrap on `serviceBrokers` (a fault proxy's address) instead of the cluster's when given.
   */
  static async start(
    cluster: ClusterAccess,
    scenario: string,
    maxEvents: number,
    connectorEnv: NodeJS.ProcessEnv = {},
    shape: Partial<PipelineShape> = {},
    serviceBrokers: string[] = cluster.brokers,
  ): Promise<Pipeline> {
    const { connectors, partitions } = { ...DEFAULT_SHAPE, ...shape };
    const run = `integrity.${scenario}.${randomBytes(4).toString('hex')}`;
    const segment = await startSegmentChild({
      writeKey: WRITE_KEY,
      maxMessageIds: maxEvents,
      maxEvents,
      env: { PATH: process.env.PATH },
    });
    const pipeline = new Pipeline(
      cluster,
      run,
      await freePort(),
      segment,
      connectorEnv,
      { connectors, partitions },
      serviceBrokers,
    );
    await pipeline.startIngress();
    await Promise.all(Array.from({ length: connectors }, () => pipeline.startConnector()));
    return pipeline;
  }

  #clusterEnv(): NodeJS.ProcessEnv {
    return {
      PATH: process.env.PATH,
      LOG_LEVEL: 'info',
      KAFKA_BROKERS: this.#serviceBrokers.join(','),
      SCHEMA_REGISTRY_URL: this.#cluster.registryUrl,
      TOPIC_PARTITIONS: String(this.partitions),
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
      logFile: this.logs.file('ingress'),
    });
  }

  /** The first connector running: the only one of a run with one. */
  get connector(): ServiceChild | undefined {
    return this.connectors[0];
  }

  /** Starts one more connector in the group; resolves once it runs (it joined the group). */
  async startConnector(): Promise<ServiceChild> {
    const number = ++this.#started;
    const connector = await startService({
      what: this.#numbered ? `connector ${number}` : 'the connector',
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
      logFile: this.logs.file(`connector-${number}`),
    });
    this.#numbers.set(connector, number);
    this.connectors.push(connector);
    return connector;
  }

  /** SIGKILLs a connector (the first by default): no shutdown, no last commit, whatever it was doing. */
  async killConnector(connector = this.connector): Promise<void> {
    if (!connector) return;
    this.#forget(connector);
    if (!connector.alive()) return;
    connector.child.kill('SIGKILL');
    this.endings.push(`${this.#name(connector)} ${await connector.exited}`);
  }

  /** SIGTERMs one connector, as an orchestrator scaling down does, and records how it ended. */
  async stopConnector(connector: ServiceChild): Promise<void> {
    this.#forget(connector);
    this.endings.push(`${this.#name(connector)} ${await connector.stop()}`);
  }

  /** SIGTERMs a process (every connector, for 'connector'), as an orchestrator does, and records how each ended. */
  async stop(which: 'ingress' | 'connector'): Promise<void> {
    if (which === 'connector') {
      await Promise.all([...this.connectors].map((connector) => this.stopConnector(connector)));
      return;
    }
    const child = this.ingress;
    if (child) this.endings.push(`ingress ${await child.stop()}`);
  }

  #forget(connector: ServiceChild): void {
    const index = this.connectors.indexOf(connector);
    if (index >= 0) this.connectors.splice(index, 1);
  }

  #name(connector: ServiceChild): string {
    return this.#numbered ? `connector ${this.#numbers.get(connector)}` : 'connector';
  }

  /** Sets faults of the local Segment server (its `/_local/faults`), in force until set again. */
  segmentFaults(faults: object): Promise<void> {
    return setLocalServerFaults('Segment', this.segmentUrl, faults);
  }

  /** Stops everything this run started. */
  async close(): Promise<void> {
    await Promise.all([this.stop('ingress'), this.stop('connector')]);
    await this.#segment.stop();
    this.logs.close();
  }
}

/** Sets faults of a local SaaS server (`/_local/faults` of the Segment or Mailjet one), in force until set again. */
export async function setLocalServerFaults(server: string, url: string, faults: object): Promise<void> {
  const response = await fetch(`${url}/_local/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(faults),
  });
  if (!response.ok) throw new Error(`the ${server} server refused the faults: ${await response.text()}`);
}
