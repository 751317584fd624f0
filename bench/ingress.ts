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
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKafkaClient, type OutgoingRecord, type Producer } from '../core/kafka.ts';
import { type AvroSerializer, createSchemaRegistryClient } from '../core/schema-registry.ts';
import { rawEventValue } from '../ingress/event-publisher.ts';
import { readWebhookBody } from '../ingress/webhook-body.ts';
import { type MailjetEventRaw, mailjetEventRawSchema, valueSubject } from '../schemas/index.ts';
import type { Stack } from '../stack/local-stack.ts';
import { mailjetSamples } from '../test/fixtures/mailjet-events.ts';
import {
  benchLogger,
  checkFlags,
  fmt,
  parseFlags,
  printMachine,
  printTargets,
  recordCount,
  runBench,
  secondsSinceStart,
  startBenchStack,
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
import { memoryOf } from './process-stats.ts';
import { repoRoot, type ServiceChild, startService } from './service-child.ts';

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

const USAGE =
  'bench/ingress.ts [--seconds 1..600] [--concurrency C≥1] [--cpu-prof] [--child-node-options "…"]';
const { values: args } = parseFlags(USAGE, {
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
checkFlags(USAGE, [seconds > 0 && seconds <= 600, Number.isInteger(concurrency) && concurrency >= 1]);
runBench({ stopping: 'the ingress and the stack', main });

async function main(): Promise<number> {
  printMachine(
    `${seconds} s per phase, ${WARM_UP_SECONDS} s warm-up each for the raw client and the ingress, C=${concurrency}`,
  );
  const { stack, jvms } = await startBenchStack();

  const events = mailjetEvents(7000);
  const singleBodies = events.map((text) => webhookBody(text, 1));
  const groupedBodies: WebhookBody[] = [];
  for (let i = 0; i + GROUP_SIZE <= events.length; i += GROUP_SIZE) {
    groupedBodies.push(webhookBody(`[${events.slice(i, i + GROUP_SIZE).join(',')}]`, GROUP_SIZE));
  }

  const kafka = createKafkaClient({ brokers: stack.brokers, clientId: 'bench-ingress', logger: benchLogger });
  try {
    const phases: IntakePhase[] = [];
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
    const raw = rawClientLoad({
      concurrency,
      pids: { bench: 'self', ...jvms },
      phases,
      senderOf: (perSend) => eventSender(baseline, perSend),
    });
    try {
      await raw.warmUp(WARM_UP_SECONDS);
      for (const perSend of [1, GROUP_SIZE]) {
        await raw.phase(`raw client, ${perSend} event${perSend === 1 ? '' : 's'}/send`, perSend, seconds);
      }
    } finally {
      await producer.disconnect();
    }
    const baselineAcked = raw.acked();
    const baselineStored = await recordCount(kafka, baselineTopic);

    // 2 and 3. The ingress, in a process of its own.
    const rawTopic = `bench.raw.${suffix}`;
    const ingress = await startIngressChild(stack, rawTopic, `bench.dlq.${suffix}`);
    const idleMemory = memoryOf(ingress.pid);
    console.log(
      `ingress child: pid ${ingress.pid}, port ${ingress.port}, RSS at rest ${fmt(idleMemory?.rssMb, 0)} MB`,
    );
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
    const load = intakeLoad({
      service: { pid: ingress.pid, port: ingress.port, metricPrefix: 'mailjet_ingress' },
      pids: { bench: 'self', ingress: ingress.pid, ...jvms },
      namePrefix: 'ingress',
      concurrency,
      seconds,
      warmUpSeconds: WARM_UP_SECONDS,
      phases,
    });
    const scenarios = [
      { label: 'A: 1 event/body', client, bodies: singleBodies },
      { label: `B: ${GROUP_SIZE} events/body`, client, bodies: groupedBodies },
    ];
    try {
      await load.warmUp(scenarios);
      const maxima: IntakePhase[] = [];
      for (const scenario of scenarios) maxima.push(await load.closed(scenario));
      for (const [i, scenario] of scenarios.entries()) await load.half(scenario, maxima[i] as IntakePhase);
    } finally {
      client.close();
    }
    const ingressAcked = load.acked();
    const ingressMemory = memoryOf(ingress.pid);
    const stopped = await ingress.stop();
    const stored = await recordCount(kafka, rawTopic);
    const benchMemory = memoryOf('self');

    printIntakePhases(phases, {
      service: 'ingress',
      unit: 'events',
      heapHeader: 'ingress peak heap used/total/ext MB',
    });
    console.log(`ingress child: stopped with ${stopped}; ${ingress.warnings()} warn/error log lines`);
    for (const line of ingress.lastProblems()) console.log(`  ${line}`);
    if (args['cpu-prof']) console.log(`ingress CPU profile: ${ingress.profileDir}`);
    const lost = stored < ingressAcked || baselineStored < baselineAcked;
    printIngressTargets(phases, {
      ingressIdleMb: idleMemory?.rssMb,
      ingressPeakMb: ingressMemory?.peakMb,
      benchPeakMb: benchMemory?.peakMb,
      acked: ingressAcked,
      stored,
    });
    console.log(
      `raw client check: baseline topic holds ${baselineStored} records, ${baselineAcked} acked` +
        (baselineStored < baselineAcked ? ' (LOST RECORDS)' : ''),
    );
    writeResults('ingress');
    console.log(`total ${secondsSinceStart()} s`);
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

/** One send of the raw client: the next `perSend` events, Avro-encoded as the ingress encodes them. */
function eventSender(
  target: { producer: Producer; topic: string; serializer: AvroSerializer; values: MailjetEventRaw[] },
  perSend: number,
): () => Promise<void> {
  const { producer, topic, serializer, values } = target;
  let next = 0;
  return async () => {
    const receivedAt = Date.now();
    const records: OutgoingRecord[] = [];
    for (let i = 0; i < perSend; i++) {
      const value = values[next++ % values.length] as MailjetEventRaw;
      value.received_at = receivedAt;
      records.push({ key: value.email, value: serializer.encode(value) });
    }
    await producer.send([{ topic, records }]);
  };
}

interface IngressChild extends ServiceChild {
  profileDir: string | undefined;
}

/**
 * `bin/mailjet-connector.ts ingress` in a child process, on a free loopback port, with topics of its
 * own; ready when it logs "ingress listening".
 */
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
  const child = await startService({
    what: 'the ingress child',
    command: join(repoRoot, 'mailjet-connector'),
    args: ['ingress'],
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
    readyMessage: 'ingress listening',
    keepProblems: 5,
  });
  return { ...child, profileDir };
}

function printIngressTargets(
  phases: IntakePhase[],
  totals: {
    ingressIdleMb: number | undefined;
    ingressPeakMb: number | undefined;
    benchPeakMb: number | undefined;
    acked: number;
    stored: number;
  },
): void {
  const nonOk = failedRequests(phases, 'ingress');
  printTargets(
    [
      ...intakeTargets(phases, {
        namePrefix: 'ingress',
        minRatio: TARGETS.minRatio,
        maxP99Ms: TARGETS.maxP99Ms,
        scenarios: [
          {
            label: 'A: 1 event/body',
            rawName: 'raw client, 1 event/send',
            per: '1 event per body/send',
            p99Of: '1 event/body',
          },
          {
            label: `B: ${GROUP_SIZE} events/body`,
            rawName: `raw client, ${GROUP_SIZE} events/send`,
            per: `${GROUP_SIZE} events per body/send`,
            p99Of: `${GROUP_SIZE} events/body`,
          },
        ],
      }),
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
    ],
    [
      ['ingress process RSS at rest (before the load)', `${fmt(totals.ingressIdleMb, 0)} MB`],
      // The load generator is not the product; its memory is shown so a reader can tell it did not swap.
      ['bench process (load generator) peak RSS', `${fmt(totals.benchPeakMb, 0)} MB`],
    ],
  );
}
