/**
 * The faults each scenario injects while the sender's load runs, at moments the run's seeded PRNG picks.
 * A scenario returns when its last fault is over (every process it stopped is running again); the run
 * measures recovery from then.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Pipeline } from './pipeline.ts';
import type { Random } from './seeded-random.ts';

export interface ScenarioContext {
  pipeline: Pipeline;
  random: Random;
  /** How long the sender's load lasts; faults happen within it. */
  loadMs: number;
  quick: boolean;
}

export interface Scenario {
  name: string;
  /** The number of the scenario. */
  number: number;
  description: string;
  /** What this scenario requires beyond lost = 0 and segment_effective_duplicates = 0. */
  alsoRequires: 'normalized_duplicates'[];
  inject(context: ScenarioContext): Promise<void>;
}

export const scenarios: Scenario[] = [
  {
    name: 'connector-kill',
    number: 3,
    description:
      'The connector is SIGKILLed at seeded random moments under load (between Segment answering and the offset commit, among others), then restarted each time.',
    alsoRequires: [],
    async inject({ pipeline, random, loadMs, quick }) {
      const kills = quick ? 3 : 6;
      // Each kill in its own slice of the load, so they spread over it whatever the seed.
      const slice = (loadMs * 0.8) / kills;
      for (let i = 0; i < kills; i++) {
        await sleep(random.between(0.2, 0.8) * slice);
        await pipeline.killConnector();
        await sleep(random.int(100, 1500));
        await pipeline.startConnector();
      }
    },
  },
  {
    name: 'sigterm-all',
    number: 7,
    description:
      'The ingress and the connector get SIGTERM together under load (as a rolling deploy does), then both start again; the sender retries what was not answered 200.',
    alsoRequires: ['normalized_duplicates'],
    async inject({ pipeline, random, loadMs }) {
      await sleep(random.between(0.2, 0.5) * loadMs);
      await Promise.all([pipeline.stop('ingress'), pipeline.stop('connector')]);
      await sleep(random.int(200, 2000));
      await Promise.all([pipeline.startIngress(), pipeline.startConnector()]);
    },
  },
];

export const scenarioNames = scenarios.map((s) => s.name);
