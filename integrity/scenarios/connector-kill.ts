import { setTimeout as sleep } from 'node:timers/promises';
import type { Scenario } from '../scenario.ts';

export const connectorKill: Scenario = {
  name: 'connector-kill',
  number: 3,
  description:
    'The connector is SIGKILLed at seeded random moments under load (between Segment answering and the offset commit, among others), then restarted each time.',
  // A SIGKILLed member stays in the group until its session times out: the broker's shortest by
  // default, so each kill stalls the partitions that long rather than the default session's.
  connectorEnv: { KAFKA_SESSION_TIMEOUT_MS: '6000' },
  async inject({ pipeline, random, loadMs, quick }) {
    const kills = quick ? 2 : 5;
    // Each kill in its own slice of the load, so they spread over it whatever the seed.
    const slice = (loadMs * 0.8) / kills;
    for (let i = 0; i < kills; i++) {
      await sleep(random.between(0.2, 0.8) * slice);
      await pipeline.killConnector();
      await sleep(random.int(100, 1500));
      await pipeline.startConnector();
    }
    return {};
  },
};
