/**
 * What a scenario is: the faults it injects while the sender's load runs, at moments the run's seeded PRNG picks,
 * and what each requires beyond lost = 0 and segment_effective_duplicates = 0. A scenario's `inject`
 * returns when its last fault is over (every process it stopped is running again); the run measures
 * recovery from then.
 */
import type { KafkaClient } from '../core/kafka.ts';
import type { SchemaRegistryClient } from '../core/schema-registry.ts';
import type { Stack, StackPart } from '../stack/local-stack.ts';
import type { ToxicProxy } from '../stack/toxiproxy.ts';
import type { RunRecords } from './count.ts';
import type { DestinationPipeline } from './destination-pipeline.ts';
import type { PostedHostileBody } from './hostile-bodies.ts';
import type { Pipeline, PipelineShape } from './pipeline.ts';
import type { Random } from './seeded-random.ts';

export interface ScenarioContext {
  pipeline: Pipeline;
  /** The cluster; its `broker` and `registry` parts are there for scenarios that need the lane's own stack. */
  stack: Stack;
  random: Random;
  kafka: KafkaClient;
  registry: SchemaRegistryClient;
  /** How long the sender's load lasts; faults happen within it. */
  loadMs: number;
  /** Events the sender makes in the first second of its load, at least. */
  eventsPerSecond: number;
  messageIdPrefix: string;
  quick: boolean;
  /** The fault proxy the services reach the broker through, for a scenario with `kafkaThroughProxy`. */
  kafkaProxy?: ToxicProxy | undefined;
}

/** What a scenario did that its check needs: events chosen to be refused, poison records written. */
export interface Injected {
  refused?: Set<string>;
  unreadablePoison?: number;
  unmappable?: Set<string>;
  /** The ingress fuzz's bodies and their answers. */
  hostile?: PostedHostileBody[];
  /** What the scenario saw go wrong while it injected (a service answering what it must not). */
  problems?: string[];
  /**
   * The normalized records a clean stop's effects could land among (see scenarios/rebalance.ts), and
   * what kept the window from being exact.
   */
  cleanStop?: { window: NormalizedWindow; problems: string[] };
}

/** Per partition of the normalized topic: the records from offset `from` up to (not including) `to`. */
export interface NormalizedWindow {
  from: Map<number, bigint>;
  to: Map<number, bigint>;
}

export interface Scenario {
  name: string;
  /** The number of the scenario. */
  number: number;
  description: string;
  /**
   * The scenario stops and starts the broker or the registry: it needs the lane's own stack, and fails
   * its run against an existing cluster (KAFKA_BROKERS), which is not the lane's to stop.
   */
  faultsTheStack?: boolean;
  /** Settings of the connector for this scenario. */
  connectorEnv?: NodeJS.ProcessEnv;
  /** Connector processes at the start (default 1) and partitions of the run's topics (default 3). */
  shape?: Partial<PipelineShape>;
  /**
   * The ingress and the connector reach the broker only through a TCP fault proxy (Toxiproxy), on a
   * listener the broker advertises at the proxy's port: the lane's own stack only, since an existing
   * cluster cannot be told to advertise it. The lane's own reads keep the direct listener.
   */
  kafkaThroughProxy?: boolean;
  inject(context: ScenarioContext): Promise<Injected>;
  /** Failures beyond the common checks. */
  check?(records: RunRecords, injected: Injected): string[];
  /** Figures of what it injected, printed in the run's line. */
  figures?(injected: Injected): Record<string, unknown>;
}

/**
 * A scenario of the Mailjet destination's pipeline (Segment identify → intake → Kafka → worker → the local
 * Mailjet server), run by integrity/destination-run.ts instead of the webhook pipeline.
 */
export interface DestinationScenario {
  kind: 'destination';
  name: string;
  number: number;
  description: string;
  /** Settings of the worker for this scenario. */
  workerEnv?: NodeJS.ProcessEnv;
  /** Injects the faults; returns when the last is over (the worker running again). */
  inject(context: DestinationScenarioContext): Promise<void>;
}

export interface DestinationScenarioContext {
  pipeline: DestinationPipeline;
  random: Random;
  loadMs: number;
  quick: boolean;
}

export type AnyScenario = Scenario | DestinationScenario;

export function isDestinationScenario(scenario: AnyScenario): scenario is DestinationScenario {
  return 'kind' in scenario && scenario.kind === 'destination';
}

/** The stack's broker or registry, for a scenario that `faultsTheStack` (run.ts refuses an existing cluster first). */
export function stackPart(stack: Stack, part: 'broker' | 'registry'): StackPart {
  const found = stack[part];
  if (!found) throw new Error(`the lane's stack has no ${part} to stop: it is an existing cluster`);
  return found;
}
