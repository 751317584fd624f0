/**
 * The Mailjet destination benchmark: how many Segment identify calls per second its intake stores,
 * compared with the Kafka client producing the same records on its own; how fast it answers at half
 * that load; how many contacts per second its worker writes into a Mailjet list, by bulk job and one
 * by one; and whether its memory stays flat while Mailjet is down (back-pressure, not buffering).
 * A script that prints figures, never a test:
 *
 *   node --disable-warning=TimeoutNegativeWarning bench/destination.ts [--seconds N] [--concurrency C]
 *     [--calls N] [--emails N] [--one-by-one-seconds S] [--down-seconds S] [--down-calls N]
 *     [--mailjet-rate R] [--job-poll-ms MS]
 *
 * On the local stack (or KAFKA_BROKERS/SCHEMA_REGISTRY_URL), every run on topics and groups of its own.
 * The local Mailjet server (local-saas/mailjet) runs in this process; the destination
 * (`bin/mailjet-connector.ts destination`) in a child process, so its memory is its own, with the memory
 * settings the launcher and the Docker image give every process.
 * 1. Intake. Baseline: the raw Kafka client (core/kafka.ts, idempotent, acks=all) from C senders sends
 *    the records the intake would write for the same calls (Avro SegmentIdentify to the identify topic,
 *    email → userId to the identity topic), encoded in the loop, 1 call per send; right after it, the
 *    destination, closed-loop with C keep-alive clients on POST /v1/identify (1 call per body); then
 *    the same with 100 calls per send and POST /v1/batch (100 calls per body); then open-loop at half
 *    of each maximum, latency from each request's due time. The destination runs with
 *    DESTINATION_ROLE=intake, so the figures are the intake's, not the intake's minus a worker
 *    competing for the same thread and two cores.
 * 2. Worker. An identify topic filled in order with `--calls` calls for `--emails` distinct contacts
 *    (encoded as the intake encodes them); a destination on a fresh group writes them into the local
 *    Mailjet list until the group's committed offsets reach the end offsets; the list must then hold
 *    exactly the distinct contacts, each with the values of its calls folded in order (later ones win).
 *    First with the bulk path (MAILJET_BULK_MIN_CONTACTS default), then one by one
 *    (MAILJET_BULK_MIN_CONTACTS above any batch) for `--one-by-one-seconds` (0: until drained). The
 *    local server has no rate limit, so MAILJET_MAX_REQUESTS_PER_SECOND is `--mailjet-rate` (10,000):
 *    the figures are the destination's, not the token bucket's (its default, 10/s, is a guess at
 *    Mailjet's unpublished limit). MAILJET_JOB_POLL_MS stays the destination's default (1 s) unless
 *    `--job-poll-ms` is given: local jobs finish in 10 ms, Mailjet's take seconds, and with one
 *    partition handled at a time the poll interval, not CPU, bounds the bulk rate.
 * 3. Mailjet down. A topic of its own with `--down-calls` calls of the same shape (fewer, so that the
 *    catch-up fits the run's time; the rate was measured in 2) and a fresh group. As soon as the
 *    destination has read the list and properties (its start-up needs Mailjet), every request is
 *    answered 503 for `--down-seconds`; its RSS is sampled every second and nothing may be committed;
 *    then Mailjet comes back and it must catch up, with the same check of the list. Its retry delay is
 *    capped at 2 s (MAILJET_RETRY_MAX_DELAY_MS, default 30 s), so the catch-up measures the
 *    destination, not a backoff timer that happened to be long.
 * The run fails (exit 1) only if acked calls are missing from the topics or a drained list is wrong.
 * Targets missed are printed as MISS and still exit 0.
 */
import { randomBytes } from 'node:crypto';
import { createKafkaClient, type KafkaClient, type OutgoingRecord, type Producer } from '../core/kafka.ts';
import { type AvroSerializer, createSchemaRegistryClient } from '../core/schema-registry.ts';
import {
  type ContactUpdate,
  contactKey,
  contactUpdateOf,
  fitValue,
  type MailjetDatatype,
  mergeUpdates,
} from '../destination/contact-mapping.ts';
import { type AcceptedIdentify, identifyValue, readIdentifyBody } from '../destination/identify-body.ts';
import { type LocalMailjet, startLocalMailjet } from '../local-saas/mailjet/server.ts';
import { segmentIdentifySchema, valueSubject } from '../schemas/index.ts';
import type { Stack } from '../stack/local-stack.ts';
import {
  benchLogger,
  checkFlags,
  committedSum,
  type Drain,
  fmt,
  loadAverage,
  type Outage,
  type Pids,
  parseFlags,
  printMachine,
  printTable,
  printTargets,
  recordCount,
  runBench,
  sampleOutage,
  secondsSinceStart,
  startBenchStack,
  sum,
  waitDrained,
  writeResults,
} from './harness.ts';
import { createLoadClient, type WebhookBody } from './http-load.ts';
import {
  failedRequests,
  type IntakePhase,
  intakeLoad,
  intakeTargets,
  printIntakePhases,
  rawClientLoad,
} from './intake-load.ts';
import { cpuMeter, memoryOf, sampleMemory } from './process-stats.ts';
import {
  deployedMalloc,
  deployedNodeOptions,
  describeDeployedMalloc,
  type ServiceChild,
  serviceArgs,
  startService,
} from './service-child.ts';

const TARGETS = {
  /** Intake calls/s over the raw client's, same records, acks=all. */
  minRatio: 0.8,
  /** p99 from a request's due time to its 200, at half the maximum load. */
  maxP99Ms: 25,
  /** Peak resident memory of the destination process. */
  maxRssMb: 200,
  /** RSS trend while Mailjet is down, MB per 10 s: flat means back-pressure, not buffering. */
  maxSlopeMbPer10s: 2,
};
const CALLS_PER_BATCH = 100;
const PARTITIONS = 6;
const WARM_UP_SECONDS = 2;
/** Distinct calls the intake bodies are cut from (cycled through). */
const INTAKE_CALLS = 7000;
const FILL_CALLS_PER_SEND = 1000;
const LIST_ID = 1;
const RECOVERY_RETRY_MAX_DELAY_MS = 2000;
const DRAIN_TIMEOUT_MS = 180_000;
const WRITE_KEY = randomBytes(18).toString('base64url');
const MAILJET_KEYS = { apiKey: randomBytes(16).toString('hex'), apiSecret: randomBytes(16).toString('hex') };
const USAGE =
  'bench/destination.ts [--seconds 1..600] [--concurrency C≥1] [--calls N≥emails] [--emails N≥100] ' +
  '[--one-by-one-seconds 0..600 (0: until drained)] [--down-seconds 5..600] [--down-calls 100..calls] ' +
  '[--mailjet-rate R≥1] [--job-poll-ms MS≥10]';
const { values: args } = parseFlags(USAGE, {
  options: {
    seconds: { type: 'string', default: '6' },
    concurrency: { type: 'string', default: '32' },
    calls: { type: 'string', default: '50000' },
    emails: { type: 'string', default: '20000' },
    'one-by-one-seconds': { type: 'string', default: '10' },
    // A minute, as bench/connector.ts's outage: long enough to hold a major GC.
    'down-seconds': { type: 'string', default: '60' },
    'down-calls': { type: 'string', default: '10000' },
    'mailjet-rate': { type: 'string', default: '10000' },
    /** MAILJET_JOB_POLL_MS of the worker; unset: the destination's default. */
    'job-poll-ms': { type: 'string' },
  },
});
const seconds = Number(args.seconds);
const concurrency = Number(args.concurrency);
const totalCalls = Number(args.calls);
const distinctEmails = Number(args.emails);
const oneByOneSeconds = Number(args['one-by-one-seconds']);
const downSeconds = Number(args['down-seconds']);
const downCalls = Number(args['down-calls']);
/** The outage topic has the worker topic's shape: as many calls per contact. */
const downEmails = Math.max(1, Math.round((downCalls * distinctEmails) / totalCalls));
const mailjetRate = Number(args['mailjet-rate']);
const jobPollMs = args['job-poll-ms'];
checkFlags(USAGE, [
  seconds > 0 && seconds <= 600,
  Number.isInteger(concurrency) && concurrency >= 1,
  Number.isInteger(distinctEmails) && distinctEmails >= 100,
  Number.isInteger(totalCalls) && totalCalls >= distinctEmails && totalCalls <= 2_000_000,
  oneByOneSeconds >= 0 && oneByOneSeconds <= 600,
  downSeconds >= 5 && downSeconds <= 600,
  Number.isInteger(downCalls) && downCalls >= 100 && downCalls <= totalCalls,
  Number.isInteger(mailjetRate) && mailjetRate >= 1,
  jobPollMs === undefined || Number(jobPollMs) >= 10,
]);

interface WorkerPhase {
  name: string;
  drain: Drain;
  /** Mailjet requests by operation (managecontact, job, poll, …) with their count. */
  mailjetRequests: string;
  listCheck: ListCheck | undefined;
  deadLetters: number;
  destinationRssMb?: number | undefined;
  benchRssMb?: number | undefined;
  cpu: Map<string, number>;
  /** CPU of the destination per committed call, µs. */
  cpuUsPerCall?: number | undefined;
}

interface ListCheck {
  ok: boolean;
  contacts: number;
  wrong: number;
  firstProblem?: string | undefined;
}

let mailjet: LocalMailjet | undefined;

runBench({
  stopping: 'the destination, the Mailjet server and the stack',
  main,
  // After the destination children (they stop writing to it), before the stack.
  cleanUp: async () => {
    await mailjet?.stop();
  },
});

async function main(): Promise<number> {
  printMachine(
    `intake ${seconds} s per phase (${WARM_UP_SECONDS} s warm-up each), C=${concurrency}; worker ${totalCalls} calls ` +
      `for ${distinctEmails} contacts, ${PARTITIONS} partitions, MAILJET_MAX_REQUESTS_PER_SECOND=${mailjetRate} ` +
      `(the local server has no limit), MAILJET_JOB_POLL_MS=${jobPollMs ?? 'default'}, one by one ` +
      `${oneByOneSeconds === 0 ? 'until drained' : `for ${oneByOneSeconds} s`}; Mailjet down ${downSeconds} s ` +
      `(${downCalls} calls for ${downEmails} contacts); ` +
      `destination NODE_OPTIONS "${deployedNodeOptions}", ${describeDeployedMalloc()}`,
  );
  const { stack: cluster, jvms } = await startBenchStack();
  mailjet = await startLocalMailjet({ credentials: [MAILJET_KEYS] });
  const localMailjet = mailjet;
  console.log(`local Mailjet server: ${mailjet.url} (in the bench process)`);

  const kafka = createKafkaClient({
    brokers: cluster.brokers,
    clientId: 'bench-destination',
    logger: benchLogger,
  });
  const registry = createSchemaRegistryClient(cluster.registryUrl);
  const suffix = randomBytes(4).toString('hex');
  const topic = (name: string) => `bench.destination.${suffix}.${name}`;
  try {
    // 1. Intake: the raw client and the destination, each raw phase right before the intake phase it is
    // compared with: the load others put on the machine changes within tens of seconds.
    const intakeCalls = Array.from({ length: INTAKE_CALLS }, (_, seq) => identifyCall(seq, 5000));
    const accepted = acceptedCalls(intakeCalls);
    const intakePhases: IntakePhase[] = [];
    const rawTopics = { identify: topic('raw.identifies'), identity: topic('raw.identities') };
    await kafka.ensureTopics([
      { topic: rawTopics.identify, partitions: PARTITIONS },
      { topic: rawTopics.identity, partitions: PARTITIONS },
    ]);
    const rawSerializer = await registry.serializer(valueSubject(rawTopics.identify), segmentIdentifySchema);

    const intakeTopics = topicEnv(topic, 'intake');
    const intake = await startDestinationChild(
      cluster,
      localMailjet.url,
      intakeTopics,
      topic('intake-group'),
      { DESTINATION_ROLE: 'intake' },
    );
    console.log(
      `destination child (intake): pid ${intake.pid}, port ${intake.port}, ` +
        `RSS at rest ${fmt(memoryOf(intake.pid)?.rssMb, 0)} MB`,
    );
    const singleBodies = intakeCalls.map((call) => intakeBody(JSON.stringify(call), 1));
    const batchBodies: WebhookBody[] = [];
    for (let i = 0; i + CALLS_PER_BATCH <= intakeCalls.length; i += CALLS_PER_BATCH) {
      const batch = intakeCalls.slice(i, i + CALLS_PER_BATCH).map((call) => ({ type: 'identify', ...call }));
      batchBodies.push(intakeBody(JSON.stringify({ batch }), CALLS_PER_BATCH));
    }
    const authorization = `Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}`;
    const target = (path: string) => ({
      host: '127.0.0.1',
      port: intake.port,
      path,
      headers: { 'content-type': 'application/json', authorization },
    });
    const maxSockets = Math.max(concurrency, 256);
    const clients = {
      identify: createLoadClient(target('/v1/identify'), maxSockets),
      batch: createLoadClient(target('/v1/batch'), maxSockets),
    };
    const load = intakeLoad({
      service: { pid: intake.pid, port: intake.port, metricPrefix: 'mailjet_destination' },
      pids: { bench: 'self', destination: intake.pid, ...jvms },
      namePrefix: 'intake',
      concurrency,
      seconds,
      warmUpSeconds: WARM_UP_SECONDS,
      phases: intakePhases,
    });
    const scenarios = [
      { label: 'A: /v1/identify, 1 call/body', perSend: 1, client: clients.identify, bodies: singleBodies },
      {
        label: `B: /v1/batch, ${CALLS_PER_BATCH} calls/body`,
        perSend: CALLS_PER_BATCH,
        client: clients.batch,
        bodies: batchBodies,
      },
    ];
    const producer = await kafka.producer({ idempotent: true });
    const baseline = { producer, topics: rawTopics, serializer: rawSerializer, calls: accepted };
    const raw = rawClientLoad({
      concurrency,
      pids: { bench: 'self', ...jvms },
      phases: intakePhases,
      senderOf: (perSend) => callSender(baseline, perSend),
    });
    try {
      // Warm-ups are not reported; their calls count in the topic checks.
      await raw.warmUp(WARM_UP_SECONDS);
      await load.warmUp(scenarios);
      const maxima: IntakePhase[] = [];
      for (const scenario of scenarios) {
        const { perSend } = scenario;
        await raw.phase(`raw client, ${perSend} call${perSend === 1 ? '' : 's'}/send`, perSend, seconds);
        maxima.push(await load.closed(scenario));
      }
      for (const [i, scenario] of scenarios.entries()) await load.half(scenario, maxima[i] as IntakePhase);
    } finally {
      clients.identify.close();
      clients.batch.close();
      await producer.disconnect();
    }
    const intakeAcked = load.acked();
    const baselineAcked = raw.acked();
    const baselineStored = await recordCount(kafka, rawTopics.identify);
    const baselineIdentities = await recordCount(kafka, rawTopics.identity);
    const intakePeakMb = memoryOf(intake.pid)?.peakMb;
    const intakeStopped = await intake.stop();
    const intakeStored = await recordCount(kafka, intakeTopics.IDENTIFY_TOPIC);
    const intakeIdentities = await recordCount(kafka, intakeTopics.IDENTITY_TOPIC);
    const intakeDeadLetters = await recordCount(kafka, intakeTopics.DESTINATION_DEAD_LETTER_TOPIC);

    // 2. Worker: one identify topic, filled in order, drained by fresh groups.
    const workerTopic = topic('worker.identifies');
    const workerCalls = Array.from({ length: totalCalls }, (_, seq) => identifyCall(seq, distinctEmails));
    const fill = await fillIdentifyTopic(kafka, registry, workerTopic, workerCalls);
    const workerEnd = await kafka.endOffsets(workerTopic);
    const workerRecords = sum(workerEnd.values());
    console.log(
      `identify topic ${workerTopic}: ${workerRecords} records (${fill.acked} acked, ${distinctEmails} distinct emails) ` +
        `in ${fill.seconds.toFixed(1)} s, ${fill.avgBytes.toFixed(0)} B/value`,
    );
    if (workerRecords < fill.acked)
      throw new Error(`the identify topic holds ${workerRecords} of ${fill.acked}`);
    const expected = expectedContacts(fill.values);

    const workerPhases: WorkerPhase[] = [];
    const workerEnv = {
      MAILJET_MAX_REQUESTS_PER_SECOND: String(mailjetRate),
      ...(jobPollMs === undefined ? {} : { MAILJET_JOB_POLL_MS: jobPollMs }),
    };
    const workerPeaks: number[] = [];
    const runWorker = async (
      name: string,
      run: string,
      env: Record<string, string>,
      boundSeconds: number,
    ): Promise<WorkerPhase> => {
      localMailjet.store.reset();
      localMailjet.faults.clear();
      const topics = { ...topicEnv(topic, run), IDENTIFY_TOPIC: workerTopic };
      const child = await startDestinationChild(cluster, localMailjet.url, topics, topic(`${run}-group`), {
        ...workerEnv,
        ...env,
      });
      const phase = await measureWorker(
        name,
        child,
        { bench: 'self', destination: child.pid, ...jvms },
        {
          kafka,
          topic: workerTopic,
          end: workerEnd,
          started: child.runningAt,
          boundSeconds,
          expected,
          mailjet: localMailjet,
          deadLetterTopic: topics.DESTINATION_DEAD_LETTER_TOPIC,
        },
      );
      workerPeaks.push(memoryOf(child.pid)?.peakMb ?? Number.NaN);
      const stopped = await child.stop();
      console.log(`${name}: destination stopped with ${stopped}; ${child.warnings()} warn/error log lines`);
      for (const line of child.lastProblems()) console.log(`  ${line}`);
      workerPhases.push(phase);
      return phase;
    };
    const bulk = await runWorker('worker, bulk jobs', 'bulk', {}, 0);
    const oneByOne = await runWorker(
      'worker, one by one',
      'single',
      // Above the largest batch a fetch can hand over, so every contact gets its own managecontact.
      { MAILJET_BULK_MIN_CONTACTS: '1000000' },
      oneByOneSeconds,
    );

    // 3. Mailjet down from the first request after start-up on, then back.
    const downTopic = topic('down.identifies');
    const downFill = await fillIdentifyTopic(
      kafka,
      registry,
      downTopic,
      Array.from({ length: downCalls }, (_, seq) => identifyCall(seq, downEmails)),
    );
    const downEnd = await kafka.endOffsets(downTopic);
    if (sum(downEnd.values()) < downFill.acked) throw new Error(`${downTopic} lost records`);
    const downExpected = expectedContacts(downFill.values);
    localMailjet.store.reset();
    localMailjet.faults.clear();
    const downTopics = { ...topicEnv(topic, 'down'), IDENTIFY_TOPIC: downTopic };
    const downGroup = topic('down-group');
    const armed = armOutageAfterStartUp(localMailjet);
    const downChild = await startDestinationChild(cluster, localMailjet.url, downTopics, downGroup, {
      ...workerEnv,
      MAILJET_RETRY_MAX_DELAY_MS: String(RECOVERY_RETRY_MAX_DELAY_MS),
    });
    const outage = await mailjetDown(kafka, localMailjet, downChild, downGroup, downTopic, armed);
    localMailjet.faults.clear();
    const recovery = await measureWorker(
      `worker, catching up after the outage (${downCalls} calls)`,
      downChild,
      { bench: 'self', destination: downChild.pid, ...jvms },
      {
        kafka,
        topic: downTopic,
        end: downEnd,
        started: performance.now(),
        boundSeconds: 0,
        expected: downExpected,
        mailjet: localMailjet,
        deadLetterTopic: downTopics.DESTINATION_DEAD_LETTER_TOPIC,
      },
    );
    workerPhases.push(recovery);
    workerPeaks.push(memoryOf(downChild.pid)?.peakMb ?? Number.NaN);
    const downStopped = await downChild.stop();
    const benchPeakMb = memoryOf('self')?.peakMb;

    printIntakePhases(intakePhases, {
      service: 'destination',
      unit: 'calls',
      heapHeader: 'peak heap used/total/ext MB',
    });
    console.log(
      `intake destination: stopped with ${intakeStopped}; ${intake.warnings()} warn/error log lines; ` +
        `identify topic ${intakeStored} records for ${intakeAcked} acked calls, identity topic ${intakeIdentities}, ` +
        `dead letters ${intakeDeadLetters}`,
    );
    for (const line of intake.lastProblems()) console.log(`  ${line}`);
    printWorkerPhases(workerPhases);
    console.log(
      `Mailjet down ${outage.seconds.toFixed(0)} s: destination RSS every 1 s ` +
        `${outage.rssMb.map((mb) => mb.toFixed(0)).join(' ')} MB; committed during the outage: ${outage.committed}; ` +
        `503 answers: ${outage.refused}; after it: stopped with ${downStopped}, ${downChild.warnings()} warn/error ` +
        'log lines (retries while Mailjet was down)',
    );

    const lost =
      intakeStored < intakeAcked ||
      intakeIdentities < intakeAcked ||
      baselineStored < baselineAcked ||
      workerPhases.some((p) => p.drain.complete && p.listCheck !== undefined && !p.listCheck.ok);
    printDestinationTargets({
      intakePhases,
      bulk,
      oneByOne,
      recovery,
      outage,
      intakePeakMb,
      workerPeakMb: Math.max(...workerPeaks.filter((mb) => !Number.isNaN(mb))),
      benchPeakMb,
      intake: {
        acked: intakeAcked,
        stored: intakeStored,
        identities: intakeIdentities,
        deadLetters: intakeDeadLetters,
      },
      baseline: { acked: baselineAcked, stored: baselineStored, identities: baselineIdentities },
    });
    writeResults('destination');
    console.log(`machine at the end: load average ${loadAverage()}`);
    console.log(`total ${secondsSinceStart()} s`);
    return lost ? 1 : 0;
  } finally {
    await kafka.close();
  }
}

// ---------------------------------------------------------------------------------------------------
// Identify calls

/**
 * Identify call number `seq` of a stream that goes round `emails` contacts: round r is the r-th call of
 * each contact, and its values change with r, so "the last values" of a contact are those of its last
 * round. 7 to 10 traits of every Mailjet type (text, integer, float, boolean, ISO date-time, a nested
 * object, an array); every fifth contact is also in an Engage audience, which flips with the round, and
 * its calls carry Engage's `context.personas`. Each trait keeps one JSON type across calls, as a
 * tracking plan would: a float is never a whole number, or its property would be created as int.
 */
function identifyCall(seq: number, emails: number): Record<string, unknown> {
  const person = seq % emails;
  const round = Math.floor(seq / emails);
  const traits: Record<string, unknown> = {
    email: `contact-${person}@example.com`,
    firstName: `First${person}`,
    lastName: `Last${person % 997}`,
    plan: ['free', 'pro', 'team'][(person + round) % 3],
    logins: round * 7 + (person % 50),
    lifetimeValue: Math.round(((person % 997) + 0.37 + round * 0.01) * 100) / 100,
    verified: (person + round) % 2 === 0,
    createdAt: new Date(Date.UTC(2024, 0, 1) + person * 60_000).toISOString(),
  };
  if (person % 3 === 0) traits.address = { city: ['Paris', 'London', 'Berlin'][round % 3], country: 'EU' };
  if (person % 4 === 0) traits.tags = ['bench', `round-${round}`];
  const context: Record<string, unknown> = { library: { name: 'analytics-node', version: '2.1.0' } };
  if (person % 5 === 0) {
    traits.order_completed_last_30days = round % 2 === 0;
    context.personas = {
      computation_class: 'audience',
      computation_id: 'aud_bench',
      computation_key: 'order_completed_last_30days',
      namespace: 'spa_bench',
      space_id: 'spa_bench',
    };
  }
  return {
    userId: `user-${person}`,
    messageId: `bench-${seq}`,
    timestamp: new Date(Date.UTC(2026, 0, 1) + seq).toISOString(),
    traits,
    context,
  };
}

/** The calls as the intake reads them (its own pure reader), in order. */
function acceptedCalls(calls: Record<string, unknown>[]): AcceptedIdentify[] {
  const read = readIdentifyBody(Buffer.from(JSON.stringify(calls)), { impliedType: 'identify' });
  if (read.accepted.length !== calls.length) {
    throw new Error(`the intake reader accepted ${read.accepted.length} of ${calls.length} bench calls`);
  }
  return read.accepted;
}

function intakeBody(text: string, calls: number): WebhookBody {
  return {
    bytes: Buffer.from(text),
    events: calls,
    expectedAnswer: JSON.stringify({ success: true, stored: calls, ignored: 0, deadLettered: 0 }),
  };
}

/**
 * One send of the raw client: the next `perSend` calls as the intake writes them, an identify record
 * (Avro) and an identity record (email → userId) each.
 */
function callSender(
  target: {
    producer: Producer;
    topics: { identify: string; identity: string };
    serializer: AvroSerializer;
    calls: AcceptedIdentify[];
  },
  perSend: number,
): () => Promise<void> {
  const { producer, topics, serializer, calls } = target;
  let next = 0;
  return async () => {
    const context = { requestId: randomBytes(16).toString('hex'), receivedAt: Date.now() };
    const identifies: OutgoingRecord[] = [];
    const identities: OutgoingRecord[] = [];
    for (let i = 0; i < perSend; i++) {
      const call = calls[next++ % calls.length] as AcceptedIdentify;
      identifies.push({ key: call.key, value: serializer.encode(identifyValue(call, context)) });
      if (call.email !== null && call.userId !== null) {
        identities.push({ key: call.email.toLowerCase(), value: Buffer.from(call.userId, 'utf8') });
      }
    }
    await producer.send([
      { topic: topics.identify, records: identifies },
      { topic: topics.identity, records: identities },
    ]);
  };
}

/**
 * The worker's input, written in call order by one sender awaiting each send: calls of one contact
 * share a key, hence a partition, and keep their order there, so the last call of a contact is known.
 */
async function fillIdentifyTopic(
  kafka: KafkaClient,
  registry: ReturnType<typeof createSchemaRegistryClient>,
  identifyTopic: string,
  calls: Record<string, unknown>[],
): Promise<{ acked: number; seconds: number; avgBytes: number; values: ReturnType<typeof identifyValue>[] }> {
  await kafka.ensureTopics([{ topic: identifyTopic, partitions: PARTITIONS }]);
  const serializer = await registry.serializer(valueSubject(identifyTopic), segmentIdentifySchema);
  const producer = await kafka.producer({ idempotent: true });
  const values: ReturnType<typeof identifyValue>[] = [];
  let acked = 0;
  let bytes = 0;
  const started = performance.now();
  try {
    for (let start = 0; start < calls.length; start += FILL_CALLS_PER_SEND) {
      const context = { requestId: randomBytes(16).toString('hex'), receivedAt: Date.now() };
      const records: OutgoingRecord[] = [];
      for (const call of acceptedCalls(calls.slice(start, start + FILL_CALLS_PER_SEND))) {
        const value = identifyValue(call, context);
        values.push(value);
        const encoded = serializer.encode(value);
        bytes += encoded.length;
        records.push({ key: call.key, value: encoded });
      }
      await producer.send([{ topic: identifyTopic, records }]);
      acked += records.length;
    }
  } finally {
    await producer.disconnect();
  }
  return {
    acked,
    seconds: (performance.now() - started) / 1000,
    avgBytes: bytes / Math.max(1, acked),
    values,
  };
}

/** Per contact key, every call's update folded in order: what Mailjet must hold once all were written. */
function expectedContacts(values: ReturnType<typeof identifyValue>[]): Map<string, ContactUpdate> {
  const updates: { update: ContactUpdate; origin: number }[] = [];
  values.forEach((value, seq) => {
    const mapping = contactUpdateOf(value);
    if (!mapping.ok) throw new Error(`bench call ${seq} maps to no contact: ${JSON.stringify(mapping)}`);
    updates.push({ update: mapping.update, origin: seq });
  });
  return new Map(mergeUpdates(updates).map(({ update }) => [contactKey(update.email), update]));
}

/**
 * The list must hold exactly the expected contacts, each with its expected Name and properties (values
 * fitted to the types the properties got, as the worker fits them; a null clears, so it is absent).
 */
function checkList(store: LocalMailjet['store'], expected: Map<string, ContactUpdate>): ListCheck {
  const types = new Map(store.properties().map((p) => [p.Name.toLowerCase(), p.Datatype as MailjetDatatype]));
  const contacts = store.contactsOf(LIST_ID);
  let wrong = 0;
  let firstProblem: string | undefined;
  const problem = (text: string) => {
    wrong++;
    firstProblem ??= text;
  };
  const seen = new Set<string>();
  for (const contact of contacts) {
    const key = contactKey(contact.Email);
    seen.add(key);
    const want = expected.get(key);
    if (!want) {
      problem(`unexpected contact ${contact.Email}`);
      continue;
    }
    const wantProperties: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(want.properties)) {
      if (value === null) continue;
      const datatype = types.get(name.toLowerCase());
      // A property Mailjet lacks, or a value that does not fit it, can never compare equal: marked so.
      const fitted = datatype === undefined ? undefined : fitValue(value, datatype);
      wantProperties[name.toLowerCase()] = fitted ?? `(${JSON.stringify(value)} not writable)`;
    }
    const gotProperties = Object.fromEntries(
      Object.entries(contact.Properties).map(([name, value]) => [name.toLowerCase(), value]),
    );
    const got = JSON.stringify(sortKeys(gotProperties));
    const wanted = JSON.stringify(sortKeys(wantProperties));
    if (got !== wanted) problem(`${contact.Email}: properties ${got}, expected ${wanted}`);
    else if (contact.Name !== (want.name ?? ''))
      problem(`${contact.Email}: Name ${contact.Name}, expected ${want.name}`);
  }
  for (const key of expected.keys()) if (!seen.has(key)) problem(`missing contact ${key}`);
  return {
    ok: wrong === 0 && contacts.length === expected.size,
    contacts: contacts.length,
    wrong,
    firstProblem,
  };
}

function sortKeys(object: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(object).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

// ---------------------------------------------------------------------------------------------------
// The destination child

/** Topic names of one destination run; IDENTIFY_TOPIC may be replaced by a shared one. */
function topicEnv(topic: (name: string) => string, run: string) {
  return {
    IDENTIFY_TOPIC: topic(`${run}.identifies`),
    IDENTITY_TOPIC: topic(`${run}.identities`),
    DESTINATION_DEAD_LETTER_TOPIC: topic(`${run}.identifies.dlq`),
  };
}

interface DestinationChild extends ServiceChild {
  groupId: string;
}

/**
 * `bin/mailjet-connector.ts destination` in a child process, with topics and a group of its own; ready
 * (runningAt) when it logs "Mailjet destination running": worker started, intake open.
 */
async function startDestinationChild(
  cluster: Stack,
  mailjetUrl: string,
  topics: Record<string, string>,
  groupId: string,
  env: Record<string, string>,
): Promise<DestinationChild> {
  // Node directly with the launcher's settings rather than through `./mailjet-connector`, which may
  // run `npm install` first: the child must start the same way every run.
  const child = await startService({
    what: 'the destination child',
    command: process.execPath,
    args: serviceArgs('destination'),
    env: {
      PATH: process.env.PATH,
      LOG_LEVEL: 'info',
      NODE_OPTIONS: deployedNodeOptions,
      ...deployedMalloc,
      KAFKA_BROKERS: cluster.brokers.join(','),
      SCHEMA_REGISTRY_URL: cluster.registryUrl,
      TOPIC_PARTITIONS: String(PARTITIONS),
      ...topics,
      DESTINATION_HOST: '127.0.0.1',
      DESTINATION_PORT: '0',
      DESTINATION_WRITE_KEY: WRITE_KEY,
      DESTINATION_GROUP_ID: groupId,
      DESTINATION_SHUTDOWN_TIMEOUT_MS: '10000',
      MAILJET_API_URL: mailjetUrl,
      MAILJET_API_KEY: MAILJET_KEYS.apiKey,
      MAILJET_API_SECRET: MAILJET_KEYS.apiSecret,
      MAILJET_LIST_ID: String(LIST_ID),
      ...env,
    },
    readyMessage: 'Mailjet destination running',
    keepProblems: 3,
  });
  return { ...child, groupId };
}

// ---------------------------------------------------------------------------------------------------
// Worker phases

interface WorkerRun {
  kafka: KafkaClient;
  topic: string;
  end: Map<number, string>;
  started: number;
  /** Stop measuring this long after the first commit (0: until drained). */
  boundSeconds: number;
  expected: Map<string, ContactUpdate>;
  mailjet: LocalMailjet;
  deadLetterTopic: string;
}

/** Until the group committed the whole topic (or the bound), with CPU, memory and what Mailjet got. */
async function measureWorker(
  name: string,
  child: DestinationChild,
  pids: Pids,
  run: WorkerRun,
): Promise<WorkerPhase> {
  const cpu = cpuMeter(pids);
  const memory = sampleMemory({ destination: child.pid, bench: 'self' });
  const drain = await waitDrained(run.kafka, {
    groupId: child.groupId,
    topic: run.topic,
    end: run.end,
    started: run.started,
    timeoutMs: DRAIN_TIMEOUT_MS,
    boundSeconds: run.boundSeconds,
    alive: child.alive,
  });
  const cpuShares = cpu.stop();
  const peaks = memory.stop();
  if (drain.complete) await run.mailjet.store.jobsSettled();
  const stats = run.mailjet.store.stats();
  const operations = Object.entries(stats.requestsByRoute)
    .map(([route, statuses]) => {
      const short = route.replace(/^\w+ \/v3\/REST\//, '').replace('contactslist/:id/', '');
      const counts = Object.entries(statuses).map(([status, count]) => `${count}×${status}`);
      return `${short} ${counts.join(' ')}`;
    })
    .join('; ');
  return {
    name,
    drain,
    mailjetRequests: operations,
    listCheck: drain.complete ? checkList(run.mailjet.store, run.expected) : undefined,
    deadLetters: await recordCount(run.kafka, run.deadLetterTopic),
    destinationRssMb: peaks.get('destination'),
    benchRssMb: peaks.get('bench'),
    cpu: cpuShares,
    cpuUsPerCall:
      drain.records > 0
        ? ((cpuShares.get('destination') ?? Number.NaN) * drain.totalSeconds * 1e6) /
          committedSum(await run.kafka.committedOffsets(child.groupId, run.topic))
        : undefined,
  };
}

/**
 * From the request after the destination's start-up read of the properties on, every Mailjet request
 * is answered 503: start-up itself needs Mailjet (a wrong key or list must fail there), so the outage
 * cannot begin earlier, and arming it on that request, not on a timer, leaves no contact write through.
 * Resolves when armed.
 */
function armOutageAfterStartUp(local: LocalMailjet): Promise<void> {
  const { store } = local;
  const record = store.recordRequest.bind(store);
  return new Promise((resolve) => {
    store.recordRequest = (request) => {
      record(request);
      if (request.method === 'GET' && request.route === 'GET /v3/REST/contactmetadata') {
        local.faults.set({ failNext: { count: 1_000_000_000, status: 503 } });
        store.recordRequest = record;
        resolve();
      }
    };
  });
}

/** While Mailjet answers 503: the destination's RSS every second, from its first refused request on. */
async function mailjetDown(
  kafka: KafkaClient,
  local: LocalMailjet,
  child: DestinationChild,
  groupId: string,
  identifyTopic: string,
  armed: Promise<void>,
): Promise<Outage> {
  await armed;
  return sampleOutage({
    pid: child.pid,
    seconds: downSeconds,
    refused: () => local.store.stats().responsesByStatus['503'] ?? 0,
    committed: async () => committedSum(await kafka.committedOffsets(groupId, identifyTopic)),
    alive: child.alive,
  });
}

// ---------------------------------------------------------------------------------------------------
// Output

const workerRate = (phase: WorkerPhase) => phase.drain.records / phase.drain.steadySeconds;

function printWorkerPhases(phases: WorkerPhase[]): void {
  printTable(
    [
      'phase',
      'calls/s',
      'committed',
      'to 1st commit s',
      'total s',
      'CPU µs/call',
      'list check',
      'dead letters',
      'RSS MB destination/bench',
      'CPU cores: bench(+Mailjet)/destination/broker/registry/all',
    ],
    phases.map((p) => [
      p.name + (p.drain.complete ? '' : ' (not drained)'),
      workerRate(p).toFixed(0),
      String(p.drain.records),
      p.drain.firstCommitSeconds.toFixed(1),
      p.drain.totalSeconds.toFixed(1),
      fmt(p.cpuUsPerCall, 0),
      p.listCheck
        ? `${p.listCheck.ok ? 'exact' : `${p.listCheck.wrong} WRONG`} (${p.listCheck.contacts} contacts)`
        : 'n/a',
      String(p.deadLetters),
      [p.destinationRssMb, p.benchRssMb].map((mb) => fmt(mb, 0)).join('/'),
      ['bench', 'destination', 'broker', 'registry', 'machine']
        .map((label) => fmt(p.cpu.get(label), 2))
        .join('/'),
    ]),
    1,
  );
  for (const p of phases) {
    console.log(`${p.name}: Mailjet requests ${p.mailjetRequests}`);
    if (p.listCheck?.firstProblem) console.log(`  first list problem: ${p.listCheck.firstProblem}`);
  }
}

function printDestinationTargets(totals: {
  intakePhases: IntakePhase[];
  bulk: WorkerPhase;
  oneByOne: WorkerPhase;
  recovery: WorkerPhase;
  outage: Outage;
  intakePeakMb: number | undefined;
  workerPeakMb: number;
  benchPeakMb: number | undefined;
  intake: { acked: number; stored: number; identities: number; deadLetters: number };
  baseline: { acked: number; stored: number; identities: number };
}): void {
  const { intakePhases: phases, bulk, oneByOne, recovery, outage, intake, baseline } = totals;
  const nonOk = failedRequests(phases, 'intake');
  const drained = (p: WorkerPhase) =>
    p.drain.complete && p.listCheck?.ok === true && p.deadLetters === 0 ? 'yes' : 'no';
  printTargets(
    [
      ...intakeTargets(phases, {
        namePrefix: 'intake',
        minRatio: TARGETS.minRatio,
        maxP99Ms: TARGETS.maxP99Ms,
        scenarios: [
          {
            label: 'A: /v1/identify, 1 call/body',
            rawName: 'raw client, 1 call/send',
            per: '1 call per body/send',
            p99Of: '/v1/identify',
          },
          {
            label: `B: /v1/batch, ${CALLS_PER_BATCH} calls/body`,
            rawName: `raw client, ${CALLS_PER_BATCH} calls/send`,
            per: `${CALLS_PER_BATCH} calls per body/send`,
            p99Of: '/v1/batch',
          },
        ],
      }),
      [
        `destination peak RSS (VmHWM), intake run ≤ ${TARGETS.maxRssMb} MB`,
        `${fmt(totals.intakePeakMb, 0)} MB`,
        totals.intakePeakMb !== undefined && totals.intakePeakMb <= TARGETS.maxRssMb,
      ],
      [
        `destination peak RSS (VmHWM), worker runs ≤ ${TARGETS.maxRssMb} MB`,
        `${fmt(totals.workerPeakMb, 0)} MB`,
        totals.workerPeakMb <= TARGETS.maxRssMb,
      ],
      ['every intake request answered 200, every call stored', `${nonOk} non-200`, nonOk === 0],
      [
        'identify topic ≥ calls acked, identity topic ≥ calls acked, no dead letters',
        `${intake.stored} / ${intake.identities} ≥ ${intake.acked}, ${intake.deadLetters} dead letters`,
        intake.stored >= intake.acked && intake.identities >= intake.acked && intake.deadLetters === 0,
      ],
      [
        `bulk: drained; the list holds exactly the ${distinctEmails} distinct contacts with the last values`,
        drained(bulk),
        drained(bulk) === 'yes',
      ],
      [
        'bulk / one by one, calls/s',
        `${workerRate(bulk).toFixed(0)} / ${workerRate(oneByOne).toFixed(0)} = ${(workerRate(bulk) / workerRate(oneByOne)).toFixed(2)}`,
        'info',
      ],
      [
        `destination RSS flat while Mailjet is down: slope over the second half ≤ ${TARGETS.maxSlopeMbPer10s} MB per 10 s`,
        `${outage.lateSlopeMbPer10s.toFixed(2)} MB/10 s (whole window ${outage.slopeMbPer10s.toFixed(2)}; ` +
          `min ${outage.minMb.toFixed(0)}, max ${outage.maxMb.toFixed(0)} MB, ${outage.rssMb.length} samples)`,
        outage.rssMb.length >= 4 && outage.lateSlopeMbPer10s <= TARGETS.maxSlopeMbPer10s,
      ],
      ['nothing committed while Mailjet is down', `${outage.committed} committed`, outage.committed === 0],
      [
        'recovered: drained after the outage, the list exact again',
        drained(recovery),
        drained(recovery) === 'yes',
      ],
    ],
    [
      [
        'raw client check: identify / identity topic ≥ acked',
        `${baseline.stored} / ${baseline.identities} ≥ ${baseline.acked}`,
      ],
      // The load generator is not the product; its memory is shown so a reader can tell it did not swap.
      ['bench process (load generator + local Mailjet) peak RSS', `${fmt(totals.benchPeakMb, 0)} MB`],
    ],
  );
}
