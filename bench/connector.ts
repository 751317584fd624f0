/**
 * The connector benchmark: how fast the Segment connector drains the raw topic compared with the Kafka
 * client consuming the same records on its own, how much memory it takes, and whether its memory stays
 * flat while Segment is down (back-pressure, not buffering). A script that prints figures, never a test:
 *
 *   node --disable-warning=TimeoutNegativeWarning bench/connector.ts [--events N] [--produce-seconds S]
 *     [--down-seconds S] [--cpu-prof] [--child-node-options="--max-semi-space-size=8"]
 *
 * --cpu-prof writes a V8 CPU profile of the connector child of phase 3 (path printed at the end).
 * The children (connectors, Segment server) run with the memory settings the launcher
 * (`./mailjet-connector`) and the Docker image give every process: NODE_OPTIONS=--max-semi-space-size=8,
 * MALLOC_ARENA_MAX=2, MALLOC_MMAP_THRESHOLD_=131072. `--child-node-options` replaces the Node options of
 * the connector children ("" for Node's defaults), and MALLOC_* variables of the bench's environment
 * replace the glibc ones, to try other settings.
 * Phases, on the local stack (or KAFKA_BROKERS/SCHEMA_REGISTRY_URL), all on topics of their own:
 * 1. fill a raw topic (6 partitions) with N Avro MailjetEventRaw records (or what `--produce-seconds`
 *    allows), each a Mailjet sample with a recipient and MessageID of its own;
 * 2. baseline: a consumer group of the project's Kafka client (core/kafka.ts, runBatches, a commit per
 *    batch) reads the whole topic and only counts; then again, also Avro-decoding every value;
 * 3. the connector (`bin/mailjet-connector.ts connector`) in a child process, delivering to the local
 *    Segment server in another child process: events/s until the group's committed offsets reach the
 *    end offsets, batch latency from its /metrics, what Segment received, the normalized topic's count;
 * 4. Segment down: a second connector on a fresh group while the Segment server answers 503 to
 *    everything; its RSS is sampled every second; then Segment comes back and it must catch up.
 * Rates are "steady": from the first commit the poller saw to the last, so process start and group
 * join (shown apart) do not count. Every event must reach Segment exactly once in distinct messageIds
 * and the normalized topic once; the run fails (exit 1) only if events were lost. Targets missed are
 * printed as MISS and still exit 0.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createKafkaClient, type KafkaClient, type OutgoingRecord } from '../core/kafka.ts';
import { createLogger } from '../core/logger.ts';
import { createSchemaRegistryClient } from '../core/schema-registry.ts';
import { rawEventValue } from '../ingress/event-publisher.ts';
import { readWebhookBody } from '../ingress/webhook-body.ts';
import { type MailjetEventRaw, mailjetEventRawSchema, valueSubject } from '../schemas/index.ts';
import { loadStackConfig, type Stack, startStack } from '../stack/local-stack.ts';
import { mailjetSamples } from '../test/fixtures/mailjet-events.ts';
import { cpuMeter, memoryOf, processInGroup, sampleMemory } from './process-stats.ts';

const TARGETS = {
  /** Connector events/s over the raw client's consume rate, same topic, same client settings. */
  minRatio: 0.7,
  /** Peak resident memory of each Node process. */
  maxRssMb: 200,
  /** RSS trend while Segment is down, MB per 10 s: flat means back-pressure, not buffering. */
  maxSlopeMbPer10s: 2,
};
const PARTITIONS = 6;
/** The connector's default CONNECTOR_PARTITIONS_CONCURRENTLY; the baseline uses the same. */
const PARTITIONS_CONCURRENTLY = 3;
const PRODUCE_SENDERS = 4;
const RECORDS_PER_SEND = 1000;
const WRITE_KEY = 'bench-write-key';
/** How long draining the topic may take before the phase is reported as incomplete. */
const DRAIN_TIMEOUT_MS = 120_000;
const POLL_MS = 100;
const repoRoot = fileURLToPath(new URL('..', import.meta.url));
/**
 * What the launcher and the Dockerfile set for every process: the figures must be those of the processes
 * as deployed, not of Node's defaults (a young generation that grows larger, a malloc arena per thread).
 */
const deployedNodeOptions = '--max-semi-space-size=8';
const deployedMalloc = {
  MALLOC_ARENA_MAX: '2',
  MALLOC_MMAP_THRESHOLD_: '131072',
  ...Object.fromEntries(Object.entries(process.env).filter(([name]) => name.startsWith('MALLOC_'))),
};

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '200000' },
    'produce-seconds': { type: 'string', default: '15' },
    'down-seconds': { type: 'string', default: '20' },
    'cpu-prof': { type: 'boolean', default: false },
    /** V8/Node flags for the connector children only, instead of the launcher's. */
    'child-node-options': { type: 'string', default: deployedNodeOptions },
  },
});
const wantedEvents = Number(args.events);
const produceSeconds = Number(args['produce-seconds']);
const downSeconds = Number(args['down-seconds']);
if (
  !(Number.isInteger(wantedEvents) && wantedEvents >= 1000 && wantedEvents <= 5_000_000) ||
  !(produceSeconds > 0 && produceSeconds <= 600) ||
  !(downSeconds >= 5 && downSeconds <= 600)
) {
  process.stderr.write(
    'Usage: bench/connector.ts [--events 1000..5000000] [--produce-seconds S] [--down-seconds 5..600] ' +
      '[--cpu-prof] [--child-node-options "…"]\n',
  );
  process.exit(2);
}

type Pids = Record<string, number | 'self'>;

interface Drain {
  /** Records committed between the first and the last commit the poller saw. */
  events: number;
  /** From the first seen commit to committed = end. */
  steadySeconds: number;
  /** From the start of the phase (consumer run, or "connector running") to the first seen commit. */
  firstCommitSeconds: number;
  /** From the start of the phase to committed = end. */
  totalSeconds: number;
  complete: boolean;
}

interface Phase {
  name: string;
  drain: Drain;
  batchP50Ms?: number | undefined;
  batchP99Ms?: number | undefined;
  connectorRssMb?: number | undefined;
  /** The connector's memory (its /metrics, every 0.5 s): peaks of V8 heap used / total and external, MB. */
  connectorHeapMb?: string | undefined;
  segmentRssMb?: number | undefined;
  benchRssMb?: number | undefined;
  cpu: Map<string, number>;
  /** CPU of the process doing the work (bench or connector) per committed event, µs: robust to noise. */
  cpuUsPerEvent?: number | undefined;
}

interface SegmentStats {
  requests: number;
  responsesByStatus: Record<string, number>;
  eventsReceived: number;
  distinctMessageIds: number;
  duplicates: number;
  eventsRejected: number;
  messageIdsForgotten: number;
}

const logger = createLogger({ level: process.env.LOG_LEVEL ?? 'warn' });
const startedAt = performance.now();
const children = new Set<ChildProcess>();
let stack: Stack | undefined;
let cleaning: Promise<void> | undefined;

/** Stops what the bench started, once: the children, then the stack. */
function cleanUp(): Promise<void> {
  cleaning ??= (async () => {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await once(child, 'exit');
      }
    }
    await stack?.stop();
  })();
  return cleaning;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`\n${signal}: stopping the connector, the Segment server and the stack…\n`);
    cleanUp().finally(() => process.exit(130));
  });
}

main()
  .then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(
        `bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      );
      process.exitCode = 1;
    },
  )
  .finally(() => cleanUp());

async function main(): Promise<number> {
  printMachine();
  const stackStarted = performance.now();
  stack = await startStack(loadStackConfig(), logger);
  const cluster = stack;
  const jvms: Pids = stack.external
    ? {}
    : Object.fromEntries(
        [
          ['broker', processInGroup(stack.pids[0] ?? -1, 'java')],
          ['registry', processInGroup(stack.pids[1] ?? -1, 'java')],
        ].filter((entry): entry is [string, number] => entry[1] !== undefined),
      );
  console.log(
    `stack: ${stack.external ? 'existing cluster' : 'local'} ${stack.brokers.join(',')} ` +
      `(ready in ${((performance.now() - stackStarted) / 1000).toFixed(1)} s)`,
  );

  const kafka = createKafkaClient({ brokers: stack.brokers, clientId: 'bench-connector', logger });
  const registry = createSchemaRegistryClient(stack.registryUrl);
  const suffix = randomBytes(4).toString('hex');
  const topic = (name: string) => `bench.connector.${suffix}.${name}`;
  const rawTopic = topic('raw');
  try {
    // 1. The raw topic.
    const produced = await fillRawTopic(kafka, registry, rawTopic);
    const end = await endOffsetsOf(kafka, rawTopic);
    const total = sum(end.values());
    console.log(
      `raw topic ${rawTopic}: ${total} records (${produced.acked} acked) in ${produced.seconds.toFixed(1)} s, ` +
        `${(produced.acked / produced.seconds).toFixed(0)} events/s produced, ${produced.avgBytes.toFixed(0)} B/value`,
    );
    if (total < produced.acked) throw new Error(`the raw topic holds ${total} of ${produced.acked} records`);

    // 2. Baseline: the Kafka client alone, counting; then also decoding.
    const phases: Phase[] = [];
    const decode = registry.decoder<MailjetEventRaw>(mailjetEventRawSchema);
    for (const decoding of [false, true]) {
      const groupId = topic(`baseline-${decoding ? 'decode' : 'count'}`);
      const consumer = await kafka.consumer({ groupId });
      const cpu = cpuMeter({ bench: 'self', ...jvms });
      const memory = sampleMemory({ bench: 'self' });
      const started = performance.now();
      await consumer.subscribe([rawTopic], { fromBeginning: true });
      let counted = 0;
      await consumer.runBatches(
        async (batch) => {
          if (decoding) for (const record of batch.records) await decode(record.value as Buffer);
          counted += batch.records.length;
        },
        { partitionsConcurrently: PARTITIONS_CONCURRENTLY },
      );
      const drain = await waitDrained(kafka, groupId, rawTopic, end, started);
      const cpuShares = cpu.stop();
      await consumer.disconnect();
      phases.push({
        name: `raw consume${decoding ? ' + Avro decode' : ', count only'}`,
        drain,
        benchRssMb: memory.stop().get('bench'),
        cpu: cpuShares,
        cpuUsPerEvent: ((cpuShares.get('bench') ?? Number.NaN) * drain.totalSeconds * 1e6) / total,
      });
      if (counted < total) console.log(`  baseline handed over ${counted} of ${total} records`);
    }

    // 3. The connector, delivering to the local Segment server; both in processes of their own.
    const segment = await startSegmentChild(total + 10_000);
    console.log(`local Segment server: pid ${segment.pid}, ${segment.url}`);
    const pids: Pids = { bench: 'self', segment: segment.pid, ...jvms };
    const runTopics = (run: string) => ({
      RAW_TOPIC: rawTopic,
      NORMALIZED_TOPIC: topic(`${run}.normalized`),
      DEAD_LETTER_TOPIC: topic(`${run}.dlq`),
      IDENTITY_TOPIC: topic(`${run}.identities`),
    });

    const mainTopics = runTopics('run1');
    const mainGroup = topic('connector-1');
    const connector = await startConnectorChild(
      cluster,
      segment.url,
      mainTopics,
      mainGroup,
      args['cpu-prof'],
    );
    let phase = await measureConnector(
      'connector → Segment',
      connector,
      { ...pids, connector: connector.pid },
      rawTopic,
      kafka,
      connector.runningAt,
    );
    const mainDrain = phase.drain;
    phases.push(phase);
    const mainStats = await segmentStats(segment.url);
    const mainNormalized = await recordCount(kafka, mainTopics.NORMALIZED_TOPIC);
    const mainDeadLetters = await recordCount(kafka, mainTopics.DEAD_LETTER_TOPIC);
    const mainPeakMb = memoryOf(connector.pid)?.peakMb;
    const mainStopped = await connector.stop();

    // 4. Segment down: a fresh group, every request answered 503; then Segment comes back.
    await postJson(`${segment.url}/_local/reset`, 'POST');
    await postJson(`${segment.url}/_local/faults`, 'POST', { failNext: { count: 1_000_000, status: 503 } });
    const downTopics = runTopics('run2');
    const downConnector = await startConnectorChild(cluster, segment.url, downTopics, topic('connector-2'));
    const down = await segmentDown(kafka, segment.url, downConnector, rawTopic);
    await postJson(`${segment.url}/_local/faults`, 'DELETE');
    phase = await measureConnector(
      'connector catching up after outage',
      downConnector,
      { ...pids, connector: downConnector.pid },
      rawTopic,
      kafka,
      performance.now(),
    );
    phases.push(phase);
    const downStats = await segmentStats(segment.url);
    const downNormalized = await recordCount(kafka, downTopics.NORMALIZED_TOPIC);
    const downDeadLetters = await recordCount(kafka, downTopics.DEAD_LETTER_TOPIC);
    const downPeakMb = memoryOf(downConnector.pid)?.peakMb;
    const downStopped = await downConnector.stop();
    const segmentPeakMb = memoryOf(segment.pid)?.peakMb;
    await segment.stop();
    const benchPeakMb = memoryOf('self')?.peakMb;

    printPhases(phases);
    console.log(
      `connector run 1: stopped with ${mainStopped}; ${connector.warnings()} warn/error log lines; ` +
        `Segment: ${describeStats(mainStats)}; normalized ${mainNormalized}, dead letters ${mainDeadLetters}`,
    );
    for (const line of connector.lastProblems()) console.log(`  ${line}`);
    console.log(
      `connector run 2: stopped with ${downStopped}; ${downConnector.warnings()} warn/error log lines ` +
        `(retries while Segment was down); Segment after the outage: ${describeStats(downStats)}; ` +
        `normalized ${downNormalized}, dead letters ${downDeadLetters}`,
    );
    console.log(
      `Segment down ${down.seconds.toFixed(0)} s: RSS every 1 s ${down.rssMb.map((mb) => mb.toFixed(0)).join(' ')} MB; ` +
        `committed during the outage: ${down.committed}; 503 answers: ${down.refused}`,
    );
    if (args['cpu-prof']) console.log(`connector CPU profile (run 1): ${connector.profileDir}`);

    const delivered1 = mainDrain.complete && mainStats.distinctMessageIds >= total && mainNormalized >= total;
    const delivered2 =
      phase.drain.complete && downStats.distinctMessageIds >= total && downNormalized >= total;
    const lost =
      (mainDrain.complete && (mainStats.distinctMessageIds < total || mainNormalized < total)) ||
      (phase.drain.complete && (downStats.distinctMessageIds < total || downNormalized < total));
    printTargets(phases, {
      total,
      connectorPeakMb: Math.max(mainPeakMb ?? 0, downPeakMb ?? 0),
      segmentPeakMb,
      benchPeakMb,
      down,
      delivered1,
      delivered2,
      exactlyOnce:
        mainStats.eventsReceived === total &&
        mainStats.distinctMessageIds === total &&
        downStats.distinctMessageIds === total,
    });
    console.log(`total ${((performance.now() - startedAt) / 1000).toFixed(1)} s`);
    return lost ? 1 : 0;
  } finally {
    await kafka.close();
  }
}

/** Mailjet's samples, each with a recipient and MessageID of its own, as the ingress would store them. */
function rawEvents(count: number): MailjetEventRaw[] {
  const samples = Object.values(mailjetSamples);
  const receivedAt = Date.now();
  return Array.from({ length: count }, (_, i) => {
    const text = (samples[i % samples.length] as string)
      .replace(/"email":"[^"]*"/, `"email":"recipient-${i % 50_000}@example.com"`)
      .replace(/"MessageID":\d+/, `"MessageID":${19421777835146490n + BigInt(i)}`)
      .replace(/"mj_message_id":"\d+"/, `"mj_message_id":"${19421777835146490n + BigInt(i)}"`);
    const event = readWebhookBody(Buffer.from(text)).accepted[0];
    if (!event) throw new Error(`bench event not accepted by the ingress reader: ${text}`);
    return rawEventValue(event, { requestId: randomBytes(16).toString('hex'), receivedAt: receivedAt + i });
  });
}

/** N records, or what the producer sends in `--produce-seconds`, in batched sends from a few senders. */
async function fillRawTopic(
  kafka: KafkaClient,
  registry: ReturnType<typeof createSchemaRegistryClient>,
  rawTopic: string,
): Promise<{ acked: number; seconds: number; avgBytes: number }> {
  await kafka.ensureTopics([{ topic: rawTopic, partitions: PARTITIONS }]);
  const serializer = await registry.serializer(valueSubject(rawTopic), mailjetEventRawSchema);
  const events = rawEvents(wantedEvents);
  const producer = await kafka.producer({ idempotent: true });
  let next = 0;
  let acked = 0;
  let bytes = 0;
  const started = performance.now();
  const deadline = started + produceSeconds * 1000;
  const sender = async () => {
    while (next < events.length && performance.now() < deadline) {
      const records: OutgoingRecord[] = [];
      for (const event of events.slice(next, next + RECORDS_PER_SEND)) {
        const value = serializer.encode(event);
        bytes += value.length;
        records.push({ key: event.email, value });
      }
      next += records.length;
      await producer.send([{ topic: rawTopic, records }]);
      acked += records.length;
    }
  };
  try {
    await Promise.all(Array.from({ length: PRODUCE_SENDERS }, sender));
  } finally {
    await producer.disconnect();
  }
  return { acked, seconds: (performance.now() - started) / 1000, avgBytes: bytes / Math.max(1, next) };
}

/**
 * Polls the group's committed offsets until they reach `end` on every partition. The steady rate counts
 * from the first commit seen, so joining the group and the first fetch are reported apart.
 */
async function waitDrained(
  kafka: KafkaClient,
  groupId: string,
  topic: string,
  end: Map<number, string>,
  started: number,
): Promise<Drain> {
  let first: { at: number; committed: number } | undefined;
  const deadline = started + DRAIN_TIMEOUT_MS;
  for (;;) {
    const offsets = await kafka.committedOffsets(groupId, topic);
    const committed = committedSum(offsets);
    const now = performance.now();
    if (!first && committed > 0) first = { at: now, committed };
    const complete = [...end].every(
      ([partition, offset]) => Number(offsets.get(partition) ?? -1) >= Number(offset),
    );
    if (complete || now > deadline) {
      // When the first and the last look are the same poll, everything was done within one interval.
      const from = first && first.at < now ? first : { at: now - POLL_MS, committed: 0 };
      return {
        events: committed - from.committed,
        steadySeconds: (now - from.at) / 1000,
        firstCommitSeconds: ((first?.at ?? now) - started) / 1000,
        totalSeconds: (now - started) / 1000,
        complete,
      };
    }
    await sleep(POLL_MS);
  }
}

function committedSum(offsets: Map<number, string>): number {
  let total = 0;
  for (const offset of offsets.values()) if (Number(offset) > 0) total += Number(offset);
  return total;
}

interface ChildHandle {
  pid: number;
  child: ChildProcess;
  exited: Promise<string>;
  /** SIGTERM, as an orchestrator would; resolves with how it ended (SIGKILL after 30 s). */
  stop(): Promise<string>;
}

function spawnChild(argv: string[], env: NodeJS.ProcessEnv): ChildHandle {
  const child = spawn(process.execPath, argv, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env });
  children.add(child);
  const exited = once(child, 'exit').then(([code, signal]) => (signal ? `signal ${signal}` : `exit ${code}`));
  return {
    pid: child.pid as number,
    child,
    exited,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill('SIGTERM');
      const timeout = sleep(30_000, undefined, { ref: false }).then(() => 'timeout' as const);
      const how = await Promise.race([exited, timeout]);
      if (how !== 'timeout') return how;
      child.kill('SIGKILL');
      return `SIGKILL after 30 s (${await exited})`;
    },
  };
}

/** Resolves with what `parse` finds in a line of the child's stdout; fails if the child ends first. */
function waitForLine<T>(
  handle: ChildHandle,
  what: string,
  parse: (line: string) => T | undefined,
  onLine: (line: string) => void = () => {},
): Promise<T> {
  const stderr: string[] = [];
  createInterface({ input: handle.child.stderr as NodeJS.ReadableStream }).on('line', (line) => {
    stderr.push(line);
    if (stderr.length > 20) stderr.shift();
  });
  // The pipe must be read to the end, or the child blocks on a full pipe while it logs.
  const lines = createInterface({ input: handle.child.stdout as NodeJS.ReadableStream });
  const found = new Promise<T>((resolve) => {
    lines.on('line', (line) => {
      onLine(line);
      const value = parse(line);
      if (value !== undefined) resolve(value);
    });
  });
  return Promise.race([
    found,
    handle.exited.then((how) => {
      throw new Error(`${what} ended (${how}) before it was ready:\n${stderr.join('\n')}`);
    }),
    sleep(60_000, undefined, { ref: false }).then(() => {
      throw new Error(`${what} was not ready within 60 s:\n${stderr.join('\n')}`);
    }),
  ]);
}

async function startSegmentChild(maxMessageIds: number): Promise<ChildHandle & { url: string }> {
  const handle = spawnChild(['bench/segment-runner.ts', WRITE_KEY, String(maxMessageIds)], {
    PATH: process.env.PATH,
    NODE_OPTIONS: deployedNodeOptions,
    ...deployedMalloc,
  });
  const url = await waitForLine(handle, 'the Segment server child', (line) => {
    try {
      return (JSON.parse(line) as { url?: string }).url;
    } catch {
      return undefined;
    }
  });
  return { ...handle, url };
}

interface ConnectorChild extends ChildHandle {
  port: number;
  groupId: string;
  /** performance.now() when it logged "connector running" (joined the group, fetching). */
  runningAt: number;
  profileDir: string | undefined;
  warnings(): number;
  lastProblems(): string[];
}

/** `bin/mailjet-connector.ts connector` in a child process, with topics and a group of its own. */
async function startConnectorChild(
  cluster: Stack,
  segmentUrl: string,
  topics: Record<string, string>,
  groupId: string,
  profile = false,
): Promise<ConnectorChild> {
  const profileDir = profile ? mkdtempSync(join(tmpdir(), 'connector-profile-')) : undefined;
  const handle = spawnChild(
    [
      ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
      '--disable-warning=TimeoutNegativeWarning',
      'bin/mailjet-connector.ts',
      'connector',
    ],
    {
      PATH: process.env.PATH,
      LOG_LEVEL: 'info',
      KAFKA_BROKERS: cluster.brokers.join(','),
      SCHEMA_REGISTRY_URL: cluster.registryUrl,
      SEGMENT_WRITE_KEY: WRITE_KEY,
      SEGMENT_ENDPOINT: segmentUrl,
      CONNECTOR_HOST: '127.0.0.1',
      CONNECTOR_PORT: '0',
      CONNECTOR_GROUP_ID: groupId,
      TOPIC_PARTITIONS: String(PARTITIONS),
      ...topics,
      ...(args['child-node-options'] ? { NODE_OPTIONS: args['child-node-options'] } : {}),
      ...deployedMalloc,
    },
  );
  let warnings = 0;
  const problems: string[] = [];
  const port = await waitForLine(
    handle,
    'the connector child',
    (line) => {
      try {
        const entry = JSON.parse(line) as { msg?: string; port?: number };
        return entry.msg === 'connector running' && typeof entry.port === 'number' ? entry.port : undefined;
      } catch {
        return undefined;
      }
    },
    (line) => {
      if (/"level":"(warn|error|fatal)"/.test(line)) {
        warnings++;
        problems.push(line.slice(0, 300));
        if (problems.length > 3) problems.shift();
      }
    },
  );
  return {
    ...handle,
    port,
    groupId,
    runningAt: performance.now(),
    profileDir,
    warnings: () => warnings,
    lastProblems: () => problems,
  };
}

/** Until the connector's group committed the whole raw topic, with its CPU, memory and batch latency. */
async function measureConnector(
  name: string,
  connector: ConnectorChild,
  pids: Pids,
  rawTopic: string,
  kafka: KafkaClient,
  started: number,
): Promise<Phase> {
  const end = await endOffsetsOf(kafka, rawTopic);
  const before = await batchHistogram(connector.port);
  const cpu = cpuMeter(pids);
  const memory = sampleMemory(
    Object.fromEntries(
      Object.entries(pids).filter(([label]) => ['bench', 'connector', 'segment'].includes(label)),
    ),
  );
  const heapSamples = sampleHeap(connector.port);
  const drain = await waitDrained(kafka, connector.groupId, rawTopic, end, started);
  const cpuShares = cpu.stop();
  const peaks = memory.stop();
  const after = await batchHistogram(connector.port);
  const heap = await heapSamples.stop();
  const batches =
    after && before ? after.map(([le, count], i) => [le, count - (before[i]?.[1] ?? 0)] as const) : after;
  return {
    name,
    drain,
    batchP50Ms: quantileMs(batches, 0.5),
    batchP99Ms: quantileMs(batches, 0.99),
    cpuUsPerEvent:
      ((cpuShares.get('connector') ?? Number.NaN) * drain.totalSeconds * 1e6) / sum(end.values()),
    connectorRssMb: peaks.get('connector'),
    connectorHeapMb: heap,
    segmentRssMb: peaks.get('segment'),
    benchRssMb: peaks.get('bench'),
    cpu: cpuShares,
  };
}

interface Outage {
  seconds: number;
  rssMb: number[];
  minMb: number;
  maxMb: number;
  slopeMbPer10s: number;
  /** Over the second half of the window, once the heap reached its working size. */
  lateSlopeMbPer10s: number;
  committed: number;
  refused: number;
}

/** While Segment answers 503: the connector's RSS every second, from its first refused request on. */
async function segmentDown(
  kafka: KafkaClient,
  segmentUrl: string,
  connector: ConnectorChild,
  rawTopic: string,
): Promise<Outage> {
  const refused = async () => (await segmentStats(segmentUrl)).responsesByStatus['503'] ?? 0;
  const waitUntil = performance.now() + 30_000;
  while ((await refused()) === 0 && performance.now() < waitUntil) await sleep(POLL_MS);
  const started = performance.now();
  const rssMb: number[] = [];
  const times: number[] = [];
  while (performance.now() - started < downSeconds * 1000) {
    const rss = memoryOf(connector.pid)?.rssMb;
    if (rss !== undefined) {
      rssMb.push(rss);
      times.push((performance.now() - started) / 1000);
    }
    await sleep(1000);
  }
  return {
    seconds: (performance.now() - started) / 1000,
    rssMb,
    minMb: Math.min(...rssMb),
    maxMb: Math.max(...rssMb),
    slopeMbPer10s: slope(times, rssMb) * 10,
    lateSlopeMbPer10s: slope(times.slice(times.length >> 1), rssMb.slice(rssMb.length >> 1)) * 10,
    committed: committedSum(await kafka.committedOffsets(connector.groupId, rawTopic)),
    refused: await refused(),
  };
}

/** Least-squares slope of y over x. */
function slope(x: number[], y: number[]): number {
  const n = x.length;
  if (n < 2) return 0;
  const mx = sum(x) / n;
  const my = sum(y) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += ((x[i] as number) - mx) * ((y[i] as number) - my);
    den += ((x[i] as number) - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** Cumulative buckets [upper bound s, count] of mailjet_connector_batch_seconds from the connector's /metrics. */
async function batchHistogram(port: number): Promise<(readonly [number, number])[] | undefined> {
  try {
    const page = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const buckets = [
      ...page.matchAll(/^mailjet_connector_batch_seconds_bucket\{le="([^"]+)"\} (\S+)$/gm),
    ].map(([, le, count]) => [le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le), Number(count)] as const);
    return buckets.length > 0 ? buckets : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Peaks of the connector's used and total V8 heap and external memory, MB, from the Node metrics on its
 * /metrics every 0.5 s: with the peak RSS they tell the heap apart from Buffers and the allocator.
 */
function sampleHeap(port: number): { stop(): Promise<string | undefined> } {
  const names = [
    'nodejs_heap_size_used_bytes',
    'nodejs_heap_size_total_bytes',
    'nodejs_external_memory_bytes',
  ];
  const peaks = names.map(() => Number.NaN);
  const sample = async () => {
    try {
      const page = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      names.forEach((name, i) => {
        const mb = Number(new RegExp(`^mailjet_connector_${name} (\\S+)`, 'm').exec(page)?.[1]) / 2 ** 20;
        if (!(mb <= (peaks[i] as number))) peaks[i] = mb;
      });
    } catch {
      // The connector is busy or stopping: the next sample counts.
    }
  };
  let sampling = sample();
  const timer = setInterval(() => {
    sampling = sampling.then(sample);
  }, 500);
  return {
    async stop() {
      clearInterval(timer);
      await sampling.then(sample);
      return peaks.some(Number.isNaN) ? undefined : peaks.map((mb) => mb.toFixed(0)).join('/');
    },
  };
}

/** Prometheus histogram_quantile: linear within the bucket holding the quantile, in ms. */
function quantileMs(buckets: (readonly [number, number])[] | undefined, q: number): number | undefined {
  if (!buckets) return undefined;
  const total = buckets[buckets.length - 1]?.[1] ?? 0;
  if (total === 0) return undefined;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const [le, count] of buckets) {
    if (count >= rank) {
      if (!Number.isFinite(le)) return lowerBound * 1000;
      return (
        (lowerBound + ((le - lowerBound) * (rank - lowerCount)) / Math.max(1, count - lowerCount)) * 1000
      );
    }
    lowerBound = le;
    lowerCount = count;
  }
  return undefined;
}

async function segmentStats(url: string): Promise<SegmentStats> {
  return (await (await fetch(`${url}/_local/stats`)).json()) as SegmentStats;
}

async function postJson(url: string, method: 'POST' | 'DELETE', body?: unknown): Promise<void> {
  const response = await fetch(url, {
    method,
    ...(body === undefined
      ? {}
      : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${url} answered ${response.status}: ${text}`);
}

function describeStats(stats: SegmentStats): string {
  const statuses = Object.entries(stats.responsesByStatus)
    .map(([status, count]) => `${count}×${status}`)
    .join(' ');
  return (
    `${stats.eventsReceived} events received, ${stats.distinctMessageIds} distinct messageIds, ` +
    `${stats.duplicates} duplicates, ${stats.eventsRejected} rejected, ${stats.requests} requests (${statuses})` +
    (stats.messageIdsForgotten > 0 ? `, ${stats.messageIdsForgotten} ids forgotten` : '')
  );
}

async function endOffsetsOf(kafka: KafkaClient, topic: string): Promise<Map<number, string>> {
  return kafka.endOffsets(topic);
}

async function recordCount(kafka: KafkaClient, topic: string): Promise<number> {
  try {
    return sum([...(await kafka.endOffsets(topic)).values()].map(Number));
  } catch {
    return 0; // Never created: the connector wrote nothing there.
  }
}

function sum(values: Iterable<number | string>): number {
  let total = 0;
  for (const value of values) total += Number(value);
  return total;
}

function printMachine(): void {
  const cores = cpus();
  console.log(
    `machine: ${cores.length} cpus (${cores[0]?.model.trim() ?? 'unknown'}), ${(totalmem() / 2 ** 30).toFixed(1)} GB, ` +
      `load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}; node ${process.version}`,
  );
  console.log(
    `run: ${wantedEvents} events (at most ${produceSeconds} s of producing), ${PARTITIONS} partitions, ` +
      `${PARTITIONS_CONCURRENTLY} partitions concurrently, Segment down for ${downSeconds} s; ` +
      `connector NODE_OPTIONS "${args['child-node-options']}", ` +
      Object.entries(deployedMalloc)
        .map(([name, value]) => `${name}=${value}`)
        .join(' '),
  );
}

const fmt = (value: number | undefined, digits = 1) =>
  value === undefined || Number.isNaN(value) ? 'n/a' : value.toFixed(digits);
const rate = (phase: Phase | undefined) => (phase ? phase.drain.events / phase.drain.steadySeconds : 0);

function printPhases(phases: Phase[]): void {
  const rawCount = rate(phases.find((p) => p.name === 'raw consume, count only'));
  const rawDecode = rate(phases.find((p) => p.name === 'raw consume + Avro decode'));
  const header = [
    'phase',
    'events/s',
    '/ raw',
    '/ raw+decode',
    'CPU µs/event',
    'to 1st commit s',
    'total s',
    'batch p50/p99 ms',
    'RSS MB connector/segment/bench',
    'connector peak heap used/total/ext MB',
    'CPU cores: bench/connector/segment/broker/registry/all',
  ];
  const rows = phases.map((p) => [
    p.name + (p.drain.complete ? '' : ' (INCOMPLETE)'),
    rate(p).toFixed(0),
    (rate(p) / rawCount).toFixed(2),
    (rate(p) / rawDecode).toFixed(2),
    fmt(p.cpuUsPerEvent, 1),
    p.drain.firstCommitSeconds.toFixed(1),
    p.drain.totalSeconds.toFixed(1),
    `${fmt(p.batchP50Ms, 0)}/${fmt(p.batchP99Ms, 0)}`,
    [p.connectorRssMb, p.segmentRssMb, p.benchRssMb].map((mb) => fmt(mb, 0)).join('/'),
    p.connectorHeapMb ?? 'n/a',
    ['bench', 'connector', 'segment', 'broker', 'registry', 'machine']
      .map((label) => fmt(p.cpu.get(label), 2))
      .join('/'),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i < 1 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ');
  console.log();
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
  console.log();
}

function printTargets(
  phases: Phase[],
  totals: {
    total: number;
    connectorPeakMb: number | undefined;
    segmentPeakMb: number | undefined;
    benchPeakMb: number | undefined;
    down: Outage;
    delivered1: boolean;
    delivered2: boolean;
    exactlyOnce: boolean;
  },
): void {
  const find = (name: string) => phases.find((p) => p.name === name);
  const connector = rate(find('connector → Segment'));
  const vsRaw = connector / rate(find('raw consume, count only'));
  const vsDecode = connector / rate(find('raw consume + Avro decode'));
  const { down } = totals;
  const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');
  const rows: [string, string, boolean][] = [
    [
      `connector / raw consume (count only) ≥ ${TARGETS.minRatio}`,
      vsRaw.toFixed(2),
      vsRaw >= TARGETS.minRatio,
    ],
    [
      `connector / raw consume + Avro decode ≥ ${TARGETS.minRatio}`,
      vsDecode.toFixed(2),
      vsDecode >= TARGETS.minRatio,
    ],
    [
      `connector process peak RSS (VmHWM) ≤ ${TARGETS.maxRssMb} MB`,
      `${fmt(totals.connectorPeakMb, 0)} MB`,
      totals.connectorPeakMb !== undefined && totals.connectorPeakMb <= TARGETS.maxRssMb,
    ],
    [
      `Segment server process peak RSS (VmHWM) ≤ ${TARGETS.maxRssMb} MB`,
      `${fmt(totals.segmentPeakMb, 0)} MB`,
      totals.segmentPeakMb !== undefined && totals.segmentPeakMb <= TARGETS.maxRssMb,
    ],
    [
      // The first seconds hold the first fetches and the heap growing to its working size, and a GC may
      // fall anywhere in the window: buffering would keep growing through its second half too.
      `connector RSS flat while Segment is down: slope over the second half ≤ ${TARGETS.maxSlopeMbPer10s} MB per 10 s`,
      `${down.lateSlopeMbPer10s.toFixed(2)} MB/10 s (whole window ${down.slopeMbPer10s.toFixed(2)}; ` +
        `min ${down.minMb.toFixed(0)}, max ${down.maxMb.toFixed(0)} MB, ${down.rssMb.length} samples)`,
      down.rssMb.length >= 4 && down.lateSlopeMbPer10s <= TARGETS.maxSlopeMbPer10s,
    ],
    ['nothing committed while Segment is down', `${down.committed} committed`, down.committed === 0],
    [
      `run 1: all ${totals.total} events in Segment and the normalized topic, committed = end`,
      totals.delivered1 ? 'yes' : 'no',
      totals.delivered1,
    ],
    [
      'run 2: caught up after the outage, all delivered, committed = end',
      totals.delivered2 ? 'yes' : 'no',
      totals.delivered2,
    ],
    [
      'exactly once at Segment (received = distinct = N in run 1; distinct = N after the outage)',
      totals.exactlyOnce ? 'yes' : 'no',
      totals.exactlyOnce,
    ],
  ];
  const width = Math.max(...rows.map((r) => r[0].length));
  console.log('targets:');
  for (const [what, value, ok] of rows) console.log(`  ${verdict(ok)}  ${what.padEnd(width)}  ${value}`);
  console.log(
    `  info  ${'bench process (producer, baseline consumer) peak RSS'.padEnd(width)}  ${fmt(totals.benchPeakMb, 0)} MB`,
  );
}
