/**
 * The replay benchmark: how fast `replay` goes through a time range in each of its modes (a dry run,
 * re-normalizing the raw topic, re-delivering the normalized topic to the local Segment server), compared
 * with the Kafka client reading the same offsets on its own, and how much memory it takes. A script that prints figures, never a test:
 *
 *   node --disable-warning=TimeoutNegativeWarning bench/replay.ts [--events N]
 *
 * Phases, on the local stack (or KAFKA_BROKERS/SCHEMA_REGISTRY_URL), all on topics of their own:
 * 1. fill a raw topic (6 partitions) with N Avro MailjetEventRaw records stamped within one hour, plus N/20
 *    before and N/20 after it, so the range is found by timestamp as a real replay's is; each a Mailjet
 *    sample with a recipient and MessageID of its own (as bench/connector.ts does);
 * 2. baseline: a consumer group of the project's Kafka client reads the same offsets (the replay's range,
 *    batch size and partitions at once, a commit per batch) and only counts;
 * 3. `bin/mailjet-connector.ts replay --dry-run` in a child process: read, decode, map, count;
 * 4. `bin/mailjet-connector.ts replay` in a child process: re-normalize the range into the normalized
 *    topic, which must then hold every event exactly once (read_committed);
 * 5. `bin/mailjet-connector.ts replay --redeliver` over what step 4 wrote, to the local Segment server
 *    (another child process); every event must arrive exactly once.
 * Rates are "steady": from the first committed batch to the range's end (for a replay: its first and
 * last JSON progress line), so process start, registry look-ups and the group join are shown apart as
 * "whole run". The run fails (exit 1) only if events were lost.
 */
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConnectorConfig } from '../connector/config.ts';
import { createKafkaClient, type KafkaClient } from '../core/kafka.ts';
import { createSchemaRegistryClient } from '../core/schema-registry.ts';
import type { ReplayProgress, ReplaySummary } from '../replay/progress.ts';
import { rangeTotals, resolveRange } from '../replay/range.ts';
import {
  benchLogger,
  checkFlags,
  committedRecordCount,
  fillRawTopic,
  fmt,
  parseFlags,
  printMachine,
  printTable,
  printTargets,
  type RawPart,
  runBench,
  secondsSinceStart,
  startBenchStack,
  writeResults,
} from './harness.ts';
import { memoryOf, sampleMemory } from './process-stats.ts';
import { mailjetRawEvents } from './raw-events.ts';
import { segmentStats, serviceArgs, spawnChild, startSegmentChild } from './service-child.ts';

const PARTITIONS = 6;
const PRODUCE_SENDERS = 4;
const RECORDS_PER_SEND = 1000;
/** The replay's own batch size (runReplay's default maxBatchRecords); the baseline uses the same. */
const MAX_BATCH_RECORDS = 500;
const WRITE_KEY = 'bench-write-key';
/** How long one phase may take before it is reported as incomplete. */
const PHASE_TIMEOUT_MS = 300_000;
const HOUR_MS = 3_600_000;

const USAGE = 'bench/replay.ts [--events 1000..5000000]';
const { values: args } = parseFlags(USAGE, { options: { events: { type: 'string', default: '100000' } } });
const wantedEvents = Number(args.events);
checkFlags(USAGE, [Number.isInteger(wantedEvents) && wantedEvents >= 1000 && wantedEvents <= 5_000_000]);

interface Phase {
  name: string;
  events: number;
  /** From the first committed batch to the end of the range. */
  steadySeconds: number;
  /** From the start of the phase (consumer run, or child spawned) to the end of the range. */
  wholeSeconds: number;
  complete: boolean;
  /** Peak resident memory of the process doing the work, MB. */
  peakRssMb: number | undefined;
}

runBench({ stopping: 'the replay, the Segment server and the stack', main });

async function main(): Promise<number> {
  printMachine(
    `${wantedEvents} events in the range (+${2 * Math.floor(wantedEvents / 20)} outside it), ${PARTITIONS} partitions, ` +
      `batches of ${MAX_BATCH_RECORDS}`,
  );
  const { stack } = await startBenchStack();
  const kafka = createKafkaClient({ brokers: stack.brokers, clientId: 'bench-replay', logger: benchLogger });
  const registry = createSchemaRegistryClient(stack.registryUrl);
  const suffix = randomBytes(4).toString('hex');
  const topic = (name: string) => `bench.replay.${suffix}.${name}`;
  const topics = {
    RAW_TOPIC: topic('raw'),
    NORMALIZED_TOPIC: topic('normalized'),
    DEAD_LETTER_TOPIC: topic('dlq'),
    IDENTITY_TOPIC: topic('identities'),
  };
  // Within the broker's 7-day retention, which deletes older records at its next check.
  const fromMs = Math.floor(Date.now() / HOUR_MS) * HOUR_MS - 3 * HOUR_MS;
  const toMs = fromMs + HOUR_MS;
  try {
    await kafka.ensureTopics([
      { topic: topics.RAW_TOPIC, partitions: PARTITIONS },
      { topic: topics.NORMALIZED_TOPIC, partitions: PARTITIONS },
      { topic: topics.DEAD_LETTER_TOPIC, partitions: PARTITIONS },
      { topic: topics.IDENTITY_TOPIC, partitions: 1, compacted: true },
    ]);

    // 1. The raw topic: the range in the middle of it.
    const produced = await fillRawTopic(kafka, registry, topics.RAW_TOPIC, rawParts(fromMs, toMs), {
      senders: PRODUCE_SENDERS,
      perSend: RECORDS_PER_SEND,
    });
    const range = await resolveRange(kafka, topics.RAW_TOPIC, fromMs, toMs, undefined);
    const { total } = rangeTotals(range);
    console.log(
      `raw topic ${topics.RAW_TOPIC}: ${produced.acked} records in ${produced.seconds.toFixed(1)} s ` +
        `(${(produced.acked / produced.seconds).toFixed(0)} events/s produced, ${produced.avgBytes.toFixed(0)} B/value); ` +
        `range ${new Date(fromMs).toISOString()} – ${new Date(toMs).toISOString()}: ${total} records`,
    );
    if (total !== wantedEvents) throw new Error(`the range holds ${total} records, not ${wantedEvents}`);

    // 2. Baseline: the Kafka client alone over the same offsets, counting.
    const phases: Phase[] = [await rawConsume(kafka, topics.RAW_TOPIC, range, topic('baseline'))];

    // 3. and 4. The replay command, as an operator runs it (JSON lines: stdout is not a terminal).
    const segment = await startSegmentChild({
      writeKey: WRITE_KEY,
      maxMessageIds: total + 10_000,
      env: { PATH: process.env.PATH },
      stderr: 'inherit',
    });
    const replayEnv = {
      PATH: process.env.PATH,
      LOG_LEVEL: 'warn',
      KAFKA_BROKERS: stack.brokers.join(','),
      SCHEMA_REGISTRY_URL: stack.registryUrl,
      SEGMENT_WRITE_KEY: WRITE_KEY,
      SEGMENT_ENDPOINT: segment.url,
      CONNECTOR_GROUP_ID: topic('connector'),
      ...topics,
    };
    const rangeArgs = ['--from', new Date(fromMs).toISOString(), '--to', new Date(toMs).toISOString()];
    const dryRun = await runReplayChild('replay --dry-run', [...rangeArgs, '--dry-run'], replayEnv);
    phases.push(dryRun.phase);
    const normalizedFrom = new Date(Date.now() - 1000).toISOString();
    const renormalize = await runReplayChild(
      'replay (re-normalize → normalized topic)',
      rangeArgs,
      replayEnv,
    );
    phases.push(renormalize.phase);
    const normalized = await committedRecordCount(kafka, topics.NORMALIZED_TOPIC);
    const redeliver = await runReplayChild(
      'replay --redeliver (normalized topic → Segment)',
      ['--from', normalizedFrom, '--to', new Date(Date.now() + 60_000).toISOString(), '--redeliver'],
      replayEnv,
    );
    phases.push(redeliver.phase);
    const stats = await segmentStats(segment.url);
    const segmentPeakMb = memoryOf(segment.pid)?.peakMb;
    await segment.stop();

    printReplayPhases(phases);
    for (const run of [dryRun, renormalize, redeliver]) {
      const s = run.summary;
      console.log(
        `${run.phase.name}: ${s ? `${s.records} records, events by type ${JSON.stringify(s.eventsByType)}, ${s.deadLettered} dead-lettered, ${s.eventsPerSecond} events/s by its own summary` : 'no summary'}; ${run.exit}` +
          (run.stderr.length > 0 ? `\n  stderr: ${run.stderr.slice(-3).join('\n  ')}` : ''),
      );
    }
    console.log(
      `local Segment server: ${stats.eventsReceived} events received, ${stats.distinctMessageIds} distinct messageIds, ` +
        `${stats.requests} requests, peak RSS ${fmt(segmentPeakMb, 0)} MB; normalized topic ${normalized} records`,
    );
    const dryEvents = Object.values(dryRun.summary?.eventsByType ?? {}).reduce((a, b) => a + b, 0);
    const checks: [string, boolean][] = [
      [`dry run mapped all ${total} events and sent none`, dryEvents === total],
      [`re-normalize: normalized topic holds ${total} records (read_committed)`, normalized === total],
      [
        `re-deliver: every event at Segment exactly once (received = distinct = ${total})`,
        stats.eventsReceived === total && stats.distinctMessageIds === total,
      ],
    ];
    // Delivery checks, not speed targets: the exit code says whether one failed.
    printTargets(checks.map(([what, ok]) => [what, ok ? 'yes' : 'no', ok]));
    writeResults('replay');
    console.log(
      `bench process peak RSS ${fmt(memoryOf('self')?.peakMb, 0)} MB; total ${secondsSinceStart()} s`,
    );
    return checks.every(([, ok]) => ok) ? 0 : 1;
  } finally {
    await kafka.close();
  }
}

/**
 * N records stamped evenly within [fromMs, toMs), N/20 in the half hour before and N/20 in the half hour
 * after, the three parts written one after the other: so in every partition the records before the
 * range come first and those after it last, and the range holds N.
 */
function rawParts(fromMs: number, toMs: number): RawPart[] {
  const outside = Math.floor(wantedEvents / 20);
  const events = mailjetRawEvents(wantedEvents + 2 * outside);
  const half = HOUR_MS / 2;
  const part = (first: number, count: number, from: number, span: number): RawPart => ({
    events: events.slice(first, first + count),
    timestampAt: (i) => from + Math.floor((i * span) / count),
  });
  return [
    part(0, outside, fromMs - half, half),
    part(outside, wantedEvents, fromMs, toMs - fromMs),
    part(outside + wantedEvents, outside, toMs, half),
  ];
}

/** The project's client over the replay's offsets, a commit per batch, counting only. */
async function rawConsume(
  kafka: KafkaClient,
  rawTopic: string,
  range: Awaited<ReturnType<typeof resolveRange>>,
  groupId: string,
): Promise<Phase> {
  const byPartition = new Map(range.map((p) => [p.partition, { ...p }]));
  const total = rangeTotals(range).total;
  const memory = sampleMemory({ bench: 'self' });
  const started = performance.now();
  let firstCommit: { at: number; done: number } | undefined;
  let finished: number | undefined;
  let counted = 0;
  let allDone!: () => void;
  const done = new Promise<void>((resolve) => {
    allDone = resolve;
  });
  const consumer = await kafka.consumer({ groupId });
  await consumer.subscribe([rawTopic], { fromBeginning: true });
  await consumer.runBatches(
    async (batch) => {
      counted += batch.records.length;
    },
    {
      partitionsConcurrently: loadConnectorConfig({}).CONNECTOR_PARTITIONS_CONCURRENTLY,
      maxBatchRecords: MAX_BATCH_RECORDS,
      startOffsetOf: (_topic, partition) => byPartition.get(partition)?.start.toString(),
      endOffsetOf: (_topic, partition) => byPartition.get(partition)?.end.toString(),
      onCommitted: (_topic, partition, next) => {
        const p = byPartition.get(partition);
        if (!p) return;
        p.position = BigInt(next) > p.end ? p.end : BigInt(next);
        const progress = rangeTotals([...byPartition.values()]).done;
        firstCommit ??= { at: performance.now(), done: progress };
        if (progress >= total && finished === undefined) {
          finished = performance.now();
          allDone();
        }
      },
    },
  );
  const complete = await Promise.race([
    done.then(() => true),
    sleep(PHASE_TIMEOUT_MS, false, { ref: false }),
  ]);
  await consumer.disconnect();
  const end = finished ?? performance.now();
  const from = firstCommit && firstCommit.at < end ? firstCommit : { at: end - 1, done: 0 };
  if (counted < total) console.log(`  baseline handed over ${counted} of ${total} records`);
  return {
    name: 'raw consume, count only',
    events: total - from.done,
    steadySeconds: (end - from.at) / 1000,
    wholeSeconds: (end - started) / 1000,
    complete,
    peakRssMb: memory.stop().get('bench'),
  };
}

interface ReplayRun {
  phase: Phase;
  summary: ReplaySummary | undefined;
  exit: string;
  stderr: string[];
}

/** `bin/mailjet-connector.ts replay …` in a child process, timed by its JSON progress lines. */
async function runReplayChild(
  name: string,
  replayArgs: string[],
  env: NodeJS.ProcessEnv,
): Promise<ReplayRun> {
  const started = performance.now();
  const { child, pid, exited } = spawnChild(process.execPath, [...serviceArgs('replay'), ...replayArgs], env);
  const memory = sampleMemory({ replay: pid });
  const stderr: string[] = [];
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => {
    stderr.push(line.slice(0, 300));
    if (stderr.length > 20) stderr.shift();
  });
  let first: { at: number; done: number } | undefined;
  let last: { at: number; done: number } | undefined;
  let summary: ReplaySummary | undefined;
  let hwmMb: number | undefined;
  // The pipe must be read to the end, or the child blocks on a full pipe.
  for await (const line of createInterface({ input: child.stdout as NodeJS.ReadableStream })) {
    let entry: { type?: string } & Partial<ReplayProgress> & Partial<ReplaySummary>;
    try {
      entry = JSON.parse(line);
    } catch {
      continue;
    }
    const at = performance.now();
    if (entry.type === 'replay.progress' && typeof entry.done === 'number') {
      first ??= { at, done: entry.done };
      last = { at, done: entry.done };
    } else if (entry.type === 'replay.summary') {
      summary = entry as ReplaySummary;
      // The child closes its clients after the summary: its peak (VmHWM) is still there to read.
      hwmMb = memoryOf(pid)?.peakMb;
    }
    if (at - started > PHASE_TIMEOUT_MS) {
      child.kill('SIGTERM');
      break;
    }
  }
  const exit = await exited;
  const sampled = memory.stop().get('replay');
  const total = summary?.total ?? 0;
  const complete = summary?.complete === true && last?.done === total;
  const from = first && last && first.at < last.at ? first : { at: (last?.at ?? started) - 1, done: 0 };
  return {
    phase: {
      name,
      events: (last?.done ?? 0) - from.done,
      steadySeconds: ((last?.at ?? started) - from.at) / 1000,
      wholeSeconds: ((last?.at ?? performance.now()) - started) / 1000,
      complete,
      peakRssMb: Math.max(hwmMb ?? 0, sampled ?? 0) || undefined,
    },
    summary,
    exit,
    stderr,
  };
}

const steadyRate = (p: Phase | undefined) => (p ? p.events / p.steadySeconds : Number.NaN);

function printReplayPhases(phases: Phase[]): void {
  const raw = steadyRate(phases[0]);
  printTable(
    ['phase', 'events', 'steady events/s', '/ raw', 'steady s', 'whole run s', 'peak RSS MB'],
    phases.map((p) => [
      p.name + (p.complete ? '' : ' (INCOMPLETE)'),
      String(p.events),
      steadyRate(p).toFixed(0),
      (steadyRate(p) / raw).toFixed(2),
      p.steadySeconds.toFixed(1),
      p.wholeSeconds.toFixed(1),
      fmt(p.peakRssMb, 0),
    ]),
    1,
  );
}
