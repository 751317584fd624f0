/**
 * One run of a Mailjet destination scenario: the identify sender posts seeded calls at a steady rate
 * while the scenario injects its faults, then the run waits until the worker's group has committed the
 * whole identify topic, reads that topic, the destination's dead-letter topic and the local Mailjet list
 * back, and counts (integrity/destination-count.ts): every acked call must be in the list as its
 * contact's last write, or dead-lettered with its reason, and the list must hold nothing else.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { benchLogger } from '../bench/harness.ts';
import { DEAD_LETTER_HEADERS } from '../core/dead-letter.ts';
import { createKafkaClient, type IncomingRecord, type KafkaClient } from '../core/kafka.ts';
import { createSchemaRegistryClient, type SchemaRegistryClient } from '../core/schema-registry.ts';
import type { SegmentIdentify } from '../schemas/index.ts';
import type { ClusterAccess } from '../stack/local-stack.ts';
import {
  countDestinationRun,
  type DestinationFigures,
  type IdentifyDeadLetter,
  type StoredIdentify,
} from './destination-count.ts';
import { DestinationPipeline, IDENTIFY_WRITE_KEY } from './destination-pipeline.ts';
import { identifyMessageIdOf, identifySender, MISMATCHED_TRAIT } from './identify-sender.ts';
import { readTopic } from './read-back.ts';
import type { DestinationScenario } from './scenario.ts';
import { seededRandom } from './seeded-random.ts';

export interface DestinationLoad {
  seconds: number;
  bodiesPerSecond: number;
  maxCallsPerBody: number;
  contacts: number;
}

export interface DestinationRunLine extends DestinationFigures {
  scenario: string;
  seed: number;
  /** From the end of the last fault (or of the load, if later) to caught up; null when it never was. */
  recovery_s: number | null;
  /** Bodies the sender never got a 200 for. */
  unacked_bodies: number;
  /** The intake's answers to the sender, and the Mailjet server's to the worker (faults included). */
  answers: Record<string, number>;
  mailjet_answers: Record<string, number>;
  endings: string[];
  failures: string[];
  /** A failed run's folder of service logs (intake.log, worker.log), kept for whoever looks into it. */
  logs?: string;
}

const SENDER_GRACE_MS = 60_000;
const CAUGHT_UP_TIMEOUT_MS = 180_000;
const POLL_MS = 250;

export async function runDestinationOnce(
  cluster: ClusterAccess,
  scenario: DestinationScenario,
  seed: number,
  load: DestinationLoad,
  quick: boolean,
): Promise<DestinationRunLine> {
  const bodiesRandom = seededRandom(seed);
  const faultsRandom = seededRandom(seed ^ 0x5bd1e995);
  const loadMs = load.seconds * 1000;
  const messageIdPrefix = `integrity-${seed}`;
  // Calls whose traits do not fit the account's properties: each must be dead-lettered with its reason.
  // Among the calls of the whole load (a body holds 2 calls on average).
  const mismatched = new Set<number>();
  while (mismatched.size < (quick ? 3 : 10)) {
    mismatched.add(faultsRandom.int(10, Math.max(20, load.seconds * load.bodiesPerSecond * 1.5)));
  }
  // `score` exists before the run, as an int: a text value cannot fit it, whichever call comes first.
  const pipeline = await DestinationPipeline.start(
    cluster,
    scenario.name,
    { [MISMATCHED_TRAIT]: 'int' },
    scenario.workerEnv,
  );
  const kafka = createKafkaClient({ brokers: cluster.brokers, clientId: 'integrity', logger: benchLogger });
  const registry = createSchemaRegistryClient(cluster.registryUrl);
  const failures: string[] = [];
  try {
    const sender = identifySender({
      url: pipeline.intakeUrl,
      writeKey: IDENTIFY_WRITE_KEY,
      random: bodiesRandom,
      bodiesPerSecond: load.bodiesPerSecond,
      maxCallsPerBody: load.maxCallsPerBody,
      contacts: load.contacts,
      messageIdPrefix,
      mismatched,
      retryMs: [200, 2000],
      requestTimeoutMs: 10_000,
    });
    sender.start(loadMs);
    const loadEnds = performance.now() + loadMs;
    await scenario.inject({ pipeline, random: faultsRandom, loadMs, quick });
    const faultsEnded = performance.now();
    const remaining = loadEnds - performance.now();
    if (remaining > 0) await sleep(remaining);
    const sent = await sender.finish(SENDER_GRACE_MS);
    let recovery_s: number | null = null;
    try {
      await waitWorkerCaughtUp(kafka, pipeline, CAUGHT_UP_TIMEOUT_MS);
      recovery_s = Number(((performance.now() - Math.max(faultsEnded, loadEnds)) / 1000).toFixed(1));
    } catch (err) {
      failures.push((err as Error).message);
    }
    const [identifyRecords, deadLetterRecords, contacts, mailjetAnswers] = await Promise.all([
      readTopic(kafka, pipeline.topics.IDENTIFY_TOPIC),
      readTopic(kafka, pipeline.topics.DESTINATION_DEAD_LETTER_TOPIC),
      pipeline.listContacts(),
      pipeline.mailjetAnswers(),
    ]);
    const figures = countDestinationRun({
      posted: sent.posted,
      acked: sent.acked,
      identifies: await storedIdentifies(identifyRecords, registry),
      deadLetters: deadLetterRecords.map(identifyDeadLetter),
      contacts,
      mismatched: new Set([...mismatched].map((index) => identifyMessageIdOf(messageIdPrefix, index))),
    });
    if (figures.lost > 0) failures.push(`lost ${figures.lost} acked calls`);
    if (figures.contacts_missing > 0)
      failures.push(`${figures.contacts_missing} contacts missing from the list`);
    if (figures.contacts_extra > 0)
      failures.push(`${figures.contacts_extra} contacts in the list that no call asked for`);
    if (figures.contacts_stale > 0) {
      failures.push(`${figures.contacts_stale} contacts not as their last calls left them`);
    }
    if (figures.dead_lettered_without_cause > 0) {
      failures.push(`${figures.dead_lettered_without_cause} calls dead-lettered without a cause`);
    }
    if (figures.mismatched_not_dead_lettered > 0) {
      failures.push(`${figures.mismatched_not_dead_lettered} mismatched calls not dead-lettered`);
    }
    if (sent.acked.size === 0) failures.push('no identify call was acked: the run tested nothing');
    return {
      scenario: scenario.name,
      seed,
      ...figures,
      recovery_s,
      unacked_bodies: sent.unackedBodies,
      answers: sent.answers,
      mailjet_answers: mailjetAnswers,
      endings: pipeline.endings,
      failures,
      ...pipeline.logs.verdict(failures),
    };
  } finally {
    await pipeline.close();
    await kafka.close();
  }
}

/** The worker's group has committed every partition of the identify topic up to its end offset. */
async function waitWorkerCaughtUp(
  kafka: KafkaClient,
  pipeline: DestinationPipeline,
  timeoutMs: number,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const [end, committed] = await Promise.all([
      kafka.endOffsets(pipeline.topics.IDENTIFY_TOPIC),
      kafka.committedOffsets(pipeline.groupId, pipeline.topics.IDENTIFY_TOPIC),
    ]);
    const behind = [...end].filter(
      ([partition, offset]) => Number(committed.get(partition) ?? -1) < Number(offset),
    );
    if (behind.length === 0) return;
    if (performance.now() > deadline) {
      const state = behind.map(([p, o]) => `${p} (committed ${committed.get(p) ?? -1} of ${o})`).join(', ');
      throw new Error(`not caught up within ${timeoutMs / 1000} s: partitions behind: ${state}`);
    }
    await sleep(POLL_MS);
  }
}

async function storedIdentifies(
  records: IncomingRecord[],
  registry: SchemaRegistryClient,
): Promise<StoredIdentify[]> {
  return Promise.all(
    records.map(async (record) => {
      const identify = await registry.decode<SegmentIdentify>(record.value as Buffer);
      return {
        messageId: identify.message_id,
        partition: record.partition,
        offset: String(record.offset),
        email: identify.email,
        traits: JSON.parse(identify.traits_json) as Record<string, unknown>,
      };
    }),
  );
}

/** The worker's dead letters say which identify record they refused; the intake's hold the call's JSON. */
function identifyDeadLetter(record: IncomingRecord): IdentifyDeadLetter {
  const header = (name: string) => record.headers[name]?.toString();
  const code = header(DEAD_LETTER_HEADERS.errorCode) ?? 'unknown';
  const partition = header(DEAD_LETTER_HEADERS.originPartition);
  const offset = header(DEAD_LETTER_HEADERS.originOffset);
  if (partition !== undefined && offset !== undefined)
    return { code, origin: { partition: Number(partition), offset } };
  let messageIds: string[] = [];
  try {
    const call = JSON.parse(record.value?.toString() ?? '') as { messageId?: unknown };
    if (typeof call.messageId === 'string') messageIds = [call.messageId];
  } catch {
    // Not a call's JSON: it names no call.
  }
  return { code, messageIds };
}
