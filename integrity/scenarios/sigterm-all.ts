import { setTimeout as sleep } from 'node:timers/promises';
import type { Scenario } from '../scenario.ts';

export const sigtermAll: Scenario = {
  name: 'sigterm-all',
  number: 7,
  description:
    'The ingress and the connector get SIGTERM together under load (as a rolling deploy does), then both start again; the sender retries what was not answered 200.',
  async inject({ pipeline, random, loadMs }) {
    await sleep(random.between(0.2, 0.5) * loadMs);
    await Promise.all([pipeline.stop('ingress'), pipeline.stop('connector')]);
    await sleep(random.int(200, 2000));
    await Promise.all([pipeline.startIngress(), pipeline.startConnector()]);
    return {};
  },
  check(records) {
    const total = records.normalized.length;
    const distinct = new Set(records.normalized.map((event) => event.mailjetMessageId)).size;
    return total > distinct
      ? [`${total - distinct} duplicate normalized records after a clean shutdown`]
      : [];
  },
};
