/**
 * The benchmarks' child processes: the service (`dist/bin/mailjet-connector.js <command>`, the build the
 * launcher runs) and the local Segment server, each in a process of its own so that its memory and CPU
 * are its own. Every child started here is killed by `killChildren`, which the bench calls when it
 * stops, however it stops.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/**
 * What the launcher (`./mailjet-connector`) and the Dockerfile set for every process: the figures must
 * be those of the processes as deployed, not of Node's defaults (a young generation that grows larger,
 * a malloc arena per thread). MALLOC_* variables of the bench's environment replace the glibc ones.
 */
export const deployedNodeOptions = '--max-semi-space-size=8';
export const deployedMalloc = {
  MALLOC_ARENA_MAX: '2',
  MALLOC_MMAP_THRESHOLD_: '131072',
  ...Object.fromEntries(Object.entries(process.env).filter(([name]) => name.startsWith('MALLOC_'))),
};

/** The launcher's settings, as `NAME=value …`, for a bench's "run:" line. */
export function describeDeployedMalloc(): string {
  return Object.entries(deployedMalloc)
    .map(([name, value]) => `${name}=${value}`)
    .join(' ');
}

const children = new Set<ChildProcess>();

/** SIGKILLs every child still running: the bench is ending, nothing of theirs is measured any more. */
export async function killChildren(): Promise<void> {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  }
}

export interface ChildHandle {
  pid: number;
  child: ChildProcess;
  /** How it ended: `exit N` or `signal S`. */
  exited: Promise<string>;
  alive(): boolean;
  /** SIGTERM, as an orchestrator would; resolves with how it ended (SIGKILL after 30 s). */
  stop(): Promise<string>;
}

/** `command args` in the repository, stdout piped (it must be read), stderr piped unless inherited. */
export function spawnChild(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  stderr: 'pipe' | 'inherit' = 'pipe',
): ChildHandle {
  const child = spawn(command, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', stderr], env });
  children.add(child);
  const exited = once(child, 'exit').then(([code, signal]) => (signal ? `signal ${signal}` : `exit ${code}`));
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    pid: child.pid as number,
    child,
    exited,
    alive,
    async stop() {
      if (!alive()) return exited;
      child.kill('SIGTERM');
      const timeout = sleep(30_000, undefined, { ref: false }).then(() => 'timeout' as const);
      const how = await Promise.race([exited, timeout]);
      if (how !== 'timeout') return how;
      child.kill('SIGKILL');
      return `SIGKILL after 30 s (${await exited})`;
    },
  };
}

/**
 * Resolves with what `parse` finds in a line of the child's stdout; fails, with the child's last stderr
 * lines, if it ends first or finds nothing within 60 s. `onLine` sees every line, before and after.
 */
export function waitForLine<T>(
  handle: ChildHandle,
  what: string,
  parse: (line: string) => T | undefined,
  onLine: (line: string) => void = () => {},
): Promise<T> {
  const stderr: string[] = [];
  if (handle.child.stderr) {
    createInterface({ input: handle.child.stderr }).on('line', (line) => {
      stderr.push(line);
      if (stderr.length > 20) stderr.shift();
    });
  }
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

/**
 * Node's arguments to run `<command>` as the launcher does (the build in dist/, see
 * `buildServices`), after `nodeFlags`.
 */
export function serviceArgs(command: string, nodeFlags: string[] = []): string[] {
  return [...nodeFlags, '--disable-warning=TimeoutNegativeWarning', 'dist/bin/mailjet-connector.js', command];
}

/** Compiles the sources into dist/ if they changed, with the launcher's own `build` command. */
export function buildServices(): void {
  execFileSync(join(repoRoot, 'mailjet-connector'), ['build'], { cwd: repoRoot, stdio: 'inherit' });
}

export interface ServiceChild extends ChildHandle {
  /** The port of its HTTP server (`…_PORT=0` picks a free one; the ready line says which). */
  port: number;
  /** performance.now() when it logged its ready line. */
  runningAt: number;
  /** Its log lines at warn, error or fatal level so far. */
  warnings(): number;
  /** The last few of them, cut to 300 characters. */
  lastProblems(): string[];
}

/**
 * A service in a child process, ready when it logs `readyMessage` with its port. Its JSON log lines are
 * read only for that and for warn/error/fatal lines, with a regex first: the bench shares the cores with
 * what it measures, so it does not parse every line a busy service writes.
 */
export async function startService(options: {
  /** "the connector child", for errors. */
  what: string;
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  readyMessage: string;
  /** How many warn/error lines `lastProblems` keeps. */
  keepProblems: number;
  /**
   * Every line of its stdout appended to this file as well (the integrity lane keeps a failed run's
   * logs): the bench itself reads only the lines it needs.
   */
  logFile?: string;
}): Promise<ServiceChild> {
  const handle = spawnChild(options.command, options.args, options.env);
  const log = options.logFile ? createWriteStream(options.logFile, { flags: 'a' }) : undefined;
  if (log) {
    // A log that cannot be written must not end the bench; closed once stdout is (its last line read).
    log.on('error', () => {});
    handle.child.stdout?.once('close', () => setImmediate(() => log.end()));
  }
  let warnings = 0;
  const problems: string[] = [];
  const port = await waitForLine(
    handle,
    options.what,
    (line) => {
      if (!line.includes(options.readyMessage)) return undefined;
      try {
        const entry = JSON.parse(line) as { msg?: string; port?: number };
        return entry.msg === options.readyMessage && typeof entry.port === 'number' ? entry.port : undefined;
      } catch {
        return undefined; // Not a log line.
      }
    },
    (line) => {
      if (log && !log.writableEnded) log.write(`${line}\n`);
      if (/"level":"(warn|error|fatal)"/.test(line)) {
        warnings++;
        problems.push(line.slice(0, 300));
        if (problems.length > options.keepProblems) problems.shift();
      }
    },
  );
  return {
    ...handle,
    port,
    runningAt: performance.now(),
    warnings: () => warnings,
    lastProblems: () => problems,
  };
}

/**
 * The local Segment server (bench/segment-runner.ts) in a child process, with a dedupe window of
 * `maxMessageIds`, so that "exactly once" can be checked over the whole run, and `maxEvents` kept in
 * memory when the run reads every event back (the integrity lane).
 */
export async function startSegmentChild(options: {
  writeKey: string;
  maxMessageIds: number;
  /** Accepted events kept for /_local/events (the server's default when unset). */
  maxEvents?: number;
  env: NodeJS.ProcessEnv;
  stderr?: 'pipe' | 'inherit';
}): Promise<ChildHandle & { url: string }> {
  const handle = spawnChild(
    process.execPath,
    [
      'bench/segment-runner.ts',
      options.writeKey,
      String(options.maxMessageIds),
      ...(options.maxEvents === undefined ? [] : [String(options.maxEvents)]),
    ],
    options.env,
    options.stderr,
  );
  const url = await waitForLine(handle, 'the Segment server child', (line) => {
    try {
      return (JSON.parse(line) as { url?: string }).url;
    } catch {
      return undefined; // Not the line we wait for.
    }
  });
  return { ...handle, url };
}

/** What the local Segment server received, from its /_local/stats. */
export interface SegmentStats {
  requests: number;
  responsesByStatus: Record<string, number>;
  eventsReceived: number;
  distinctMessageIds: number;
  duplicates: number;
  eventsRejected: number;
  messageIdsForgotten: number;
}

export async function segmentStats(url: string): Promise<SegmentStats> {
  return (await (await fetch(`${url}/_local/stats`)).json()) as SegmentStats;
}

/** What the bench reads from a service's /metrics (prom-client's Node metrics), and in which unit. */
const serviceGauges = [
  ['nodejs_heap_size_used_bytes', 2 ** 20],
  ['nodejs_heap_size_total_bytes', 2 ** 20],
  ['nodejs_external_memory_bytes', 2 ** 20],
  // The longest the event loop was late since the previous scrape (prom-client resets it at each one).
  ['nodejs_eventloop_lag_max_seconds', 1e-3],
] as const;

/** A service's Prometheus page (/metrics); undefined while it is busy or stopping: the next read counts. */
export async function metricsPage(port: number): Promise<string | undefined> {
  try {
    return await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  } catch {
    return undefined;
  }
}

/** The value of an unlabelled metric on a Prometheus page; NaN when absent. */
export function gaugeIn(page: string, name: string): number {
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(page)?.[1] ?? NaN);
}

/** Heap used, heap total, external (MB) and event-loop stall (ms) of a service, from its /metrics. */
async function gaugesOf(port: number, metricPrefix: string): Promise<number[] | undefined> {
  const page = await metricsPage(port);
  return page === undefined
    ? undefined
    : serviceGauges.map(([name, unit]) => gaugeIn(page, `${metricPrefix}_${name}`) / unit);
}

export interface ServicePeaks {
  /** Peaks of V8 heap used / heap total / external memory, MB, as "u/t/e": with the RSS they tell heap from Buffers. */
  heapMb: string | undefined;
  /** The longest event-loop stall seen, ms: a latency tail longer than it was spent waiting, not computing. */
  loopStallMs: number | undefined;
}

/**
 * The peaks of a service's memory and event-loop stalls, sampled every 0.5 s while a phase runs: a value
 * read at the end of a busy phase says little about its highest.
 */
export function sampleService(port: number, metricPrefix: string): { stop(): Promise<ServicePeaks> } {
  const peaks = serviceGauges.map(() => Number.NaN);
  const sample = async () => {
    // The service is busy or stopping when this is undefined: the next sample counts.
    (await gaugesOf(port, metricPrefix))?.forEach((value, i) => {
      if (!(value <= (peaks[i] as number))) peaks[i] = value;
    });
  };
  let sampling = sample();
  const timer = setInterval(() => {
    sampling = sampling.then(sample);
  }, 500);
  return {
    async stop() {
      clearInterval(timer);
      await sampling.then(sample);
      const heap = peaks.slice(0, 3);
      const stall = peaks[3] as number;
      return {
        heapMb: heap.some(Number.isNaN) ? undefined : heap.map((mb) => mb.toFixed(0)).join('/'),
        loopStallMs: Number.isNaN(stall) ? undefined : stall,
      };
    },
  };
}
