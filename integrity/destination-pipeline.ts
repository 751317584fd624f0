/**
 * The processes of one Mailjet destination run, each an OS process (bench/service-child.ts starts them,
 * the destination from the build, as production runs it): the local Mailjet server, the identify intake
 * (`DESTINATION_ROLE=intake`) and the worker (`DESTINATION_ROLE=worker`), apart so the worker can be
 * killed while the intake keeps answering, on topics and a consumer group of the run's own. The intake
 * keeps its port across restarts, as behind a load balancer.
 */
import { randomBytes } from 'node:crypto';
import {
  type ChildHandle,
  type ServiceChild,
  serviceArgs,
  spawnChild,
  startService,
  waitForLine,
} from '../bench/service-child.ts';
import type { ClusterAccess } from '../stack/local-stack.ts';
import type { ListContact } from './destination-count.ts';
import { setLocalServerFaults } from './pipeline.ts';
import { RunLogs } from './run-logs.ts';

export const IDENTIFY_WRITE_KEY = 'integrity-identify-write-key';
const MAILJET_KEYS = { apiKey: 'integrity-mailjet-key', apiSecret: 'integrity-mailjet-secret' };
/** Mailjet's default list, the destination's default MAILJET_LIST_ID. */
export const LIST_ID = 1;
const PARTITIONS = 3;

export interface DestinationTopics {
  IDENTIFY_TOPIC: string;
  IDENTITY_TOPIC: string;
  DESTINATION_DEAD_LETTER_TOPIC: string;
}

export class DestinationPipeline {
  readonly topics: DestinationTopics;
  readonly groupId: string;
  readonly mailjetUrl: string;
  intake: ServiceChild | undefined;
  worker: ServiceChild | undefined;
  /** How each stopped or killed process ended (`exit 0`, `signal SIGKILL`), in order. */
  readonly endings: string[] = [];
  /** The intake's and the worker's logs, a file each: kept when the run fails. */
  readonly logs: RunLogs;
  readonly #cluster: ClusterAccess;
  readonly #mailjet: ChildHandle;
  readonly #workerEnv: NodeJS.ProcessEnv;

  private constructor(
    cluster: ClusterAccess,
    run: string,
    mailjet: ChildHandle & { url: string },
    workerEnv: NodeJS.ProcessEnv,
  ) {
    this.logs = new RunLogs(run);
    this.#cluster = cluster;
    this.#mailjet = mailjet;
    this.#workerEnv = workerEnv;
    this.mailjetUrl = mailjet.url;
    this.topics = {
      IDENTIFY_TOPIC: `${run}.identifies`,
      IDENTITY_TOPIC: `${run}.identities`,
      DESTINATION_DEAD_LETTER_TOPIC: `${run}.identifies.dlq`,
    };
    this.groupId = `${run}.destination`;
  }

  /** The intake's base URL (identify calls go to /v1/identify and /v1/batch). */
  get intakeUrl(): string {
    return `http://127.0.0.1:${this.intake?.port}`;
  }

  /**
   * The local Mailjet server, the properties the account has before the run (`properties`: name →
   * Mailjet datatype), then the intake and the worker.
   */
  static async start(
    cluster: ClusterAccess,
    scenario: string,
    properties: Record<string, string>,
    workerEnv: NodeJS.ProcessEnv = {},
  ): Promise<DestinationPipeline> {
    const run = `integrity.${scenario}.${randomBytes(4).toString('hex')}`;
    const handle = spawnChild(
      process.execPath,
      ['integrity/mailjet-runner.ts', MAILJET_KEYS.apiKey, MAILJET_KEYS.apiSecret],
      { PATH: process.env.PATH },
    );
    const url = await waitForLine(handle, 'the Mailjet server child', (line) => {
      try {
        return (JSON.parse(line) as { url?: string }).url;
      } catch {
        return undefined; // Not the line we wait for.
      }
    });
    const pipeline = new DestinationPipeline(cluster, run, { ...handle, url }, workerEnv);
    for (const [name, datatype] of Object.entries(properties)) {
      await pipeline.#mailjetApi('POST', '/v3/REST/contactmetadata', {
        Name: name,
        Datatype: datatype,
        NameSpace: 'static',
      });
    }
    await pipeline.startIntake();
    await pipeline.startWorker();
    return pipeline;
  }

  #clusterEnv(): NodeJS.ProcessEnv {
    return {
      PATH: process.env.PATH,
      LOG_LEVEL: 'info',
      KAFKA_BROKERS: this.#cluster.brokers.join(','),
      SCHEMA_REGISTRY_URL: this.#cluster.registryUrl,
      TOPIC_PARTITIONS: String(PARTITIONS),
      ...this.topics,
      DESTINATION_HOST: '127.0.0.1',
      DESTINATION_WRITE_KEY: IDENTIFY_WRITE_KEY,
      DESTINATION_GROUP_ID: this.groupId,
      MAILJET_API_URL: this.mailjetUrl,
      MAILJET_API_KEY: MAILJET_KEYS.apiKey,
      MAILJET_API_SECRET: MAILJET_KEYS.apiSecret,
      MAILJET_LIST_ID: String(LIST_ID),
    };
  }

  async startIntake(): Promise<void> {
    this.intake = await startService({
      what: 'the identify intake',
      command: process.execPath,
      args: serviceArgs('destination'),
      env: {
        ...this.#clusterEnv(),
        DESTINATION_ROLE: 'intake',
        // The port of the first start, kept across restarts.
        DESTINATION_PORT: String(this.intake?.port ?? 0),
      },
      readyMessage: 'Mailjet destination running',
      keepProblems: 5,
      logFile: this.logs.file('intake'),
    });
  }

  /**
   * Starts the worker and waits until it runs: its start-up waits for Mailjet as long as the faults in
   * force make it fail, so a start during a burst of faults only runs later.
   */
  async startWorker(): Promise<void> {
    this.worker = await startService({
      what: 'the destination worker',
      command: process.execPath,
      args: serviceArgs('destination'),
      env: {
        ...this.#clusterEnv(),
        DESTINATION_ROLE: 'worker',
        DESTINATION_PORT: '0',
        ...this.#workerEnv,
      },
      readyMessage: 'Mailjet destination running',
      keepProblems: 5,
      logFile: this.logs.file('worker'),
    });
  }

  /** SIGKILLs the worker: no shutdown, no last commit, whatever it was writing to Mailjet. */
  async killWorker(): Promise<void> {
    const worker = this.worker;
    if (!worker?.alive()) return;
    worker.child.kill('SIGKILL');
    this.endings.push(`worker ${await worker.exited}`);
  }

  /** SIGTERMs a process, as an orchestrator does, and records how it ended. */
  async stop(which: 'intake' | 'worker'): Promise<void> {
    const child = this[which];
    if (child) this.endings.push(`${which} ${await child.stop()}`);
  }

  /** Sets faults of the local Mailjet server (its `/_local/faults`), in force until set again. */
  mailjetFaults(faults: object): Promise<void> {
    return setLocalServerFaults('Mailjet', this.mailjetUrl, faults);
  }

  /** The contacts of the list, as the local Mailjet server holds them. */
  async listContacts(): Promise<ListContact[]> {
    const response = await fetch(`${this.mailjetUrl}/_local/contacts?list=${LIST_ID}`);
    if (!response.ok) throw new Error(`reading the Mailjet list failed: ${await response.text()}`);
    const { contacts } = (await response.json()) as {
      contacts: (Omit<ListContact, 'unsubscribed'> & {
        Lists: { ListID: number; IsUnsubscribed: boolean }[];
      })[];
    };
    return contacts.map(({ Email, Name, Properties, Lists }) => ({
      Email,
      Name,
      Properties,
      unsubscribed: Lists.some((list) => list.ListID === LIST_ID && list.IsUnsubscribed),
    }));
  }

  /** Requests the Mailjet server answered, by status (faults included). */
  async mailjetAnswers(): Promise<Record<string, number>> {
    const response = await fetch(`${this.mailjetUrl}/_local/stats`);
    return ((await response.json()) as { responsesByStatus: Record<string, number> }).responsesByStatus;
  }

  async #mailjetApi(method: string, path: string, body: unknown): Promise<void> {
    const response = await fetch(`${this.mailjetUrl}${path}`, {
      method,
      headers: {
        'content-type': 'application/json',
        authorization: `Basic ${Buffer.from(`${MAILJET_KEYS.apiKey}:${MAILJET_KEYS.apiSecret}`).toString('base64')}`,
      },
      body: JSON.stringify(body),
    });
    if (!response.ok)
      throw new Error(`Mailjet ${method} ${path} answered ${response.status}: ${await response.text()}`);
  }

  /** Stops everything this run started. */
  async close(): Promise<void> {
    await Promise.all([this.stop('intake'), this.stop('worker')]);
    await this.#mailjet.stop();
    this.logs.close();
  }
}
