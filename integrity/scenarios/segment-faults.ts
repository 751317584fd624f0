import { setTimeout as sleep } from 'node:timers/promises';
import { messageIdOf } from '../mailjet-sender.ts';
import type { Scenario } from '../scenario.ts';

export const segmentFaults: Scenario = {
  name: 'segment-faults',
  number: 5,
  description:
    'The local Segment server answers bursts of 429 with Retry-After and of 5xx, answers too late (the connector times out), and refuses chosen events with 400: those must end in the dead-letter topic.',
  // Shorter than the injected latency, so slow answers are timeouts to the connector.
  connectorEnv: { SEGMENT_REQUEST_TIMEOUT_MS: '2000' },
  async inject({ pipeline, random, loadMs, eventsPerSecond, messageIdPrefix, quick }) {
    const refused = new Set<string>();
    const early = Math.max(1, Math.floor((eventsPerSecond * loadMs) / 2000));
    // Not among the very first events: the fault must be in force before the connector can send them.
    while (refused.size < (quick ? 3 : 10))
      refused.add(messageIdOf(messageIdPrefix, random.int(20, 20 + early)));
    await pipeline.segmentFaults({ refuseEvents: { property: 'message_id', values: [...refused] } });
    const steps = quick ? 3 : 8;
    const slice = (loadMs * 0.8) / steps;
    for (let i = 0; i < steps; i++) {
      await sleep(random.between(0.1, 0.5) * slice);
      const fault = random.pick(['rate-limit', 'server-errors', 'timeouts'] as const);
      if (fault === 'rate-limit') {
        await pipeline.segmentFaults({
          rateLimitNext: { count: random.int(1, 5), retryAfterSeconds: random.int(1, 2) },
        });
      } else if (fault === 'server-errors') {
        await pipeline.segmentFaults({
          failNext: { count: random.int(2, 10), status: random.pick([500, 502, 503, 504]) },
        });
      } else {
        await pipeline.segmentFaults({ latencyMs: 3000 });
        await sleep(random.int(1000, 4000));
        await pipeline.segmentFaults({ latencyMs: 0 });
      }
    }
    return { refused };
  },
  check(records, { refused = new Set() }) {
    const deadLettered = new Set(records.deadLetters.map((letter) => letter.mailjetMessageId));
    const inSegment = new Set(records.segment.map((event) => event.mailjetMessageId));
    const problems: string[] = [];
    for (const id of refused) {
      if (!records.acked.has(id)) continue; // Never acked (the load ended first): nothing to check.
      if (!deadLettered.has(id)) problems.push(`refused event ${id} is not in the dead-letter topic`);
      if (inSegment.has(id)) problems.push(`refused event ${id} reached Segment`);
    }
    return problems;
  },
};
