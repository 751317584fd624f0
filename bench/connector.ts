/**
 * The connector benchmark: how fast the normalizer, and the connector end to end, drain the raw topic
 * compared with the Kafka client consuming and producing the same records on its own, how much memory
 * they take, and whether memory stays flat while Segment is down (back-pressure, not buffering) while
 * the normalizer goes on. A script that prints figures, never a test:
 *
 *   node --disable-warning=TimeoutNegativeWarning bench/connector.ts [--events N] [--produce-seconds S]
 *     [--down-seconds S] [--cpu-prof] [--child-node-options="--max-semi-space-size=8"]
 *
 * --cpu-prof writes a V8 CPU profile of the normalizer child of phase 3 (path printed at the end).
 * The children (connectors, Segment server) run with the memory settings the launcher
 * (`./mailjet-connector`) and the Docker image give every process: NODE_OPTIONS=--max-semi-space-size=8,
 * MALLOC_ARENA_MAX=2, MALLOC_MMAP_THRESHOLD_=131072. `--child-node-options` replaces the Node options of
 * the connector children ("" for Node's defaults), and MALLOC_* variables of the bench's environment
 * replace the glibc ones, to try other settings.
 * Phases, on the local stack (or KAFKA_BROKERS/SCHEMA_REGISTRY_URL), all on topics of their own:
 * 1. fill a raw topic (6 partitions) with N Avro MailjetEventRaw records (or what `--produce-seconds`
 *    allows), each a Mailjet sample with a recipient and MessageID of its own;
 * 2. baseline: a consumer group of the project's Kafka client (core/kafka.ts, runBatches, a commit per
 *    batch, 1 MiB fetches) reads the whole topic and only counts; then again, also
 *    Avro-decoding every value; then also producing every record to a topic of its own (acks=all,
 *    committed after the ack): a passthrough, the normalizer's Kafka work without its mapping and
 *    transactions;
 * 3. the normalizer alone (`bin/mailjet-connector.ts normalizer`) in a child process: raw topic →
 *    normalized topic, exactly once, events/s until its group committed the raw topic's end;
 * 4. the connector (`connector`: normalizer and Segment sink in one process), delivering to the local
 *    Segment server in another child process: end to end, until the sink's group committed the end of
 *    the normalized topic; batch latency from its /metrics, what Segment received, the normalized count;
 * 4b. the two stages as two processes (`normalizer` and `segment-sink` of one connector group), as the
 *    Helm chart runs them, delivering to the same Segment server: end to end, and each one's peak RSS;
 * 5. Segment down: a second connector on a fresh group while the Segment server answers 503 to
 *    everything; its RSS is sampled every second, the normalizer must go on and the sink commit nothing;
 *    then Segment comes back and the sink must catch up.
 * Rates are "steady": from the first commit the poller saw to the last, so process start and group
 * join (shown apart) do not count; end to end, from the normalizer's first commit to the sink's last.
 * After the phases, the normalizer's own steps (decode, map, encode: bench/stage-costs.ts) are timed on
 * one core without Kafka, against the CPU per event one core has at the target rate.
 * Every event must reach Segment exactly once in distinct messageIds and the normalized topic once (read
 * read_committed); the run fails (exit 1) only if events were lost. Targets missed are printed as MISS
 * and still exit 0.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConnectorConfig, segmentSinkGroupId } from '../connector/config.ts';
import { createBatchingProducer } from '../core/batching-producer.ts';
import { createKafkaClient, type KafkaClient } from '../core/kafka.ts';
import { createSchemaRegistryClient } from '../core/schema-registry.ts';
import { type MailjetEventRaw, mailjetEventRawSchema } from '../schemas/index.ts';
import type { Stack } from '../stack/local-stack.ts';
import {
  benchLogger,
  checkFlags,
  committedRecordCount,
  committedSum,
  type Drain,
  fillRawTopic,
  fmt,
  type Outage,
  type Pids,
  parseFlags,
  printMachine,
  printTable,
  printTargets,
  runBench,
  sampleOutage,
  secondsSinceStart,
  startBenchStack,
  sum,
  waitDrained,
  writeResults,
} from './harness.ts';
import { cpuMeter, memoryOf, sampleMemory } from './process-stats.ts';
import { mailjetRawEvents } from './raw-events.ts';
import {
  deployedMalloc,
  deployedNodeOptions,
  describeDeployedMalloc,
  gaugeIn,
  metricsPage,
  type SegmentStats,
  type ServiceChild,
  sampleService,
  segmentStats,
  serviceArgs,
  startSegmentChild,
  startService,
} from './service-child.ts';
import { measureStageCosts, NORMALIZER_STEPS, type StageCosts } from './stage-costs.ts';

const TARGETS = {
  /** Normalizer events/s over the passthrough's (consume + decode + produce), same topic, same client. */
  minRatio: 0.7,
  /** Peak resident memory of each Node process. */
  maxRssMb: 200,
  /** RSS trend while Segment is down, MB per 10 s: flat means back-pressure, not buffering. */
  maxSlopeMbPer10s: 2,
};
const PARTITIONS = 6;
const PRODUCE_SENDERS = 4;
const RECORDS_PER_SEND = 1000;
const WRITE_KEY = 'bench-write-key';
/** The events and rounds of the normalizer's own steps measured on one core (bench/stage-costs.ts). */
const STAGE_COST_EVENTS = 20_000;
const STAGE_COST_ROUNDS = 5;
/** How long draining the topic may take before the phase is reported as incomplete. */
const DRAIN_TIMEOUT_MS = 120_000;

const USAGE =
  'bench/connector.ts [--events 1000..5000000] [--produce-seconds S] [--down-seconds 5..600] ' +
  '[--partitions-concurrently 1..6] [--cpu-prof] [--child-node-options "…"]';
const { values: args } = parseFlags(USAGE, {
  options: {
    events: { type: 'string', default: '200000' },
    'produce-seconds': { type: 'string', default: '15' },
    // A minute: the RSS of a process holding still rises between major GCs and falls at each, and a
    // shorter window can hold only the rise, which reads as growth.
    'down-seconds': { type: 'string', default: '60' },
    /** CONNECTOR_PARTITIONS_CONCURRENTLY of the connector children (its default); the baseline uses the same. */
    'partitions-concurrently': {
      type: 'string',
      default: String(loadConnectorConfig({}).CONNECTOR_PARTITIONS_CONCURRENTLY),
    },
    'cpu-prof': { type: 'boolean', default: false },
    /** V8/Node flags for the connector children only, instead of the launcher's. */
    'child-node-options': { type: 'string', default: deployedNodeOptions },
  },
});
const wantedEvents = Number(args.events);
const produceSeconds = Number(args['produce-seconds']);
const downSeconds = Number(args['down-seconds']);
const PARTITIONS_CONCURRENTLY = Number(args['partitions-concurrently']);
checkFlags(USAGE, [
  Number.isInteger(wantedEvents) && wantedEvents >= 1000 && wantedEvents <= 5_000_000,
  produceSeconds > 0 && produceSeconds <= 600,
  downSeconds >= 5 && downSeconds <= 600,
  Number.isInteger(PARTITIONS_CONCURRENTLY) && PARTITIONS_CONCURRENTLY >= 1 && PARTITIONS_CONCURRENTLY <= 6,
]);

interface Phase {
  name: string;
  drain: Drain;
  batchP50Ms?: number | undefined;
  batchP99Ms?: number | undefined;
  connectorRssMb?: number | undefined;
  /** The Segment sink's own process, when the stages run as two (the chart's shape). */
  sinkRssMb?: number | undefined;
  /** The connector's memory (its /metrics, every 0.5 s): peaks of V8 heap used / total and external, MB. */
  connectorHeapMb?: string | undefined;
  segmentRssMb?: number | undefined;
  benchRssMb?: number | undefined;
  cpu: Map<string, number>;
  /** CPU of the processes doing the work (bench, or connector and sink) per committed event, µs: robust to noise. */
  cpuUsPerEvent?: number | undefined;
}

runBench({ stopping: 'the connector, the Segment server and the stack', main });

async function main(): Promise<number> {
  printMachine(
    `${wantedEvents} events (at most ${produceSeconds} s of producing), ${PARTITIONS} partitions, ` +
      `${PARTITIONS_CONCURRENTLY} partitions concurrently, Segment down for ${downSeconds} s; ` +
      `connector NODE_OPTIONS "${args['child-node-options']}", ${describeDeployedMalloc()}`,
  );
  const { stack: cluster, jvms } = await startBenchStack();

  const kafka = createKafkaClient({
    brokers: cluster.brokers,
    clientId: 'bench-connector',
    logger: benchLogger,
  });
  const registry = createSchemaRegistryClient(cluster.registryUrl);
  const suffix = randomBytes(4).toString('hex');
  const topic = (name: string) => `bench.connector.${suffix}.${name}`;
  const rawTopic = topic('raw');
  try {
    // 1. The raw topic: N records, or what the producer sends in `--produce-seconds`.
    await kafka.ensureTopics([{ topic: rawTopic, partitions: PARTITIONS }]);
    const produced = await fillRawTopic(
      kafka,
      registry,
      rawTopic,
      [{ events: mailjetRawEvents(wantedEvents) }],
      {
        senders: PRODUCE_SENDERS,
        perSend: RECORDS_PER_SEND,
        seconds: produceSeconds,
      },
    );
    const end = await kafka.endOffsets(rawTopic);
    const total = sum(end.values());
    console.log(
      `raw topic ${rawTopic}: ${total} records (${produced.acked} acked) in ${produced.seconds.toFixed(1)} s, ` +
        `${(produced.acked / produced.seconds).toFixed(0)} events/s produced, ${produced.avgBytes.toFixed(0)} B/value`,
    );
    if (total < produced.acked) throw new Error(`the raw topic holds ${total} of ${produced.acked} records`);

    // 2. Baseline: the Kafka client alone, counting; then also decoding; then also producing every
    // record again (acks=all, committed after the ack): the Kafka work of the connector without its
    // mapping and Segment, a passthrough to compare it with besides the bare consume.
    const phases: Phase[] = [];
    const decode = registry.decoder<MailjetEventRaw>(mailjetEventRawSchema);
    const passthroughTopic = topic('baseline-passthrough-out');
    await kafka.ensureTopics([{ topic: passthroughTopic, partitions: PARTITIONS }]);
    const passthroughProducer = await kafka.producer({ idempotent: true });
    const passthrough = createBatchingProducer(passthroughProducer);
    for (const mode of ['count', 'decode', 'passthrough'] as const) {
      const decoding = mode !== 'count';
      const groupId = topic(`baseline-${mode}`);
      // 1 MiB fetches, not the connector's 256 KiB (core/kafka.ts): the raw client at its fastest (larger
      // fetches count faster), so the ratios err low.
      const consumer = await kafka.consumer({ groupId, maxBytesPerPartition: 1024 * 1024 });
      const cpu = cpuMeter({ bench: 'self', ...jvms });
      const memory = sampleMemory({ bench: 'self' });
      const started = performance.now();
      await consumer.subscribe([rawTopic], { fromBeginning: true });
      let counted = 0;
      await consumer.runBatches(
        async (batch) => {
          if (decoding) for (const record of batch.records) await decode(record.value as Buffer);
          if (mode === 'passthrough') {
            const records = batch.records.map((record) => ({ key: record.key, value: record.value }));
            await passthrough.send([{ topic: passthroughTopic, records }]);
          }
          counted += batch.records.length;
        },
        { partitionsConcurrently: PARTITIONS_CONCURRENTLY },
      );
      const drain = await waitDrained(kafka, {
        groupId,
        topic: rawTopic,
        end,
        started,
        timeoutMs: DRAIN_TIMEOUT_MS,
      });
      const cpuShares = cpu.stop();
      await consumer.disconnect();
      phases.push({
        name: baselineNames[mode],
        drain,
        benchRssMb: memory.stop().get('bench'),
        cpu: cpuShares,
        cpuUsPerEvent: ((cpuShares.get('bench') ?? Number.NaN) * drain.totalSeconds * 1e6) / total,
      });
      if (counted < total) console.log(`  baseline handed over ${counted} of ${total} records`);
    }
    await passthroughProducer.disconnect();

    // 3. The normalizer alone: raw topic → normalized topic in transactions, no Segment.
    const runTopics = (run: string) => ({
      RAW_TOPIC: rawTopic,
      NORMALIZED_TOPIC: topic(`${run}.normalized`),
      DEAD_LETTER_TOPIC: topic(`${run}.dlq`),
      IDENTITY_TOPIC: topic(`${run}.identities`),
    });
    const normalizerTopics = runTopics('run0');
    const normalizer = await startConnectorChild('normalizer', {
      cluster,
      topics: normalizerTopics,
      groupId: topic('normalizer'),
      profile: args['cpu-prof'],
    });
    phases.push(
      await measureConnector(
        PHASES.normalizer,
        normalizer,
        { bench: 'self', ...jvms, connector: normalizer.pid },
        {
          kafka,
          rawTopic,
          started: normalizer.runningAt,
        },
      ),
    );
    const normalizerPeakMb = memoryOf(normalizer.pid)?.peakMb;
    const normalizerStopped = await normalizer.stop();
    const normalizerCount = await committedRecordCount(kafka, normalizerTopics.NORMALIZED_TOPIC);
    const normalizerDeadLetters = await committedRecordCount(kafka, normalizerTopics.DEAD_LETTER_TOPIC);

    // 4. The connector (both stages), delivering to the local Segment server; each in a process of its own.
    const segment = await startSegmentChild({
      writeKey: WRITE_KEY,
      maxMessageIds: total + 10_000,
      env: { PATH: process.env.PATH, NODE_OPTIONS: deployedNodeOptions, ...deployedMalloc },
    });
    console.log(`local Segment server: pid ${segment.pid}, ${segment.url}`);
    const pids: Pids = { bench: 'self', segment: segment.pid, ...jvms };

    const mainTopics = runTopics('run1');
    const connector = await startConnectorChild('connector', {
      cluster,
      segmentUrl: segment.url,
      topics: mainTopics,
      groupId: topic('connector-1'),
    });
    let phase = await measureConnector(
      PHASES.endToEnd,
      connector,
      { ...pids, connector: connector.pid },
      { kafka, rawTopic, started: connector.runningAt, normalizedTopic: mainTopics.NORMALIZED_TOPIC },
    );
    const mainDrain = phase.drain;
    phases.push(phase);
    const mainStats = await segmentStats(segment.url);
    const mainNormalized = await committedRecordCount(kafka, mainTopics.NORMALIZED_TOPIC);
    const mainDeadLetters = await committedRecordCount(kafka, mainTopics.DEAD_LETTER_TOPIC);
    const mainPeakMb = memoryOf(connector.pid)?.peakMb;
    const mainStopped = await connector.stop();

    // 4b. The two stages as two processes, as the chart runs them: a normalizer and a Segment sink of the
    // same connector group, each with a core of its own to take.
    await postJson(`${segment.url}/_local/reset`, 'POST');
    const splitTopics = runTopics('run3');
    const splitGroup = topic('connector-split');
    const splitNormalizer = await startConnectorChild('normalizer', {
      cluster,
      topics: splitTopics,
      groupId: splitGroup,
    });
    const splitSink = await startConnectorChild('segment-sink', {
      cluster,
      segmentUrl: segment.url,
      topics: splitTopics,
      groupId: splitGroup,
    });
    phases.push(
      await measureConnector(
        PHASES.twoProcesses,
        splitNormalizer,
        { ...pids, connector: splitNormalizer.pid, sink: splitSink.pid },
        {
          kafka,
          rawTopic,
          started: Math.max(splitNormalizer.runningAt, splitSink.runningAt),
          normalizedTopic: splitTopics.NORMALIZED_TOPIC,
        },
      ),
    );
    const splitStats = await segmentStats(segment.url);
    const splitNormalized = await committedRecordCount(kafka, splitTopics.NORMALIZED_TOPIC);
    const splitNormalizerPeakMb = memoryOf(splitNormalizer.pid)?.peakMb;
    const splitSinkPeakMb = memoryOf(splitSink.pid)?.peakMb;
    const splitStopped = [await splitNormalizer.stop(), await splitSink.stop()];

    // 5. Segment down: a fresh group, every request answered 503; then Segment comes back.
    await postJson(`${segment.url}/_local/reset`, 'POST');
    await postJson(`${segment.url}/_local/faults`, 'POST', { failNext: { count: 1_000_000, status: 503 } });
    const downTopics = runTopics('run2');
    const downConnector = await startConnectorChild('connector', {
      cluster,
      segmentUrl: segment.url,
      topics: downTopics,
      groupId: topic('connector-2'),
    });
    const down = await segmentDown(kafka, segment.url, downConnector, rawTopic, downTopics.NORMALIZED_TOPIC);
    await postJson(`${segment.url}/_local/faults`, 'DELETE');
    phase = await measureConnector(
      PHASES.catchingUp,
      downConnector,
      { ...pids, connector: downConnector.pid },
      { kafka, rawTopic, started: performance.now(), normalizedTopic: downTopics.NORMALIZED_TOPIC },
    );
    phases.push(phase);
    const downStats = await segmentStats(segment.url);
    const downNormalized = await committedRecordCount(kafka, downTopics.NORMALIZED_TOPIC);
    const downDeadLetters = await committedRecordCount(kafka, downTopics.DEAD_LETTER_TOPIC);
    const downPeakMb = memoryOf(downConnector.pid)?.peakMb;
    const downStopped = await downConnector.stop();
    const segmentPeakMb = memoryOf(segment.pid)?.peakMb;
    await segment.stop();
    const benchPeakMb = memoryOf('self')?.peakMb;

    // After the phases, so it takes no core from them: the normalizer's own steps on one core.
    const stageCosts = measureStageCosts(mailjetRawEvents(STAGE_COST_EVENTS), STAGE_COST_ROUNDS);
    printPhases(phases);
    console.log(
      `normalizer: stopped with ${normalizerStopped}; ${normalizer.warnings()} warn/error log lines; ` +
        `normalized ${normalizerCount}, dead letters ${normalizerDeadLetters} (read read_committed)`,
    );
    for (const line of normalizer.lastProblems()) console.log(`  ${line}`);
    console.log(
      `connector run 1: stopped with ${mainStopped}; ${connector.warnings()} warn/error log lines; ` +
        `Segment: ${describeStats(mainStats)}; normalized ${mainNormalized}, dead letters ${mainDeadLetters}`,
    );
    for (const line of connector.lastProblems()) console.log(`  ${line}`);
    console.log(
      `two processes: stopped with ${splitStopped.join(' and ')}; ` +
        `${splitNormalizer.warnings() + splitSink.warnings()} warn/error log lines; ` +
        `Segment: ${describeStats(splitStats)}; normalized ${splitNormalized}`,
    );
    for (const line of [...splitNormalizer.lastProblems(), ...splitSink.lastProblems()])
      console.log(`  ${line}`);
    console.log(
      `connector run 2: stopped with ${downStopped}; ${downConnector.warnings()} warn/error log lines ` +
        `(retries while Segment was down); Segment after the outage: ${describeStats(downStats)}; ` +
        `normalized ${downNormalized}, dead letters ${downDeadLetters}`,
    );
    console.log(
      `Segment down ${down.seconds.toFixed(0)} s: RSS every 1 s ${down.rssMb.map((mb) => mb.toFixed(0)).join(' ')} MB; ` +
        `the sink committed ${down.committed} during the outage; 503 answers: ${down.refused}; the normalizer ` +
        `had normalized ${down.normalized} of ${total} before the window`,
    );
    if (args['cpu-prof']) console.log(`normalizer CPU profile: ${normalizer.profileDir}`);

    const normalizedAlone = phases.find((p) => p.name === PHASES.normalizer)?.drain.complete === true;
    const delivered1 = mainDrain.complete && mainStats.distinctMessageIds >= total && mainNormalized >= total;
    const delivered2 =
      phase.drain.complete && downStats.distinctMessageIds >= total && downNormalized >= total;
    const splitDrain = phases.find((p) => p.name === PHASES.twoProcesses)?.drain;
    const splitDelivered =
      splitDrain?.complete === true && splitStats.distinctMessageIds >= total && splitNormalized >= total;
    const lost =
      (splitDrain?.complete === true && (splitStats.distinctMessageIds < total || splitNormalized < total)) ||
      (normalizedAlone && normalizerCount < total) ||
      (mainDrain.complete && (mainStats.distinctMessageIds < total || mainNormalized < total)) ||
      (phase.drain.complete && (downStats.distinctMessageIds < total || downNormalized < total));
    printConnectorTargets(phases, {
      total,
      normalizerPeakMb,
      normalized: normalizerCount,
      normalizedAlone,
      connectorPeakMb: Math.max(mainPeakMb ?? 0, downPeakMb ?? 0),
      segmentPeakMb,
      benchPeakMb,
      down,
      delivered1,
      delivered2,
      splitDelivered,
      splitPeakMb: [splitNormalizerPeakMb, splitSinkPeakMb],
      stageCosts,
      exactlyOnce:
        normalizerCount === total &&
        mainNormalized === total &&
        downNormalized === total &&
        mainStats.eventsReceived === total &&
        mainStats.distinctMessageIds === total &&
        splitNormalized === total &&
        splitStats.eventsReceived === total &&
        splitStats.distinctMessageIds === total &&
        downStats.distinctMessageIds === total,
    });
    writeResults('connector');
    console.log(`total ${secondsSinceStart()} s`);
    return lost ? 1 : 0;
  } finally {
    await kafka.close();
  }
}

interface ConnectorChild extends ServiceChild {
  groupId: string;
  profileDir: string | undefined;
}

/**
 * `bin/mailjet-connector.ts connector` (both stages) or `normalizer` in a child process, with topics and
 * a group of its own; ready (runningAt) when it logs "connector running": joined its groups, fetching.
 */
async function startConnectorChild(
  command: 'connector' | 'normalizer' | 'segment-sink',
  options: {
    cluster: Stack;
    segmentUrl?: string;
    topics: Record<string, string>;
    groupId: string;
    profile?: boolean;
  },
): Promise<ConnectorChild> {
  const { cluster, topics, groupId } = options;
  const profileDir = options.profile ? mkdtempSync(join(tmpdir(), 'connector-profile-')) : undefined;
  const child = await startService({
    what: `the ${command} child`,
    command: process.execPath,
    args: serviceArgs(command, profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
    env: {
      PATH: process.env.PATH,
      LOG_LEVEL: 'info',
      KAFKA_BROKERS: cluster.brokers.join(','),
      SCHEMA_REGISTRY_URL: cluster.registryUrl,
      ...(options.segmentUrl ? { SEGMENT_WRITE_KEY: WRITE_KEY, SEGMENT_ENDPOINT: options.segmentUrl } : {}),
      CONNECTOR_HOST: '127.0.0.1',
      CONNECTOR_PORT: '0',
      CONNECTOR_GROUP_ID: groupId,
      CONNECTOR_PARTITIONS_CONCURRENTLY: String(PARTITIONS_CONCURRENTLY),
      TOPIC_PARTITIONS: String(PARTITIONS),
      ...topics,
      ...(args['child-node-options'] ? { NODE_OPTIONS: args['child-node-options'] } : {}),
      ...deployedMalloc,
    },
    readyMessage: 'connector running',
    keepProblems: 3,
  });
  return { ...child, groupId, profileDir };
}

/**
 * Until the normalizer's group committed the whole raw topic and, with `normalizedTopic` (both stages),
 * the Segment sink's group the whole normalized topic as it then is; with CPU, memory and batch latency.
 * End to end, the steady rate runs from the normalizer's first commit to the sink's last.
 */
async function measureConnector(
  name: string,
  connector: ConnectorChild,
  pids: Pids,
  options: { kafka: KafkaClient; rawTopic: string; started: number; normalizedTopic?: string },
): Promise<Phase> {
  // `connector` is the normalizer (or both stages); a Segment sink in a process of its own is `sink`.
  const { kafka, rawTopic, started, normalizedTopic } = options;
  const end = await kafka.endOffsets(rawTopic);
  const before = await batchHistogram(connector.port);
  const cpu = cpuMeter(pids);
  const memory = sampleMemory(
    Object.fromEntries(
      Object.entries(pids).filter(([label]) => ['bench', 'connector', 'sink', 'segment'].includes(label)),
    ),
  );
  const serviceSamples = sampleService(connector.port, 'mailjet_connector');
  const normalized = await waitDrained(kafka, {
    groupId: connector.groupId,
    topic: rawTopic,
    end,
    started,
    timeoutMs: DRAIN_TIMEOUT_MS,
  });
  let drain = normalized;
  if (normalizedTopic) {
    // The normalized topic's end includes the transactions' markers, which the sink's group commits past.
    const delivered = await waitDrained(kafka, {
      groupId: segmentSinkGroupId({ CONNECTOR_GROUP_ID: connector.groupId }),
      topic: normalizedTopic,
      end: await kafka.endOffsets(normalizedTopic),
      started,
      timeoutMs: DRAIN_TIMEOUT_MS,
    });
    drain = {
      records: normalized.records,
      steadySeconds: delivered.totalSeconds - normalized.firstCommitSeconds,
      firstCommitSeconds: normalized.firstCommitSeconds,
      totalSeconds: delivered.totalSeconds,
      complete: normalized.complete && delivered.complete,
    };
  }
  const cpuShares = cpu.stop();
  const peaks = memory.stop();
  const after = await batchHistogram(connector.port);
  const service = await serviceSamples.stop();
  const batches =
    after && before ? after.map(([le, count], i) => [le, count - (before[i]?.[1] ?? 0)] as const) : after;
  return {
    name,
    drain,
    batchP50Ms: quantileMs(batches, 0.5),
    batchP99Ms: quantileMs(batches, 0.99),
    cpuUsPerEvent:
      (((cpuShares.get('connector') ?? Number.NaN) +
        (pids.sink === undefined ? 0 : (cpuShares.get('sink') ?? Number.NaN))) *
        drain.totalSeconds *
        1e6) /
      sum(end.values()),
    connectorRssMb: peaks.get('connector'),
    sinkRssMb: peaks.get('sink'),
    connectorHeapMb: service.heapMb,
    segmentRssMb: peaks.get('segment'),
    benchRssMb: peaks.get('bench'),
    cpu: cpuShares,
  };
}

/**
 * While Segment answers 503: the connector's RSS every second, from its first refused request on, once
 * its normalizer has normalized the whole raw topic (it never waits on Segment; the records held from
 * then on are the sink's alone).
 */
async function segmentDown(
  kafka: KafkaClient,
  segmentUrl: string,
  connector: ConnectorChild,
  rawTopic: string,
  normalizedTopic: string,
): Promise<Outage & { normalized: number }> {
  const normalizing = await waitDrained(kafka, {
    groupId: connector.groupId,
    topic: rawTopic,
    end: await kafka.endOffsets(rawTopic),
    started: performance.now(),
    timeoutMs: DRAIN_TIMEOUT_MS,
  });
  const normalized = normalizing.complete
    ? await committedRecordCount(kafka, normalizedTopic)
    : committedSum(await kafka.committedOffsets(connector.groupId, rawTopic));
  const sinkGroup = segmentSinkGroupId({ CONNECTOR_GROUP_ID: connector.groupId });
  const outage = await sampleOutage({
    pid: connector.pid,
    seconds: downSeconds,
    refused: async () => (await segmentStats(segmentUrl)).responsesByStatus['503'] ?? 0,
    committed: async () => committedSum(await kafka.committedOffsets(sinkGroup, normalizedTopic)),
    inFlight: () => inFlightRecords(connector.port),
  });
  return { ...outage, normalized };
}

/** mailjet_connector_in_flight_records from the connector's /metrics: records fetched, not yet committed. */
async function inFlightRecords(port: number): Promise<number | undefined> {
  const page = await metricsPage(port);
  const held = page === undefined ? Number.NaN : gaugeIn(page, 'mailjet_connector_in_flight_records');
  return Number.isNaN(held) ? undefined : held;
}

/** Cumulative buckets [upper bound s, count] of mailjet_connector_batch_seconds from the connector's /metrics. */
async function batchHistogram(port: number): Promise<(readonly [number, number])[] | undefined> {
  const page = await metricsPage(port);
  if (page === undefined) return undefined;
  const buckets = [...page.matchAll(/^mailjet_connector_batch_seconds_bucket\{le="([^"]+)"\} (\S+)$/gm)].map(
    ([, le, count]) => [le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le), Number(count)] as const,
  );
  return buckets.length > 0 ? buckets : undefined;
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

const baselineNames = {
  count: 'raw consume, count only',
  decode: 'raw consume + Avro decode',
  passthrough: 'raw consume + decode + produce',
} as const;

const PHASES = {
  normalizer: 'normalizer (raw → normalized, exactly once)',
  endToEnd: 'connector end to end → Segment',
  twoProcesses: 'normalizer + Segment sink, two processes → Segment',
  catchingUp: 'connector catching up after outage',
} as const;

const rate = (phase: Phase | undefined) => (phase ? phase.drain.records / phase.drain.steadySeconds : 0);

function printPhases(phases: Phase[]): void {
  const rawCount = rate(phases.find((p) => p.name === 'raw consume, count only'));
  const rawDecode = rate(phases.find((p) => p.name === 'raw consume + Avro decode'));
  printTable(
    [
      'phase',
      'events/s',
      '/ raw',
      '/ raw+decode',
      'CPU µs/event',
      'to 1st commit s',
      'total s',
      'batch p50/p99 ms',
      'RSS MB connector/sink/segment/bench',
      'connector peak heap used/total/ext MB',
      'CPU cores: bench/connector/sink/segment/broker/registry/all',
    ],
    phases.map((p) => [
      p.name + (p.drain.complete ? '' : ' (INCOMPLETE)'),
      rate(p).toFixed(0),
      (rate(p) / rawCount).toFixed(2),
      (rate(p) / rawDecode).toFixed(2),
      fmt(p.cpuUsPerEvent, 1),
      p.drain.firstCommitSeconds.toFixed(1),
      p.drain.totalSeconds.toFixed(1),
      `${fmt(p.batchP50Ms, 0)}/${fmt(p.batchP99Ms, 0)}`,
      [p.connectorRssMb, p.sinkRssMb, p.segmentRssMb, p.benchRssMb].map((mb) => fmt(mb, 0)).join('/'),
      p.connectorHeapMb ?? 'n/a',
      ['bench', 'connector', 'sink', 'segment', 'broker', 'registry', 'machine']
        .map((label) => fmt(p.cpu.get(label), 2))
        .join('/'),
    ]),
    1,
  );
}

/**
 * What the connector target asks of this machine: the cores that the connector, the Segment server and
 * the broker would take together at `wantedRate`, each at the CPU per event it took in `phase`. When the
 * two counterparts alone need more cores than the machine has, no connector reaches the target here.
 */
function targetBudget(phase: Phase | undefined, wantedRate: number): string {
  const perEvent = (label: string) => (phase?.cpu.get(label) ?? Number.NaN) / rate(phase);
  const cores = ['connector', 'segment', 'broker'].map((label) => perEvent(label) * wantedRate);
  const total = cores.reduce((a, b) => a + b, 0);
  return `${cores.map((c) => c.toFixed(1)).join(' + ')} = ${total.toFixed(1)} of ${availableParallelism()} at ${wantedRate.toFixed(0)} events/s`;
}

/**
 * The normalizer's own steps (bench/stage-costs.ts) against the CPU one core has per event at the wanted
 * rate: when they alone take more, no tuning of the Kafka side reaches the rate on one core.
 */
function ownSteps(costs: StageCosts, wantedRate: number, passthrough: Phase | undefined): string {
  const steps = NORMALIZER_STEPS.map((step) => costs.us.get(step) ?? Number.NaN);
  const sum = steps.reduce((a, b) => a + b, 0);
  return (
    `${steps.map((us) => us.toFixed(1)).join(' + ')} = ${sum.toFixed(1)} µs/event; one core at ` +
    `${wantedRate.toFixed(0)} events/s has ${(1e6 / wantedRate).toFixed(1)} µs/event; passthrough ` +
    `${fmt(passthrough?.cpuUsPerEvent, 1)} µs/event`
  );
}

function printConnectorTargets(
  phases: Phase[],
  totals: {
    total: number;
    normalizerPeakMb: number | undefined;
    normalized: number;
    normalizedAlone: boolean;
    connectorPeakMb: number | undefined;
    segmentPeakMb: number | undefined;
    benchPeakMb: number | undefined;
    down: Outage & { normalized: number };
    delivered1: boolean;
    delivered2: boolean;
    splitDelivered: boolean;
    /** Peak RSS of the normalizer and of the Segment sink when they run as two processes. */
    splitPeakMb: [number | undefined, number | undefined];
    stageCosts: StageCosts;
    exactlyOnce: boolean;
  },
): void {
  const find = (name: string) => phases.find((p) => p.name === name);
  const normalizer = rate(find(PHASES.normalizer));
  const endToEnd = rate(find(PHASES.endToEnd));
  const vsPassthrough = normalizer / rate(find(baselineNames.passthrough));
  const budget = targetBudget(
    find(PHASES.endToEnd),
    TARGETS.minRatio * rate(find(baselineNames.passthrough)),
  );
  const { down, total } = totals;
  const withinRss = (mb: number | undefined) => mb !== undefined && mb <= TARGETS.maxRssMb;
  printTargets(
    [
      [
        `normalizer / raw consume + decode + produce (passthrough) ≥ ${TARGETS.minRatio}`,
        vsPassthrough.toFixed(2),
        vsPassthrough >= TARGETS.minRatio,
      ],
      [
        'normalizer / raw consume (count only); / raw consume + Avro decode',
        `${(normalizer / rate(find(baselineNames.count))).toFixed(2)}; ${(normalizer / rate(find(baselineNames.decode))).toFixed(2)}`,
        'info',
      ],
      [
        'connector end to end (normalizer + Segment sink) / passthrough; / raw consume (count only)',
        `${(endToEnd / rate(find(baselineNames.passthrough))).toFixed(2)}; ${(endToEnd / rate(find(baselineNames.count))).toFixed(2)}`,
        'info',
      ],
      [
        "normalizer + Segment sink as two processes (the chart's shape) end to end / passthrough; / the connector process",
        `${(rate(find(PHASES.twoProcesses)) / rate(find(baselineNames.passthrough))).toFixed(2)}; ${(rate(find(PHASES.twoProcesses)) / endToEnd).toFixed(2)}`,
        'info',
      ],
      [
        `cores end to end at ${TARGETS.minRatio}× the passthrough, at this run's CPU per event: connector + Segment server + broker`,
        budget,
        'info',
      ],
      [
        `the normalizer's own steps on one core without Kafka (${NORMALIZER_STEPS.length}: decode + map + encode), ` +
          `against what one core has per event at ${TARGETS.minRatio}× the passthrough; the passthrough's client per event`,
        ownSteps(
          totals.stageCosts,
          TARGETS.minRatio * rate(find(baselineNames.passthrough)),
          find(baselineNames.passthrough),
        ),
        'info',
      ],
      [
        `normalizer alone: all ${total} events in the normalized topic once (read_committed), committed = end`,
        totals.normalizedAlone ? `${totals.normalized}` : 'incomplete',
        totals.normalizedAlone && totals.normalized === total,
      ],
      [
        `normalizer process peak RSS (VmHWM) ≤ ${TARGETS.maxRssMb} MB`,
        `${fmt(totals.normalizerPeakMb, 0)} MB`,
        withinRss(totals.normalizerPeakMb),
      ],
      [
        `connector process (both stages) peak RSS (VmHWM) ≤ ${TARGETS.maxRssMb} MB`,
        `${fmt(totals.connectorPeakMb, 0)} MB`,
        withinRss(totals.connectorPeakMb),
      ],
      [
        `normalizer and Segment sink as two processes: peak RSS (VmHWM) ≤ ${TARGETS.maxRssMb} MB each`,
        totals.splitPeakMb.map((mb) => `${fmt(mb, 0)} MB`).join(' / '),
        totals.splitPeakMb.every(withinRss),
      ],
      [
        `Segment server process peak RSS (VmHWM) ≤ ${TARGETS.maxRssMb} MB`,
        `${fmt(totals.segmentPeakMb, 0)} MB`,
        withinRss(totals.segmentPeakMb),
      ],
      [
        'the normalizer goes on while Segment is down: every event normalized',
        `${down.normalized} of ${total}`,
        down.normalized === total,
      ],
      [
        // The first seconds hold the first fetches and the heap growing to its working size, and a GC may
        // fall anywhere in the window: buffering would keep growing through its second half too.
        `connector RSS flat while Segment is down: slope over the second half ≤ ${TARGETS.maxSlopeMbPer10s} MB per 10 s`,
        `${down.lateSlopeMbPer10s.toFixed(2)} MB/10 s (whole window ${down.slopeMbPer10s.toFixed(2)}; ` +
          `min ${down.minMb.toFixed(0)}, max ${down.maxMb.toFixed(0)} MB, ${down.rssMb.length} samples)`,
        down.rssMb.length >= 4 && down.lateSlopeMbPer10s <= TARGETS.maxSlopeMbPer10s,
      ],
      [
        // The direct sign of back-pressure: the records held stay those of the sink's batches waiting for
        // Segment; nothing more is fetched. (The RSS can still creep while V8 and Buffers wait for
        // their next collection.)
        'records in flight constant while Segment is down (nothing more fetched)',
        down.inFlight.length === 0
          ? 'n/a'
          : `min ${Math.min(...down.inFlight)}, max ${Math.max(...down.inFlight)} over ${down.inFlight.length} samples`,
        down.inFlight.length >= 4 && Math.min(...down.inFlight) === Math.max(...down.inFlight),
      ],
      [
        'the Segment sink commits nothing while Segment is down',
        `${down.committed} committed`,
        down.committed === 0,
      ],
      [
        `run 1: all ${total} events in Segment and the normalized topic, committed = end`,
        totals.delivered1 ? 'yes' : 'no',
        totals.delivered1,
      ],
      [
        `two processes: all ${total} events in Segment and the normalized topic, committed = end`,
        totals.splitDelivered ? 'yes' : 'no',
        totals.splitDelivered,
      ],
      [
        'run 2: caught up after the outage, all delivered, committed = end',
        totals.delivered2 ? 'yes' : 'no',
        totals.delivered2,
      ],
      [
        'exactly once: the normalized topic holds N in each run; Segment received = distinct = N in run 1 and with two processes, distinct = N after the outage',
        totals.exactlyOnce ? 'yes' : 'no',
        totals.exactlyOnce,
      ],
    ],
    [['bench process (producer, baseline consumer) peak RSS', `${fmt(totals.benchPeakMb, 0)} MB`]],
  );
}
