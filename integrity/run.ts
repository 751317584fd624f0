/**
 * The integrity lane: runs the real processes, injects faults at seeded random moments while a
 * Mailjet-like sender posts webhooks, reads every topic and the local Segment server back, and counts.
 * One JSON line per run, then one summary line per scenario; the results go to
 * bench/results/integrity.json, which `npm run docs` renders into docs/reliability.md.
 *
 *   npm run integrity [-- --quick] [--scenario NAME] [--seeds N] [--seed S] [--parallel N] [--results-dir DIR]
 *
 * Exits 1 when a run lost an acked event, delivered one Mailjet event under two messageIds, broke a
 * scenario's own requirement, or did not catch up.
 */
import { randomInt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  benchLogger,
  checkFlags,
  parseFlags,
  printMachine,
  printTable,
  printTargets,
  resultsDir,
  runBench,
  startBenchStack,
  writeResults,
} from '../bench/harness.ts';
import { createKafkaClient } from '../core/kafka.ts';
import { createSchemaRegistryClient } from '../core/schema-registry.ts';
import { freePort } from '../stack/free-port.ts';
import { existingCluster, loadStackConfig } from '../stack/local-stack.ts';
import { type ToxicProxy, ToxiproxyServer } from '../stack/toxiproxy.ts';
import { waitCaughtUp } from './caught-up.ts';
import { countRun, type RunFigures, type RunRecords, summarize } from './count.ts';
import { summarizeDestination } from './destination-count.ts';
import { type DestinationRunLine, runDestinationOnce } from './destination-run.ts';
import { mailjetSender } from './mailjet-sender.ts';
import { authorization, Pipeline } from './pipeline.ts';
import {
  deadLetteredEvents,
  normalizedEvents,
  rawMessageIds,
  readTopic,
  segmentEvents,
} from './read-back.ts';
import { runPool } from './run-pool.ts';
import { type AnyScenario, isDestinationScenario, type Scenario } from './scenario.ts';
import { scenarioNames, scenarios } from './scenarios.ts';
import { seededRandom } from './seeded-random.ts';

const usage =
  'npm run integrity -- [--quick] [--scenario NAME] [--seeds N] [--seed S] [--parallel N] [--results-dir DIR]\n' +
  `  scenarios: ${scenarioNames.join(', ')}`;
const { values: args } = parseFlags(usage, {
  options: {
    quick: { type: 'boolean', default: false },
    scenario: { type: 'string', multiple: true },
    seeds: { type: 'string' },
    parallel: { type: 'string' },
    seed: { type: 'string' },
    'results-dir': { type: 'string' },
  },
});
const isCount = (text: string | undefined) => text === undefined || /^[1-9]\d*$/.test(text);
checkFlags(usage, [
  isCount(args.seeds),
  isCount(args.parallel),
  args.seed === undefined || /^\d+$/.test(args.seed),
  (args.scenario ?? []).every((name) => scenarioNames.includes(name)),
]);

const quick = args.quick;
/** Quick mode: one seed per scenario, a short load (the default test command runs it). */
const load = quick
  ? { seconds: 10, bodiesPerSecond: 20, maxEventsPerBody: 5, seeds: 1 }
  : { seconds: 30, bodiesPerSecond: 50, maxEventsPerBody: 5, seeds: 20 };
/** The destination's runs: identify calls over few contacts, so each contact is written many times. */
const destinationLoad = { ...load, maxCallsPerBody: load.maxEventsPerBody, contacts: quick ? 40 : 100 };
const seedsPerScenario = args.seed !== undefined ? 1 : Number(args.seeds ?? load.seeds);
/**
 * Runs at a time (scenarios that fault the stack always run alone). More than one puts the runs under
 * each other's load too: their recovery figures say so, their counts must hold all the same.
 */
const parallel = Number(args.parallel ?? (quick ? 2 : 3));
const chosen = scenarios.filter((s) => args.scenario === undefined || args.scenario.includes(s.name));
/** After the load: how long the sender keeps retrying unacked bodies, and the pipeline may take to catch up. */
const SENDER_GRACE_MS = 60_000;
const CAUGHT_UP_TIMEOUT_MS = 120_000;

export interface RunLine extends RunFigures {
  scenario: string;
  seed: number;
  /** From the end of the last fault (or of the load, if later) to caught up; null when it never was. */
  recovery_s: number | null;
  /** Bodies the sender never got a 200 for (Mailjet would still hold them). */
  unacked_bodies: number;
  answers: Record<string, number>;
  /** How each process the scenario stopped ended. */
  endings: string[];
  /** What the scenario injected, in its own figures. */
  scenario_figures?: Record<string, unknown>;
  failures: string[];
  /** A failed run's folder of service logs (ingress.log, connector-N.log), kept for whoever looks into it. */
  logs?: string;
}

// Without an existing cluster, the stack keeps its data in a folder of its own for the whole lane, so a
// broker restarted by a scenario finds its log again; removed when the lane ends.
let dataDir: string | undefined;
if (process.env.KAFKA_BROKERS === undefined && process.env.LOCAL_STACK_DATA_DIR === undefined) {
  dataDir = mkdtempSync(join(tmpdir(), 'integrity-stack-'));
  process.env.LOCAL_STACK_DATA_DIR = dataDir;
}

// Scenarios whose services reach the broker through the fault proxy: the lane's own broker gets a
// listener advertised at the proxy's port (an existing cluster cannot be given one).
const proxyNeeded = chosen.some((s) => 'kafkaThroughProxy' in s && s.kafkaThroughProxy);
let toxiproxy: ToxiproxyServer | undefined;

runBench({
  stopping: 'the integrity lane and its stack',
  async main() {
    printMachine(
      `${quick ? 'quick' : 'long'}: ${seedsPerScenario} seed(s) per scenario, ${load.seconds} s of load at ` +
        `${load.bodiesPerSecond} webhooks/s (single and grouped, up to ${load.maxEventsPerBody} events), ` +
        `${parallel} run(s) at a time (those that fault the stack alone)`,
    );
    // Checked before anything starts: such a run would fail minutes later, or worse pass untested.
    const faultingTheStack = chosen.filter(needsOwnStack).map((s) => s.name);
    if (faultingTheStack.length > 0 && existingCluster(loadStackConfig())) {
      process.stderr.write(
        `${faultingTheStack.join(', ')}: these scenarios stop the broker or the schema registry, or put a fault proxy in front of the broker, so they ` +
          "need the lane's own stack, and KAFKA_BROKERS names an existing cluster, which is not the " +
          "lane's to stop. Unset KAFKA_BROKERS and SCHEMA_REGISTRY_URL (the lane then starts a stack of its " +
          'own on free ports), or leave those scenarios out with --scenario.\n',
      );
      return 1;
    }
    if (proxyNeeded) process.env.LOCAL_KAFKA_PROXIED_ADVERTISED_PORT = String(await freePort());
    const { stack } = await startBenchStack();
    let kafkaProxy: ToxicProxy | undefined;
    if (stack.proxied) {
      toxiproxy = await ToxiproxyServer.start();
      kafkaProxy = await toxiproxy.proxy('kafka', stack.proxied.advertised, stack.proxied.bound);
    }
    const jobs = chosen.flatMap((scenario) =>
      Array.from({ length: seedsPerScenario }, () => ({
        scenario,
        seed: args.seed !== undefined ? Number(args.seed) : randomInt(2 ** 31),
      })),
    );
    const lines: (RunLine | DestinationRunLine)[] = await runPool(jobs, {
      parallel,
      exclusive: ({ scenario }) => needsOwnStack(scenario),
      run: ({ scenario, seed }): Promise<RunLine | DestinationRunLine> =>
        isDestinationScenario(scenario)
          ? runDestinationOnce(stack, scenario, seed, destinationLoad, quick)
          : runOnce(stack, scenario, seed, scenario.kafkaThroughProxy ? kafkaProxy : undefined),
      onResult: (line) => console.log(JSON.stringify(line)),
    });
    const summaries = chosen.map((scenario) =>
      isDestinationScenario(scenario)
        ? summarizeDestination(
            scenario.name,
            lines.filter((line): line is DestinationRunLine => line.scenario === scenario.name),
          )
        : summarize(
            scenario.name,
            lines.filter((line): line is RunLine => line.scenario === scenario.name),
          ),
    );
    for (const summary of summaries) console.log(JSON.stringify({ summary: true, ...summary }));
    report(lines, summaries);
    writeResults(
      'integrity',
      undefined,
      args['results-dir'] ? pathToFileURL(`${resolve(args['results-dir'])}/`) : resultsDir,
      commandLine(),
    );
    return lines.every((line) => line.failures.length === 0) ? 0 : 1;
  },
  async cleanUp() {
    await toxiproxy?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  },
});

async function runOnce(
  stack: Awaited<ReturnType<typeof startBenchStack>>['stack'],
  scenario: Scenario,
  seed: number,
  kafkaProxy: ToxicProxy | undefined,
): Promise<RunLine> {
  // Two streams of the seed: the bodies' choices and the faults' never take each other's numbers, so
  // whatever the timing interleaves, a seed makes the same bodies and the same fault moments.
  const bodiesRandom = seededRandom(seed);
  const faultsRandom = seededRandom(seed ^ 0x5bd1e995);
  const loadMs = load.seconds * 1000;
  const expectedEvents = Math.ceil(load.seconds * load.bodiesPerSecond * load.maxEventsPerBody * 1.5);
  const pipeline = await Pipeline.start(
    stack,
    scenario.name,
    expectedEvents + 10_000,
    scenario.connectorEnv,
    scenario.shape,
    kafkaProxy ? [kafkaProxy.listen] : undefined,
  );
  const kafka = createKafkaClient({ brokers: stack.brokers, clientId: 'integrity', logger: benchLogger });
  const registry = createSchemaRegistryClient(stack.registryUrl);
  const failures: string[] = [];
  const messageIdPrefix = String(seed);
  try {
    const sender = mailjetSender({
      url: pipeline.webhookUrl,
      authorization,
      random: bodiesRandom,
      bodiesPerSecond: load.bodiesPerSecond,
      maxEventsPerBody: load.maxEventsPerBody,
      messageIdPrefix,
      retryMs: [200, 2000],
      requestTimeoutMs: 10_000,
    });
    sender.start(loadMs);
    const loadEnds = performance.now() + loadMs;
    const injected = await scenario.inject({
      pipeline,
      stack,
      random: faultsRandom,
      kafka,
      registry,
      loadMs,
      eventsPerSecond: load.bodiesPerSecond,
      messageIdPrefix,
      quick,
      kafkaProxy,
    });
    const faultsEnded = performance.now();
    await sleepUntil(loadEnds);
    const sent = await sender.finish(SENDER_GRACE_MS);
    const recoveryFrom = Math.max(faultsEnded, loadEnds);
    let recovery_s: number | null = null;
    try {
      await waitCaughtUp(kafka, {
        groupId: pipeline.groupId,
        rawTopic: pipeline.topics.RAW_TOPIC,
        sinkGroupId: `${pipeline.groupId}-segment`,
        normalizedTopic: pipeline.topics.NORMALIZED_TOPIC,
        deadLetterTopic: pipeline.topics.DEAD_LETTER_TOPIC,
        segmentUrl: pipeline.segmentUrl,
        acked: sent.acked,
        timeoutMs: CAUGHT_UP_TIMEOUT_MS,
      });
      recovery_s = Number(((performance.now() - recoveryFrom) / 1000).toFixed(1));
    } catch (err) {
      failures.push((err as Error).message);
    }
    const [raw, normalized, deadLetters] = await Promise.all([
      readTopic(kafka, pipeline.topics.RAW_TOPIC),
      readTopic(kafka, pipeline.topics.NORMALIZED_TOPIC),
      readTopic(kafka, pipeline.topics.DEAD_LETTER_TOPIC),
    ]);
    const records: RunRecords = {
      posted: sent.posted,
      acked: sent.acked,
      raw: await rawMessageIds(raw, registry),
      normalized: await normalizedEvents(normalized, registry),
      deadLetters: await deadLetteredEvents(deadLetters, registry),
      segment: await segmentEvents(pipeline.segmentUrl),
    };
    const figures = countRun(records);
    if (figures.lost > 0) failures.push(`lost ${figures.lost} acked events`);
    if (figures.segment_effective_duplicates > 0) {
      failures.push(
        `${figures.segment_effective_duplicates} Mailjet events reached Segment under two messageIds`,
      );
    }
    if (figures.normalized_beyond_raw > 0) {
      failures.push(
        `${figures.normalized_beyond_raw} normalized records beyond one per raw record: the normalizer wrote a raw record twice`,
      );
    }
    failures.push(...(scenario.check?.(records, injected) ?? []));
    // Every process a scenario stopped was started again, and every one it did not stop still runs: one
    // not running now ended by itself (a crash, or a start that gave up) and never recovered.
    const running = [
      ['ingress', pipeline.ingress],
      ...pipeline.connectors.map((child) => ['connector', child] as const),
    ] as const;
    for (const [which, child] of running) {
      if (child && !child.alive()) failures.push(`the ${which} ended by itself (${await child.exited})`);
    }
    if (sent.acked.size === 0) failures.push('no webhook was acked: the run tested nothing');
    return {
      scenario: scenario.name,
      seed,
      ...figures,
      recovery_s,
      unacked_bodies: sent.unackedBodies,
      answers: sent.answers,
      endings: pipeline.endings,
      ...(scenario.figures ? { scenario_figures: scenario.figures(injected) } : {}),
      failures,
      ...pipeline.logs.verdict(failures),
    };
  } finally {
    // Healed whatever the scenario left, so the services stop as they would on a sound network.
    await toxiproxy?.reset();
    await pipeline.close();
    await kafka.close();
  }
}

/**
 * Whether a scenario's faults reach past its own processes: it stops the broker or the registry, or puts
 * the fault proxy in front of the broker. Such a run needs the lane's own stack, and runs alone.
 */
function needsOwnStack(scenario: AnyScenario): boolean {
  return (
    ('faultsTheStack' in scenario && scenario.faultsTheStack === true) ||
    ('kafkaThroughProxy' in scenario && scenario.kafkaThroughProxy === true)
  );
}

/** The command this lane was run with, as the results file names it (its results folder left out). */
function commandLine(): string {
  const flags = process.argv.slice(2);
  const at = flags.findIndex((flag) => flag === '--results-dir' || flag.startsWith('--results-dir='));
  if (at >= 0) flags.splice(at, flags[at] === '--results-dir' ? 2 : 1);
  return flags.length === 0 ? 'npm run integrity' : `npm run integrity -- ${flags.join(' ')}`;
}

async function sleepUntil(at: number): Promise<void> {
  const wait = at - performance.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}

/** The runs and the summaries as the results file's tables, and each scenario's requirements as targets. */
function report(
  lines: (RunLine | DestinationRunLine)[],
  summaries: (ReturnType<typeof summarize> | ReturnType<typeof summarizeDestination>)[],
): void {
  // A destination run has no Segment or normalized topic: its list checks are its own targets.
  const notApplicable = '—';
  printTable(
    [
      'scenario',
      'seed',
      'posted',
      'acked',
      'in Segment',
      'dead-lettered',
      'lost',
      'Segment dups',
      'normalized dups',
      'recovery s',
    ],
    lines.map((line) => [
      line.scenario,
      String(line.seed),
      String(line.posted),
      String(line.acked),
      'delivered_distinct' in line ? String(line.delivered_distinct) : notApplicable,
      String(line.dead_lettered),
      String(line.lost),
      'segment_effective_duplicates' in line ? String(line.segment_effective_duplicates) : notApplicable,
      'normalized_duplicates' in line ? String(line.normalized_duplicates) : notApplicable,
      line.recovery_s === null ? 'never' : String(line.recovery_s),
    ]),
    2,
  );
  printTargets(
    summaries.flatMap((summary) => {
      const runs = lines.filter((line) => line.scenario === summary.scenario);
      const own =
        'max_contacts_wrong' in summary
          ? [
              `${summary.scenario}: contact list exact (no contact missing, extra or stale)`,
              `max ${summary.max_contacts_wrong}`,
              summary.max_contacts_wrong === 0,
            ]
          : [
              `${summary.scenario}: Segment duplicates = 0`,
              `max ${summary.max_segment_effective_duplicates}`,
              summary.max_segment_effective_duplicates === 0,
            ];
      return [
        [
          `${summary.scenario}: lost = 0 in ${summary.runs} runs`,
          `max ${summary.max_lost}`,
          summary.max_lost === 0,
        ],
        own,
        [
          `${summary.scenario}: caught up, and the scenario's own checks held`,
          `recovery p50 ${summary.recovery_p50_s ?? 'n/a'} s, max ${summary.recovery_max_s ?? 'n/a'} s`,
          runs.every((line) => line.failures.length === 0),
        ],
      ] as [string, string, boolean][];
    }),
  );
}
