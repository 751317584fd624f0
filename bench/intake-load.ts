/**
 * The intake phases of the ingress and destination benchmarks: a service's HTTP intake loaded
 * closed-loop with C clients (its maximum), then open-loop at half of that maximum (its latency), next
 * to the raw Kafka client writing the same records from C senders (what the intake is compared with).
 * Each phase carries its memory and CPU figures, and the table that shows them is the same for both.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fmt, type Pids, printTable, type TargetRow } from './harness.ts';
import {
  closedLoop,
  type LatencySummary,
  type LoadClient,
  type LoadResult,
  openLoop,
  summarize,
  type WebhookBody,
} from './http-load.ts';
import { cpuMeter, sampleMemory } from './process-stats.ts';
import { sampleService } from './service-child.ts';

/** A bound on requests (or sends) per phase whatever the speed, so a run always ends. */
const MAX_REQUESTS_PER_PHASE = 2_000_000;

export interface IntakePhase {
  name: string;
  load: string;
  /** Events (ingress) or calls (destination) acknowledged. */
  acked: number;
  seconds: number;
  requests: number;
  failures: Map<string, number>;
  latency: LatencySummary | undefined;
  serviceRssMb?: number | undefined;
  /** Peaks of the service's V8 heap used / total and external memory in the phase (its /metrics), MB. */
  serviceHeapMb?: string | undefined;
  /** The service's longest event-loop stall in the phase, ms. */
  serviceLoopStallMs?: number | undefined;
  /**
   * The load generator's own longest event-loop stall, ms: latency counts from each request's due
   * time, so a stall here shows as latency that neither the service nor Kafka spent.
   */
  benchLoopStallMs?: number | undefined;
  benchRssMb?: number | undefined;
  cpu: Map<string, number>;
}

/** Events or calls per second of a phase; 0 for a phase that did not run. */
export const intakeRate = (phase: IntakePhase | undefined) => (phase ? phase.acked / phase.seconds : 0);

/** Requests of the phases whose name starts with `prefix` that were not answered 200 with all stored. */
export function failedRequests(phases: IntakePhase[], prefix: string): number {
  return phases
    .filter((p) => p.name.startsWith(prefix))
    .reduce((n, p) => n + [...p.failures.values()].reduce((a, b) => a + b, 0), 0);
}

/**
 * C senders, each calling `send` (encode `perSend` records and send them, as the intake does for a
 * body) and awaiting its ack before the next. `pids` is what the CPU column shows.
 */
async function rawClientLoop(options: {
  name: string;
  perSend: number;
  concurrency: number;
  seconds: number;
  pids: Pids;
  send: () => Promise<void>;
}): Promise<IntakePhase> {
  const { perSend, concurrency } = options;
  const latencies: number[] = [];
  const failures = new Map<string, number>();
  let acked = 0;
  let requests = 0;
  const memory = sampleMemory({ bench: 'self' });
  const cpu = cpuMeter(options.pids);
  const started = performance.now();
  const deadline = started + options.seconds * 1000;
  const sender = async () => {
    while (performance.now() < deadline && requests < MAX_REQUESTS_PER_PHASE) {
      const sendStarted = performance.now();
      requests++;
      try {
        await options.send();
        acked += perSend;
        latencies.push(performance.now() - sendStarted);
      } catch (err) {
        const reason = `error ${(err as Error).name}`;
        failures.set(reason, (failures.get(reason) ?? 0) + 1);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, sender));
  return {
    name: options.name,
    load: `C=${concurrency} senders`,
    acked,
    seconds: (performance.now() - started) / 1000,
    requests,
    failures,
    latency: summarize(latencies),
    benchRssMb: memory.stop().get('bench'),
    cpu: cpu.stop(),
  };
}

/**
 * The raw Kafka client writing what the intake would write for the same bodies: C senders, each
 * awaiting its ack before its next send. `senderOf(perSend)` returns the send of one phase: it encodes
 * `perSend` records (encoding is inside the loop: the intake pays for it too) and sends them. Measured
 * phases are appended to `phases`; what was acked is counted, warm-up included.
 */
export function rawClientLoad(options: {
  concurrency: number;
  /** What the CPU column shows, by label. */
  pids: Pids;
  phases: IntakePhase[];
  senderOf: (perSend: number) => () => Promise<void>;
}) {
  let acked = 0;
  const loop = async (name: string, perSend: number, seconds: number, pids: Pids) => {
    const phase = await rawClientLoop({
      name,
      perSend,
      concurrency: options.concurrency,
      seconds,
      pids,
      send: options.senderOf(perSend),
    });
    acked += phase.acked;
    return phase;
  };
  return {
    /** What the broker acknowledged so far, warm-up included. */
    acked: () => acked,
    /** JIT and connection warm-up, one record a send; not reported. */
    async warmUp(seconds: number): Promise<void> {
      await loop('', 1, seconds, {});
    },
    async phase(name: string, perSend: number, seconds: number): Promise<IntakePhase> {
      const phase = await loop(name, perSend, seconds, options.pids);
      options.phases.push(phase);
      return phase;
    },
  };
}

/** One way of loading the intake: "A: 1 event/body", the client of its path, the bodies it cycles through. */
export interface IntakeScenario {
  label: string;
  client: LoadClient;
  bodies: WebhookBody[];
}

/**
 * Loads a service's intake phase by phase, appending each measured phase to `phases` and counting what
 * it acknowledged, warm-up included (the topic checks compare the topics with all of it).
 */
export function intakeLoad(options: {
  /** The service: its pid (memory), its port (/metrics) and the prefix of its metrics. */
  service: { pid: number; port: number; metricPrefix: string };
  /** What the CPU column shows, by label. */
  pids: Pids;
  /** Phase names are `${namePrefix} ${scenario label}`. */
  namePrefix: string;
  concurrency: number;
  seconds: number;
  warmUpSeconds: number;
  phases: IntakePhase[];
}) {
  const { service, concurrency, seconds } = options;
  let acked = 0;
  const measure = async (name: string, load: string, run: () => Promise<LoadResult>) => {
    const memory = sampleMemory({ service: service.pid, bench: 'self' });
    const cpu = cpuMeter(options.pids);
    const gauges = sampleService(service.port, service.metricPrefix);
    const ownStalls = monitorEventLoopDelay({ resolution: 10 });
    ownStalls.enable();
    const result = await run();
    ownStalls.disable();
    const cpuShares = cpu.stop();
    const peaks = memory.stop();
    const servicePeaks = await gauges.stop();
    acked += result.ackedEvents;
    const phase: IntakePhase = {
      name,
      load,
      acked: result.ackedEvents,
      seconds: result.seconds,
      requests: result.requests,
      failures: result.failures,
      latency: summarize(result.latenciesMs),
      serviceRssMb: peaks.get('service'),
      serviceHeapMb: servicePeaks.heapMb,
      serviceLoopStallMs: servicePeaks.loopStallMs,
      benchLoopStallMs: ownStalls.max / 1e6,
      benchRssMb: peaks.get('bench'),
      cpu: cpuShares,
    };
    options.phases.push(phase);
    return phase;
  };
  return {
    /** What the service acknowledged so far, warm-up included. */
    acked: () => acked,
    /** JIT and connection warm-up, half the warm-up time per scenario; not reported. */
    async warmUp(scenarios: IntakeScenario[]): Promise<void> {
      for (const { client, bodies } of scenarios) {
        const warm = await closedLoop({
          client,
          bodies,
          concurrency,
          seconds: options.warmUpSeconds / 2,
          maxRequests: MAX_REQUESTS_PER_PHASE,
        });
        acked += warm.ackedEvents;
      }
    },
    /** C clients, each sending its next body when the last was answered: the maximum rate. */
    closed({ label, client, bodies }: IntakeScenario): Promise<IntakePhase> {
      return measure(`${options.namePrefix} ${label}`, `closed, C=${concurrency}`, () =>
        closedLoop({ client, bodies, concurrency, seconds, maxRequests: MAX_REQUESTS_PER_PHASE }),
      );
    },
    /** Bodies on a fixed schedule at half the rate `max` (the closed phase) reached: latency under load. */
    half({ label, client, bodies }: IntakeScenario, max: IntakePhase): Promise<IntakePhase> {
      const perBody = bodies[0]?.events ?? 1;
      const requestsPerSecond = Math.max(1, max.acked / max.seconds / 2 / perBody);
      return measure(
        `${options.namePrefix} ${label}, 50%`,
        `open, ${requestsPerSecond.toFixed(0)} req/s`,
        () => openLoop({ client, bodies, requestsPerSecond, seconds }),
      );
    },
  };
}

/**
 * The intake phases as a table, then the failed requests of each by reason. `service` names the
 * service's columns ("ingress"), `unit` what it takes in ("events").
 */
export function printIntakePhases(
  phases: IntakePhase[],
  columns: { service: string; unit: string; heapHeader: string },
): void {
  const { service } = columns;
  printTable(
    [
      'phase',
      'load',
      `${columns.unit}/s`,
      'req/s',
      'p50 ms',
      'p99 ms',
      'max ms',
      'non-200',
      `${service} RSS MB`,
      columns.heapHeader,
      `loop stall max ms: ${service}/bench`,
      'bench RSS MB',
      `CPU cores: bench/${service}/broker/registry/all`,
      's',
    ],
    phases.map((p) => [
      p.name,
      p.load,
      intakeRate(p).toFixed(0),
      (p.requests / p.seconds).toFixed(0),
      fmt(p.latency?.p50, 2),
      fmt(p.latency?.p99, 2),
      fmt(p.latency?.max, 1),
      String([...p.failures.values()].reduce((a, b) => a + b, 0)),
      fmt(p.serviceRssMb, 0),
      p.serviceHeapMb ?? 'n/a',
      [p.serviceLoopStallMs, p.benchLoopStallMs].map((ms) => fmt(ms, 0)).join('/'),
      fmt(p.benchRssMb, 0),
      ['bench', service, 'broker', 'registry', 'machine'].map((label) => fmt(p.cpu.get(label), 2)).join('/'),
      p.seconds.toFixed(1),
    ]),
    2,
  );
  for (const p of phases) {
    for (const [reason, count] of p.failures) console.log(`${p.name}: ${count} × ${reason}`);
  }
}

/**
 * The intake's targets, first the rate of each scenario's closed phase over its raw client phase
 * (≥ minRatio), then the p99 of each scenario's half-load phase (≤ maxP99Ms). `service` starts the ratio
 * rows ("ingress / raw client, …"); `per` says what a scenario sends ("1 event per body/send"), `p99Of`
 * what its latency row calls it ("1 event/body").
 */
export function intakeTargets(
  phases: IntakePhase[],
  options: {
    namePrefix: string;
    minRatio: number;
    maxP99Ms: number;
    scenarios: { label: string; rawName: string; per: string; p99Of: string }[];
  },
): TargetRow[] {
  const { namePrefix, minRatio, maxP99Ms } = options;
  const find = (prefix: string) => phases.find((p) => p.name.startsWith(prefix));
  const ratios = options.scenarios.map(({ label, rawName, per }): TargetRow => {
    const ratio = intakeRate(find(`${namePrefix} ${label}`)) / intakeRate(find(rawName));
    return [`${namePrefix} / raw client, ${per} ≥ ${minRatio}`, ratio.toFixed(2), ratio >= minRatio];
  });
  const latencies = options.scenarios.map(({ label, p99Of }): TargetRow => {
    const p99 = find(`${namePrefix} ${label}, 50%`)?.latency?.p99;
    return [
      `p99 ack at 50% load, ${p99Of} ≤ ${maxP99Ms} ms`,
      `${fmt(p99, 2)} ms`,
      p99 !== undefined && p99 <= maxP99Ms,
    ];
  });
  return [...ratios, ...latencies];
}
