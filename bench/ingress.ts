/**
 * The ingress benchmark: how many Mailjet events per second the ingress stores, how fast it answers at
 * half that load, and how much memory it takes, compared with the Kafka client producing the same
 * events on its own. A script that prints figures, never a test:
 *
 *   node --disable-warning=TimeoutNegativeWarning bench/ingress.ts [--seconds N] [--concurrency C]
 *     [--cpu-prof] [--child-node-options="--max-semi-space-size=16"]
 *
 * --cpu-prof writes a V8 CPU profile of the ingress child (path printed at the end); the other flag
 * passes Node/V8 options to the child only (in NODE_OPTIONS, so only the flags Node allows there), to
 * try memory settings: they come after, so override, those of the `mailjet-connector` launcher.
 * Phases, each `--seconds` long (default 10), on the local stack (or KAFKA_BROKERS/SCHEMA_REGISTRY_URL):
 * 1. baseline: the raw Kafka client (core/kafka.ts, idempotent, acks=all) sends the same events, Avro
 *    encoded with the ingress's serializer, from C concurrent senders: 1 event per send, then 100;
 * 2. the ingress in a child process of its own (so its memory is its own), loaded over keep-alive HTTP:
 *    closed-loop with C clients, single-event bodies (Mailjet's default) then 100-event grouped bodies;
 * 3. open-loop at half of each measured maximum, latency counted from each request's due time.
 * Every answer must be 200 with every event stored, and the raw topic must end up holding at least as
 * many records as were acknowledged; the run fails (exit 1) only if events were lost. Targets missed
 * are printed as MISS and still exit 0.
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
import { createKafkaClient, type KafkaClient, type OutgoingRecord, type Producer } from '../core/kafka.ts';
import { createLogger } from '../core/logger.ts';
import { type AvroSerializer, createSchemaRegistryClient } from '../core/schema-registry.ts';
import { rawEventValue } from '../ingress/event-publisher.ts';
import { readWebhookBody } from '../ingress/webhook-body.ts';
import { type MailjetEventRaw, mailjetEventRawSchema, valueSubject } from '../schemas/index.ts';
import { loadStackConfig, type Stack, startStack } from '../stack/local-stack.ts';
import { mailjetSamples } from '../test/fixtures/mailjet-events.ts';
import {
  closedLoop,
  createLoadClient,
  type LatencySummary,
  type LoadResult,
  openLoop,
  summarize,
  type WebhookBody,
} from './http-load.ts';
import { cpuMeter, memoryOf, processInGroup, sampleMemory } from './process-stats.ts';

const TARGETS = {
  /** Ingress events/s over the raw client's, same events, acks=all. */
  minRatio: 0.8,
  /** p99 from a webhook's due time to its 200, at half the maximum load. */
  maxP99Ms: 25,
  /** Peak resident memory of each Node process. */
  maxRssMb: 200,
};
const GROUP_SIZE = 100;
const PARTITIONS = 6;
const WARM_UP_SECONDS = 2;
const USER = 'bench';
const PASSWORD = randomBytes(18).toString('base64url');
const repoRoot = fileURLToPath(new URL('..', import.meta.url));

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '32' },
    'cpu-prof': { type: 'boolean', default: false },
    /** V8/Node flags for the ingress child only, e.g. "--max-semi-space-size=16", to try memory settings. */
    'child-node-options': { type: 'string', default: '' },
  },
});
const seconds = Number(args.seconds);
const concurrency = Number(args.concurrency);
if (!(seconds > 0 && seconds <= 600) || !(Number.isInteger(concurrency) && concurrency >= 1)) {
  process.stderr.write(
    'Usage: bench/ingress.ts [--seconds 1..600] [--concurrency C≥1] [--cpu-prof] [--child-node-options "…"]\n',
  );
  process.exit(2);
}
/** A bound on requests per phase whatever the speed, so a run always ends. */
const maxRequestsPerPhase = 2_000_000;

interface Phase {
  name: string;
  load: string;
  events: number;
  seconds: number;
  requests: number;
  failures: Map<string, number>;
  latency: LatencySummary | undefined;
  ingressRssMb?: number | undefined;
  /** The ingress's memory at the end of the phase (its /metrics): V8 heap used / total, external, MB. */
  ingressHeapMb?: string | undefined;
  benchRssMb?: number | undefined;
  cpu: Map<string, number>;
}

const logger = createLogger({ level: process.env.LOG_LEVEL ?? 'warn' });
const startedAt = performance.now();
let stack: Stack | undefined;
let ingressChild: ChildProcess | undefined;
let cleaning: Promise<void> | undefined;

/** Stops what the bench started, once: the ingress child, then the stack. */
function cleanUp(): Promise<void> {
  cleaning ??= (async () => {
    if (ingressChild && ingressChild.exitCode === null && ingressChild.signalCode === null) {
      ingressChild.kill('SIGKILL');
      await once(ingressChild, 'exit');
    }
    await stack?.stop();
  })();
  return cleaning;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`\n${signal}: stopping the ingress and the stack…\n`);
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
  const stackSeconds = (performance.now() - stackStarted) / 1000;
  const jvms = stack.external
    ? {}
    : Object.fromEntries(
        [
          ['broker', processInGroup(stack.pids[0] ?? -1, 'java')],
          ['registry', processInGroup(stack.pids[1] ?? -1, 'java')],
        ].filter((entry): entry is [string, number] => entry[1] !== undefined),
      );
  console.log(
    `stack: ${stack.external ? 'existing cluster' : 'local'} ${stack.brokers.join(',')} (ready in ${stackSeconds.toFixed(1)} s)`,
  );

  const events = mailjetEvents(7000);
  const singleBodies = events.map((text) => webhookBody(text, 1));
  const groupedBodies: WebhookBody[] = [];
  for (let i = 0; i + GROUP_SIZE <= events.length; i += GROUP_SIZE) {
    groupedBodies.push(webhookBody(`[${events.slice(i, i + GROUP_SIZE).join(',')}]`, GROUP_SIZE));
  }

  const kafka = createKafkaClient({ brokers: stack.brokers, clientId: 'bench-ingress', logger });
  try {
    const phases: Phase[] = [];
    const suffix = randomBytes(4).toString('hex');

    // 1. The raw Kafka client, on a topic of its own.
    const baselineTopic = `bench.baseline.${suffix}`;
    await kafka.ensureTopics([{ topic: baselineTopic, partitions: PARTITIONS }]);
    const serializer = await createSchemaRegistryClient(stack.registryUrl).serializer(
      valueSubject(baselineTopic),
      mailjetEventRawSchema,
    );
    const rawValues = events.map(toRawValue);
    const producer = await kafka.producer({ idempotent: true });
    const baseline = { producer, topic: baselineTopic, serializer, values: rawValues };
    let baselineAcked = 0;
    try {
      baselineAcked += (await produceLoop(baseline, 1, WARM_UP_SECONDS, {})).events;
      for (const perSend of [1, GROUP_SIZE]) {
        const phase = await produceLoop(baseline, perSend, seconds, { bench: 'self', ...jvms });
        phase.name = `raw client, ${perSend} event${perSend === 1 ? '' : 's'}/send`;
        phases.push(phase);
        baselineAcked += phase.events;
      }
    } finally {
      await producer.disconnect();
    }
    const baselineStored = await recordCount(kafka, baselineTopic);

    // 2 and 3. The ingress, in a process of its own.
    const rawTopic = `bench.raw.${suffix}`;
    const ingress = await startIngressChild(stack, rawTopic, `bench.dlq.${suffix}`);
    const idleMemory = memoryOf(ingress.pid);
    console.log(
      `ingress child: pid ${ingress.pid}, port ${ingress.port}, RSS at rest ${fmt(idleMemory?.rssMb, 0)} MB`,
    );
    const pids = { bench: 'self' as const, ingress: ingress.pid, ...jvms };
    const client = createLoadClient(
      {
        host: '127.0.0.1',
        port: ingress.port,
        path: '/webhooks/mailjet',
        headers: {
          'content-type': 'application/json',
          authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`,
        },
      },
      Math.max(concurrency, 256),
    );
    let ingressAcked = 0;
    const measure = async (name: string, load: string, run: () => Promise<LoadResult>) => {
      const memory = sampleMemory({ ingress: ingress.pid, bench: 'self' });
      const cpu = cpuMeter(pids);
      const result = await run();
      const cpuShares = cpu.stop();
      const peaks = memory.stop();
      ingressAcked += result.ackedEvents;
      const heap = await heapOf(ingress.port);
      const phase: Phase = {
        name,
        load,
        events: result.ackedEvents,
        seconds: result.seconds,
        requests: result.requests,
        failures: result.failures,
        latency: summarize(result.latenciesMs),
        ingressRssMb: peaks.get('ingress'),
        ingressHeapMb: heap,
        benchRssMb: peaks.get('bench'),
        cpu: cpuShares,
      };
      phases.push(phase);
      return phase;
    };
    try {
      // JIT and connection warm-up, not reported (its events count in the topic check).
      for (const bodies of [singleBodies, groupedBodies]) {
        const warm = await closedLoop({
          client,
          bodies,
          concurrency,
          seconds: WARM_UP_SECONDS / 2,
          maxRequests: maxRequestsPerPhase,
        });
        ingressAcked += warm.ackedEvents;
      }
      const scenarios = [
        { label: 'A: 1 event/body', bodies: singleBodies },
        { label: `B: ${GROUP_SIZE} events/body`, bodies: groupedBodies },
      ];
      const maxima = new Map<string, Phase>();
      for (const { label, bodies } of scenarios) {
        const phase = await measure(`ingress ${label}`, `closed, C=${concurrency}`, () =>
          closedLoop({ client, bodies, concurrency, seconds, maxRequests: maxRequestsPerPhase }),
        );
        maxima.set(label, phase);
      }
      for (const { label, bodies } of scenarios) {
        const max = maxima.get(label) as Phase;
        const eventsPerBody = bodies[0]?.events ?? 1;
        const requestsPerSecond = Math.max(1, max.events / max.seconds / 2 / eventsPerBody);
        await measure(`ingress ${label}, 50%`, `open, ${requestsPerSecond.toFixed(0)} req/s`, () =>
          openLoop({ client, bodies, requestsPerSecond, seconds }),
        );
      }
    } finally {
      client.close();
    }
    const ingressMemory = memoryOf(ingress.pid);
    const stopped = await ingress.stop();
    const stored = await recordCount(kafka, rawTopic);
    const benchMemory = memoryOf('self');

    printPhases(phases);
    console.log(`ingress child: stopped with ${stopped}; ${ingress.warnings()} warn/error log lines`);
    for (const line of ingress.lastProblems()) console.log(`  ${line}`);
    if (args['cpu-prof']) console.log(`ingress CPU profile: ${ingress.profileDir}`);
    const lost = stored < ingressAcked || baselineStored < baselineAcked;
    printTargets(phases, {
      ingressPeakMb: ingressMemory?.peakMb,
      benchPeakMb: benchMemory?.peakMb,
      acked: ingressAcked,
      stored,
    });
    console.log(
      `raw client check: baseline topic holds ${baselineStored} records, ${baselineAcked} acked` +
        (baselineStored < baselineAcked ? ' (LOST RECORDS)' : ''),
    );
    console.log(`total ${((performance.now() - startedAt) / 1000).toFixed(1)} s`);
    return lost ? 1 : 0;
  } finally {
    await kafka.close();
  }
}

/** `count` events of all seven types, each with a recipient and MessageID of its own, as Mailjet's text. */
function mailjetEvents(count: number): string[] {
  const samples = Object.values(mailjetSamples);
  return Array.from({ length: count }, (_, i) =>
    (samples[i % samples.length] as string)
      .replace(/"email":"[^"]*"/, `"email":"recipient-${i % 5000}@example.com"`)
      .replace(/"MessageID":\d+/, `"MessageID":${19421777835146490n + BigInt(i)}`),
  );
}

function webhookBody(text: string, events: number): WebhookBody {
  return {
    bytes: Buffer.from(text),
    events,
    expectedAnswer: JSON.stringify({ stored: events, deadLettered: 0 }),
  };
}

/** The value the ingress would write for an event, read with the ingress's own (pure) body reader. */
function toRawValue(text: string): MailjetEventRaw {
  const event = readWebhookBody(Buffer.from(text)).accepted[0];
  if (!event) throw new Error(`bench event not accepted by the ingress reader: ${text}`);
  return rawEventValue(event, { requestId: randomBytes(16).toString('hex'), receivedAt: Date.now() });
}

/**
 * C concurrent senders, each encoding `perSend` events and awaiting their ack before the next send.
 * Encoding is inside the loop: the ingress pays for it too.
 */
async function produceLoop(
  target: { producer: Producer; topic: string; serializer: AvroSerializer; values: MailjetEventRaw[] },
  perSend: number,
  phaseSeconds: number,
  pids: Record<string, number | 'self'>,
): Promise<Phase> {
  const { producer, topic, serializer, values } = target;
  const latencies: number[] = [];
  const failures = new Map<string, number>();
  let next = 0;
  let acked = 0;
  let requests = 0;
  const memory = sampleMemory({ bench: 'self' });
  const cpu = cpuMeter(pids);
  const started = performance.now();
  const deadline = started + phaseSeconds * 1000;
  const sender = async () => {
    while (performance.now() < deadline && requests < maxRequestsPerPhase) {
      const sendStarted = performance.now();
      const receivedAt = Date.now();
      const records: OutgoingRecord[] = [];
      for (let i = 0; i < perSend; i++) {
        const value = values[next++ % values.length] as MailjetEventRaw;
        value.received_at = receivedAt;
        records.push({ key: value.email, value: serializer.encode(value) });
      }
      requests++;
      try {
        await producer.send([{ topic, records }]);
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
    name: '',
    load: `C=${concurrency} senders`,
    events: acked,
    seconds: (performance.now() - started) / 1000,
    requests,
    failures,
    latency: summarize(latencies),
    benchRssMb: memory.stop().get('bench'),
    cpu: cpu.stop(),
  };
}

interface IngressChild {
  pid: number;
  port: number;
  profileDir: string | undefined;
  warnings(): number;
  lastProblems(): string[];
  /** SIGTERM, as an orchestrator would; resolves with how it ended. */
  stop(): Promise<string>;
}

/** `bin/mailjet-connector.ts ingress` in a child process, on a free loopback port, with topics of its own. */
async function startIngressChild(
  cluster: Stack,
  rawTopic: string,
  deadLetterTopic: string,
): Promise<IngressChild> {
  const profileDir = args['cpu-prof'] ? mkdtempSync(join(tmpdir(), 'ingress-profile-')) : undefined;
  // Through the project's launcher, which execs Node with the memory settings every way of running
  // the service uses: the figures are those of the real process, not of a bare `node`.
  const nodeOptions = [
    ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
    args['child-node-options'],
  ].join(' ');
  const child = spawn(join(repoRoot, 'mailjet-connector'), ['ingress'], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH,
      LOG_LEVEL: 'info',
      KAFKA_BROKERS: cluster.brokers.join(','),
      SCHEMA_REGISTRY_URL: cluster.registryUrl,
      INGRESS_HOST: '127.0.0.1',
      INGRESS_PORT: '0',
      INGRESS_BASIC_AUTH_USER: USER,
      INGRESS_BASIC_AUTH_PASSWORD: PASSWORD,
      RAW_TOPIC: rawTopic,
      DEAD_LETTER_TOPIC: deadLetterTopic,
      TOPIC_PARTITIONS: String(PARTITIONS),
      ...(nodeOptions.trim() ? { NODE_OPTIONS: nodeOptions.trim() } : {}),
    },
  });
  ingressChild = child;
  const exited = once(child, 'exit').then(([code, signal]) => (signal ? `signal ${signal}` : `exit ${code}`));
  let warnings = 0;
  const problems: string[] = [];
  const stderr: string[] = [];
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => {
    stderr.push(line);
    if (stderr.length > 20) stderr.shift();
  });
  // The pipe must be read to the end, or the child blocks on a full pipe while it logs.
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const listening = new Promise<number>((resolve) => {
    lines.on('line', (line) => {
      let entry: { msg?: string; level?: string; port?: number };
      try {
        entry = JSON.parse(line);
      } catch {
        return;
      }
      if (entry.msg === 'ingress listening' && typeof entry.port === 'number') resolve(entry.port);
      if (entry.level === 'warn' || entry.level === 'error' || entry.level === 'fatal') {
        warnings++;
        problems.push(line.slice(0, 300));
        if (problems.length > 5) problems.shift();
      }
    });
  });
  const port = await Promise.race([
    listening,
    exited.then((how) => {
      throw new Error(`the ingress child ended (${how}) before listening:\n${stderr.join('\n')}`);
    }),
    sleep(60_000, undefined, { ref: false }).then(() => {
      throw new Error('the ingress child did not log "ingress listening" within 60 s');
    }),
  ]);
  return {
    pid: child.pid as number,
    port,
    profileDir,
    warnings: () => warnings,
    lastProblems: () => problems,
    async stop() {
      child.kill('SIGTERM');
      const timeout = sleep(30_000, undefined, { ref: false }).then(() => 'timeout' as const);
      const how = await Promise.race([exited, timeout]);
      if (how !== 'timeout') return how;
      child.kill('SIGKILL');
      return `SIGKILL after 30 s (${await exited})`;
    },
  };
}

/** Used and total V8 heap of the ingress, from the Node metrics on its /metrics page. */
async function heapOf(port: number): Promise<string | undefined> {
  try {
    const page = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const mb = (name: string) =>
      Number(new RegExp(`^mailjet_ingress_${name} (\\S+)`, 'm').exec(page)?.[1] ?? NaN) / 2 ** 20;
    return ['nodejs_heap_size_used_bytes', 'nodejs_heap_size_total_bytes', 'nodejs_external_memory_bytes']
      .map((name) => mb(name).toFixed(0))
      .join('/');
  } catch {
    return undefined;
  }
}

async function recordCount(kafka: KafkaClient, topic: string): Promise<number> {
  let total = 0;
  for (const offset of (await kafka.endOffsets(topic)).values()) total += Number(offset);
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
    `run: ${seconds} s per phase, ${WARM_UP_SECONDS} s warm-up each for the raw client and the ingress, C=${concurrency}`,
  );
}

const fmt = (value: number | undefined, digits = 1) => (value === undefined ? 'n/a' : value.toFixed(digits));
const rate = (phase: Phase | undefined) => (phase ? phase.events / phase.seconds : 0);

function printPhases(phases: Phase[]): void {
  const header = [
    'phase',
    'load',
    'events/s',
    'req/s',
    'p50 ms',
    'p99 ms',
    'max ms',
    'non-200',
    'ingress RSS MB',
    'ingress heap used/total/ext MB',
    'bench RSS MB',
    'CPU cores: bench/ingress/broker/registry/all',
    's',
  ];
  const rows = phases.map((p) => [
    p.name,
    p.load,
    rate(p).toFixed(0),
    (p.requests / p.seconds).toFixed(0),
    fmt(p.latency?.p50, 2),
    fmt(p.latency?.p99, 2),
    fmt(p.latency?.max, 1),
    String([...p.failures.values()].reduce((a, b) => a + b, 0)),
    fmt(p.ingressRssMb, 0),
    p.ingressHeapMb ?? 'n/a',
    fmt(p.benchRssMb, 0),
    ['bench', 'ingress', 'broker', 'registry', 'machine'].map((label) => fmt(p.cpu.get(label), 2)).join('/'),
    p.seconds.toFixed(1),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i < 2 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ');
  console.log();
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
  console.log();
  for (const p of phases) {
    for (const [reason, count] of p.failures) console.log(`${p.name}: ${count} × ${reason}`);
  }
}

function printTargets(
  phases: Phase[],
  totals: {
    ingressPeakMb: number | undefined;
    benchPeakMb: number | undefined;
    acked: number;
    stored: number;
  },
): void {
  const find = (prefix: string) => phases.find((p) => p.name.startsWith(prefix));
  const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');
  const ratio = (ingress: string, raw: string) => rate(find(ingress)) / rate(find(raw));
  const single = ratio('ingress A: 1 event/body', 'raw client, 1 event/send');
  const grouped = ratio(`ingress B: ${GROUP_SIZE} events/body`, `raw client, ${GROUP_SIZE} events/send`);
  const halfA = find('ingress A: 1 event/body, 50%')?.latency?.p99;
  const halfB = find(`ingress B: ${GROUP_SIZE} events/body, 50%`)?.latency?.p99;
  const nonOk = phases
    .filter((p) => p.name.startsWith('ingress'))
    .reduce((sum, p) => sum + [...p.failures.values()].reduce((a, b) => a + b, 0), 0);
  const rows: [string, string, boolean][] = [
    [
      `ingress / raw client, 1 event per body/send ≥ ${TARGETS.minRatio}`,
      single.toFixed(2),
      single >= TARGETS.minRatio,
    ],
    [
      `ingress / raw client, ${GROUP_SIZE} events per body/send ≥ ${TARGETS.minRatio}`,
      grouped.toFixed(2),
      grouped >= TARGETS.minRatio,
    ],
    [
      `p99 ack at 50% load, 1 event/body ≤ ${TARGETS.maxP99Ms} ms`,
      `${fmt(halfA, 2)} ms`,
      halfA !== undefined && halfA <= TARGETS.maxP99Ms,
    ],
    [
      `p99 ack at 50% load, ${GROUP_SIZE} events/body ≤ ${TARGETS.maxP99Ms} ms`,
      `${fmt(halfB, 2)} ms`,
      halfB !== undefined && halfB <= TARGETS.maxP99Ms,
    ],
    [
      `ingress process peak RSS (VmHWM) ≤ ${TARGETS.maxRssMb} MB`,
      `${fmt(totals.ingressPeakMb, 0)} MB`,
      totals.ingressPeakMb !== undefined && totals.ingressPeakMb <= TARGETS.maxRssMb,
    ],
    ['every webhook answered 200, all events stored', `${nonOk} non-200`, nonOk === 0],
    [
      'raw topic records ≥ events acked (nothing lost)',
      `${totals.stored} ≥ ${totals.acked}`,
      totals.stored >= totals.acked,
    ],
  ];
  const width = Math.max(...rows.map((r) => r[0].length));
  console.log('targets:');
  for (const [what, value, ok] of rows) console.log(`  ${verdict(ok)}  ${what.padEnd(width)}  ${value}`);
  // The load generator is not the product; its memory is shown so a reader can tell it did not swap.
  console.log(
    `  info  ${'bench process (load generator) peak RSS'.padEnd(width)}  ${fmt(totals.benchPeakMb, 0)} MB`,
  );
}
