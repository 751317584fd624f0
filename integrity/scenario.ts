/**
 * What a scenario is: the faults it injects while the sender's load runs, at moments the run's seeded PRNG picks,
 * and what each requires beyond lost = 0 and segment_effective_duplicates = 0. A scenario's `inject`
 * returns when its last fault is over (every process it stopped is running again); the run measures
 * recovery from then.
 */
import type { KafkaClient } from '../core/kafka.ts';
import type { SchemaRegistryClient } from '../core/schema-registry.ts';
import type { RunRecords } from './count.ts';
import type { PostedHostileBody } from './hostile-bodies.ts';
import type { Pipeline } from './pipeline.ts';
import type { Random } from './seeded-random.ts';

export interface ScenarioContext {
  pipeline: Pipeline;
  random: Random;
  kafka: KafkaClient;
  registry: SchemaRegistryClient;
  /** How long the sender's load lasts; faults happen within it. */
  loadMs: number;
  /** Events the sender makes in the first second of its load, at least. */
  eventsPerSecond: number;
  messageIdPrefix: string;
  quick: boolean;
}

/** What a scenario did that its check needs: events chosen to be refused, poison records written. */
export interface Injected {
  refused?: Set<string>;
  unreadablePoison?: number;
  unmappable?: Set<string>;
  /** The ingress fuzz's bodies and their answers. */
  hostile?: PostedHostileBody[];
}

export interface Scenario {
  name: string;
  /** The number of the scenario. */
  number: number;
  description: string;
  /** Settings of the connector for this scenario. */
  connectorEnv?: NodeJS.ProcessEnv;
  inject(context: ScenarioContext): Promise<Injected>;
  /** Failures beyond the common checks. */
  check?(records: RunRecords, injected: Injected): string[];
  /** Figures of what it injected, printed in the run's line. */
  figures?(injected: Injected): Record<string, unknown>;
}
