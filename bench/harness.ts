/**
 * What every benchmark script does around its measurements: check its flags, start the stack and stop
 * it with the children however the run ends, fill a raw topic with Mailjet events, follow a consumer
 * group's committed offsets until it has drained a topic, sample a service's memory while its SaaS is
 * down, print the figures (machine, tables, PASS/MISS targets) and write what it printed to
 * bench/results/<name>.json, from which `npm run docs` renders docs/benchmarks.md. The scripts keep what
 * they measure; this keeps how a run is framed the same in all of them.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, statfsSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import type { IncomingRecord, KafkaClient, OutgoingRecord } from '../core/kafka.ts';
import { createLogger } from '../core/logger.ts';
import type { SchemaRegistryClient } from '../core/schema-registry.ts';
import { type MailjetEventRaw, mailjetEventRawSchema, valueSubject } from '../schemas/index.ts';
import { loadStackConfig, type Stack, startStack } from '../stack/local-stack.ts';
import { memoryOf, processInGroup } from './process-stats.ts';
import { buildServices, killChildren } from './service-child.ts';

/** Process ids to measure, by label: `self` is the bench process. */
export type Pids = Record<string, number | 'self'>;

export const benchLogger = createLogger({ level: process.env.LOG_LEVEL ?? 'warn' });
const startedAt = performance.now();
let stack: Stack | undefined;
let cleaning: Promise<void> | undefined;

/** Seconds since the bench started, for its "total" line. */
export function secondsSinceStart(): string {
  return ((performance.now() - startedAt) / 1000).toFixed(1);
}

/**
 * Runs `main` and exits with its code (1 if it throws). Whatever ends the run (its end, a failure,
 * SIGINT/SIGTERM), the children are killed, then `cleanUp` runs, then the stack stops: nothing the bench
 * started outlives it, and the stack goes last because the others still talk to it while they stop.
 */
export function runBench(options: {
  /** What a signal stops, for the message: "the ingress and the stack". */
  stopping: string;
  main: () => Promise<number>;
  cleanUp?: () => Promise<void>;
}): void {
  const cleanUp = (): Promise<void> => {
    cleaning ??= (async () => {
      await killChildren();
      await options.cleanUp?.();
      await stack?.stop();
    })();
    return cleaning;
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\n${signal}: stopping ${options.stopping}…\n`);
      cleanUp().finally(() => process.exit(130));
    });
  }
  options
    .main()
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
}

/**
 * The local stack (or the cluster of KAFKA_BROKERS/SCHEMA_REGISTRY_URL), stopped when the bench ends,
 * with the pids of its broker and registry JVMs so that their CPU is shown next to the service's.
 */
export async function startBenchStack(): Promise<{ stack: Stack; jvms: Pids }> {
  // The services under test run as the launcher runs them: from their build.
  buildServices();
  const started = performance.now();
  const cluster = await startStack(loadStackConfig(), benchLogger);
  stack = cluster;
  const jvms: Pids = cluster.external
    ? {}
    : Object.fromEntries(
        [
          ['broker', processInGroup(cluster.pids[0] ?? -1, 'java')],
          ['registry', processInGroup(cluster.pids[1] ?? -1, 'java')],
        ].filter((entry): entry is [string, number] => entry[1] !== undefined),
      );
  console.log(
    `stack: ${cluster.external ? 'existing cluster' : 'local'} ${cluster.brokers.join(',')} ` +
      `(ready in ${((performance.now() - started) / 1000).toFixed(1)} s)` +
      (cluster.external ? '' : `, broker log under ${tmpdir()}${onTmpfs(tmpdir()) ? ' (tmpfs)' : ''}`),
  );
  return { stack: cluster, jvms };
}

const TMPFS_MAGIC = 0x01021994;

/**
 * Whether a folder is in memory. The local broker's log lives under TMPDIR; on a disk, the kernel's
 * writeback of it (bursts with high iowait) coincided with the p99 tails of the intake phases at half
 * load, so a run says where its broker wrote.
 */
function onTmpfs(folder: string): boolean {
  try {
    return statfsSync(folder).type === TMPFS_MAGIC;
  } catch {
    return false;
  }
}

/**
 * Exits with code 2 and the usage line unless every check of the flags holds: a bench starts a stack
 * and runs for minutes, so a wrong flag must stop it before anything starts.
 */
/**
 * The script's flags, parsed by node:util: `--help` prints the usage line and exits 0; a flag it does not
 * know, or one missing its value, prints what is wrong and the usage line, and exits 2 (not a stack).
 */
export function parseFlags<T extends ParseArgsConfig>(
  usage: string,
  config: T,
): ReturnType<typeof parseArgs<T>> {
  if (process.argv.slice(2).includes('--help')) {
    process.stdout.write(`Usage: ${usage}\n`);
    process.exit(0);
  }
  try {
    return parseArgs(config);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\nUsage: ${usage}\n`);
    process.exit(2);
  }
}

export function checkFlags(usage: string, checks: boolean[]): void {
  if (checks.every(Boolean)) return;
  process.stderr.write(`Usage: ${usage}\n`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------------
// Topics and consumer groups

export function sum(values: Iterable<number | string>): number {
  let total = 0;
  for (const value of values) total += Number(value);
  return total;
}

/** Records a group committed: -1 (nothing committed yet on a partition) counts as 0. */
export function committedSum(offsets: Map<number, string>): number {
  let total = 0;
  for (const offset of offsets.values()) if (Number(offset) > 0) total += Number(offset);
  return total;
}

/**
 * Reads every record of `topic` from its start to its end offsets as they are when called, handing each
 * batch over, with a fresh consumer group: read_committed, so an aborted transaction's records are not
 * handed over, and a partition ends at its end offset even when its last offsets are transaction markers.
 * A topic that does not exist reads as empty.
 */
export async function readToEnd(
  kafka: KafkaClient,
  topic: string,
  onBatch: (records: IncomingRecord[]) => void,
  timeoutMs = 60_000,
): Promise<void> {
  if (!(await kafka.topicExists(topic))) return;
  const end = await kafka.endOffsets(topic);
  const remaining = new Map([...end].filter(([, offset]) => Number(offset) > 0));
  if (remaining.size === 0) return;
  let read = 0;
  const consumer = await kafka.consumer({ groupId: `bench-reader-${randomBytes(6).toString('hex')}` });
  try {
    await consumer.subscribe([topic], { fromBeginning: true });
    const finished = Promise.withResolvers<'read'>();
    const crash = Promise.withResolvers<never>();
    consumer.onCrash(crash.reject);
    // runBatches resolves once the consumer is fetching; each partition's range ends at its end offset.
    await consumer.runBatches(
      async (batch) => {
        read += batch.records.length;
        onBatch(batch.records);
      },
      {
        commit: false,
        endOffsetOf: (_topic, partition) => remaining.get(partition),
        onCommitted: (_topic, partition, next) => {
          const last = remaining.get(partition);
          if (last !== undefined && BigInt(next) >= BigInt(last)) remaining.delete(partition);
          if (remaining.size === 0) finished.resolve('read');
        },
      },
    );
    const outcome = await Promise.race([
      finished.promise,
      crash.promise,
      sleep(timeoutMs, undefined, { ref: false }).then(() => 'timeout' as const),
    ]);
    if (outcome !== 'read') {
      throw new Error(`read ${read} records of ${topic}, not up to its end offsets in ${timeoutMs / 1000} s`);
    }
  } finally {
    await consumer.disconnect();
  }
}

/** Records of a topic written in transactions, as read_committed readers see them (not its end offsets). */
export async function committedRecordCount(kafka: KafkaClient, topic: string): Promise<number> {
  let count = 0;
  await readToEnd(kafka, topic, (records) => {
    count += records.length;
  });
  return count;
}

/** Records ever written to a topic (its end offsets); 0 if it was never created. */
export async function recordCount(kafka: KafkaClient, topic: string): Promise<number> {
  try {
    return sum((await kafka.endOffsets(topic)).values());
  } catch {
    return 0; // Never created: nothing was written there.
  }
}

/** Part of a raw topic's content: events, and the record timestamp of each (default: when it is sent). */
export interface RawPart {
  events: MailjetEventRaw[];
  timestampAt?: (index: number) => number;
}

/**
 * Writes events to a raw topic as the ingress does (Avro MailjetEventRaw, keyed by recipient), `perSend`
 * a send from `senders` concurrent senders each awaiting its ack before its next send, part after part
 * (so within a partition a part's records all come after the previous part's), until all are sent or
 * `seconds` have passed.
 */
export async function fillRawTopic(
  kafka: KafkaClient,
  registry: SchemaRegistryClient,
  rawTopic: string,
  parts: RawPart[],
  options: { senders: number; perSend: number; seconds?: number },
): Promise<{ acked: number; seconds: number; avgBytes: number }> {
  const serializer = await registry.serializer(valueSubject(rawTopic), mailjetEventRawSchema);
  const producer = await kafka.producer({ idempotent: true });
  let acked = 0;
  let bytes = 0;
  const started = performance.now();
  const deadline = started + (options.seconds ?? Number.POSITIVE_INFINITY) * 1000;
  try {
    for (const { events, timestampAt } of parts) {
      let next = 0;
      const sender = async () => {
        while (next < events.length && performance.now() < deadline) {
          const first = next;
          next = Math.min(events.length, next + options.perSend);
          const records: OutgoingRecord[] = [];
          for (let i = first; i < next; i++) {
            const event = events[i] as MailjetEventRaw;
            const value = serializer.encode(event);
            bytes += value.length;
            records.push({ key: event.email, value, ...(timestampAt ? { timestamp: timestampAt(i) } : {}) });
          }
          await producer.send([{ topic: rawTopic, records }]);
          acked += records.length;
        }
      };
      await Promise.all(Array.from({ length: options.senders }, sender));
    }
  } finally {
    await producer.disconnect();
  }
  return { acked, seconds: (performance.now() - started) / 1000, avgBytes: bytes / Math.max(1, acked) };
}

export interface Drain {
  /** Records committed between the first and the last commit the poller saw. */
  records: number;
  /** From the first seen commit to the end of the phase. */
  steadySeconds: number;
  /** From the start of the phase (consumer run, or the service's ready line) to the first seen commit. */
  firstCommitSeconds: number;
  /** From the start of the phase to its end. */
  totalSeconds: number;
  /** Committed = end on every partition. */
  complete: boolean;
}

const POLL_MS = 100;

/**
 * Polls a group's committed offsets until they reach `end` on every partition, or the phase is cut
 * short: `timeoutMs` after `started`, `boundSeconds` after the first commit (0: no bound), or the
 * consumer gone (`alive`). The steady rate counts from the first commit seen, so joining the group and
 * the first fetch are reported apart.
 */
export async function waitDrained(
  kafka: KafkaClient,
  options: {
    groupId: string;
    topic: string;
    end: Map<number, string>;
    /** performance.now() when the phase started. */
    started: number;
    timeoutMs: number;
    boundSeconds?: number;
    alive?: () => boolean;
  },
): Promise<Drain> {
  const { groupId, topic, end, started, boundSeconds = 0, alive = () => true } = options;
  let first: { at: number; committed: number } | undefined;
  const deadline = started + options.timeoutMs;
  for (;;) {
    const offsets = await kafka.committedOffsets(groupId, topic);
    const committed = committedSum(offsets);
    const now = performance.now();
    if (!first && committed > 0) first = { at: now, committed };
    const complete = [...end].every(
      ([partition, offset]) => Number(offsets.get(partition) ?? -1) >= Number(offset),
    );
    const bounded = boundSeconds > 0 && first !== undefined && now - first.at >= boundSeconds * 1000;
    if (complete || bounded || now > deadline || !alive()) {
      // When the first and the last look are the same poll, everything was done within one interval.
      const from = first && first.at < now ? first : { at: now - POLL_MS, committed: 0 };
      return {
        records: committed - from.committed,
        steadySeconds: (now - from.at) / 1000,
        firstCommitSeconds: ((first?.at ?? now) - started) / 1000,
        totalSeconds: (now - started) / 1000,
        complete,
      };
    }
    await sleep(POLL_MS);
  }
}

// ---------------------------------------------------------------------------------------------------
// A SaaS down

export interface Outage {
  seconds: number;
  rssMb: number[];
  minMb: number;
  maxMb: number;
  slopeMbPer10s: number;
  /** Over the second half of the window, once the heap reached its working size. */
  lateSlopeMbPer10s: number;
  committed: number;
  refused: number;
  /** Records the service held (fetched, not committed) at each sample, when it tells. */
  inFlight: number[];
}

/**
 * While the SaaS refuses every request: the service's RSS every second for `seconds`, from its first
 * refused request on (a service that buffers instead of holding back grows; one that holds back stays
 * flat), then what its group committed meanwhile and how many requests were refused.
 */
export async function sampleOutage(options: {
  pid: number;
  seconds: number;
  refused: () => number | Promise<number>;
  committed: () => Promise<number>;
  alive?: () => boolean;
  /** Records the service holds now: constant while it holds back, growing if it buffers. */
  inFlight?: () => Promise<number | undefined>;
}): Promise<Outage> {
  const { pid, refused, alive = () => true } = options;
  const waitUntil = performance.now() + 30_000;
  while ((await refused()) === 0 && performance.now() < waitUntil && alive()) await sleep(POLL_MS);
  const started = performance.now();
  const rssMb: number[] = [];
  const times: number[] = [];
  const inFlight: number[] = [];
  while (performance.now() - started < options.seconds * 1000 && alive()) {
    const rss = memoryOf(pid)?.rssMb;
    if (rss !== undefined) {
      rssMb.push(rss);
      times.push((performance.now() - started) / 1000);
    }
    const held = await options.inFlight?.();
    if (held !== undefined) inFlight.push(held);
    await sleep(1000);
  }
  return {
    seconds: (performance.now() - started) / 1000,
    rssMb,
    minMb: Math.min(...rssMb),
    maxMb: Math.max(...rssMb),
    slopeMbPer10s: slope(times, rssMb) * 10,
    lateSlopeMbPer10s: slope(times.slice(times.length >> 1), rssMb.slice(rssMb.length >> 1)) * 10,
    committed: await options.committed(),
    refused: await refused(),
    inFlight,
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

// ---------------------------------------------------------------------------------------------------
// Output

/** A figure, or "n/a" where it could not be measured (no /proc, a phase that never ran). */
export const fmt = (value: number | undefined, digits = 1) =>
  value === undefined || Number.isNaN(value) ? 'n/a' : value.toFixed(digits);

export function loadAverage(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

/** The machine the figures come from (others may share it: hence the load), then the run's settings. */
export function printMachine(run: string): void {
  printed.run = run;
  const cores = cpus();
  console.log(
    `machine: ${cores.length} cpus (${cores[0]?.model.trim() ?? 'unknown'}), ${(totalmem() / 2 ** 30).toFixed(1)} GB, ` +
      `load average ${loadAverage()}; node ${process.version}`,
  );
  console.log(`run: ${run}`);
}

/** A table between blank lines: the first `leftColumns` columns (names) left-aligned, figures right. */
export function printTable(header: string[], rows: string[][], leftColumns: number): void {
  printed.figures.push({ header, rows });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i < leftColumns ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number)))
      .join('  ');
  console.log();
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
  console.log();
}

/** [what, value, met?]: `info` rows are shown among the targets but are none. */
export type TargetRow = [string, string, boolean | 'info'];

/**
 * The targets, PASS or MISS, then `notes` (figures shown so the reader can judge the run, such as the
 * bench's own memory) as info lines aligned with them. A MISS is a figure, not a failure: it does not
 * change the exit code.
 */
export function printTargets(rows: TargetRow[], notes: [string, string][] = []): void {
  for (const [what, value, met] of rows) printed.targets.push({ what, value, met });
  for (const [what, value] of notes) printed.targets.push({ what, value, met: 'info' });
  const width = Math.max(...rows.map((r) => r[0].length));
  console.log('targets:');
  for (const [what, value, ok] of rows) {
    console.log(`  ${ok === 'info' ? 'info' : ok ? 'PASS' : 'MISS'}  ${what.padEnd(width)}  ${value}`);
  }
  for (const [what, value] of notes) console.log(`  info  ${what.padEnd(width)}  ${value}`);
}

// ---------------------------------------------------------------------------------------------------
// Results files

/** One table a bench printed: its header and rows, as printed. */
export interface FigureTable {
  header: string[];
  rows: string[][];
}

/** One target a bench printed: met, missed, or `info` (a figure shown among them that is no target). */
export interface TargetResult {
  what: string;
  value: string;
  met: boolean | 'info';
}

/**
 * bench/results/<name>.json: one run of `npm run bench:<name>` (or of the integrity lane), what it
 * printed, and where it ran.
 */
export interface BenchResults {
  name: string;
  command: string;
  /** ISO 8601 time the results were written. */
  date: string;
  /** The commit the run measured (`git rev-parse HEAD`), "unknown" outside a git checkout. */
  commit: string;
  /** Whether the tree had changes besides bench/results/ (the figures are then not the commit's). */
  dirty: boolean;
  machine: { cpus: number; model: string; memoryGb: number; node: string };
  /** The run's settings, as printMachine printed them. */
  run: string;
  figures: FigureTable[];
  targets: TargetResult[];
}

/** What printMachine, printTable and printTargets printed in this run: the results file's content. */
const printed: { run: string; figures: FigureTable[]; targets: TargetResult[] } = {
  run: '',
  figures: [],
  targets: [],
};

export const resultsDir = new URL('results/', import.meta.url);

function git(args: string[]): string | undefined {
  try {
    return execFileSync('git', args, { cwd: new URL('..', import.meta.url), encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

/**
 * Writes bench/results/<name>.json with what this run printed (or `results`), the date, the commit and
 * the machine. Called at the end of each bench's main; `npm run docs` renders the files.
 */
export function writeResults(
  name: string,
  results: { figures: FigureTable[]; targets: TargetResult[] } = printed,
  dir: URL = resultsDir,
  command = `npm run bench:${name}`,
): string {
  const cores = cpus();
  const content: BenchResults = {
    name,
    command,
    date: new Date().toISOString(),
    commit: git(['rev-parse', 'HEAD']) ?? 'unknown',
    // Results files written by the benches before this one are no change to the code measured.
    dirty: (git(['status', '--porcelain', '--', '.', ':!bench/results']) ?? '') !== '',
    machine: {
      cpus: cores.length,
      model: cores[0]?.model.trim() ?? 'unknown',
      memoryGb: Number((totalmem() / 2 ** 30).toFixed(1)),
      node: process.version,
    },
    run: printed.run,
    figures: results.figures,
    targets: results.targets,
  };
  mkdirSync(dir, { recursive: true });
  const file = new URL(`${name}.json`, dir);
  writeFileSync(file, `${JSON.stringify(content, null, 2)}\n`);
  console.log(`results: ${file.pathname} (npm run docs renders it into docs/)`);
  return file.pathname;
}
