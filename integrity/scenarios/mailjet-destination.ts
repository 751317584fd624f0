import { setTimeout as sleep } from 'node:timers/promises';
import type { DestinationScenario } from '../scenario.ts';

export const mailjetDestination: DestinationScenario = {
  kind: 'destination',
  name: 'mailjet-destination',
  number: 9,
  description:
    'Segment identify calls (profiles and Engage audience flips) through the destination while the local Mailjet server answers bursts of 429 and 5xx and answers too late (the worker times out), and the worker is SIGKILLed and restarted; the contact list must end exact: every contact as its last calls left it, none missing, none extra, mismatched calls dead-lettered.',
  workerEnv: {
    // Shorter than the injected latencies, so slow answers are timeouts to the worker.
    MAILJET_REQUEST_TIMEOUT_MS: '2000',
    // The lane's runs are short: backing off past a few seconds only makes them longer.
    MAILJET_RETRY_MAX_DELAY_MS: '4000',
    DESTINATION_SHUTDOWN_TIMEOUT_MS: '10000',
  },
  async inject({ pipeline, random, loadMs, quick }) {
    // Every kind of fault in every run, in a seeded order.
    const kinds = ['rate-limit', 'server-errors', 'timeouts', 'kill'] as const;
    const faults = [...kinds, ...(quick ? [] : [...kinds, 'kill' as const])];
    for (let i = faults.length - 1; i > 0; i--) {
      const j = random.int(0, i);
      [faults[i], faults[j]] = [faults[j] as (typeof kinds)[number], faults[i] as (typeof kinds)[number]];
    }
    const slice = (loadMs * 0.8) / faults.length;
    for (const fault of faults) {
      await sleep(random.between(0.1, 0.5) * slice);
      if (fault === 'rate-limit') {
        await pipeline.mailjetFaults({ rateLimitNext: { count: random.int(1, 8) } });
      } else if (fault === 'server-errors') {
        await pipeline.mailjetFaults({
          failNext: { count: random.int(2, 10), status: random.pick([500, 502, 503, 504]) },
        });
      } else if (fault === 'timeouts') {
        // Answers later than the worker waits: before the write is handled (Mailjet never got it) or
        // after (it is stored, and the worker, not knowing, writes it again).
        const where = random.pick(['latencyMs', 'answerLatencyMs'] as const);
        await pipeline.mailjetFaults({ [where]: 3000 });
        await sleep(random.int(1000, 4000));
        await pipeline.mailjetFaults({ [where]: 0 });
      } else {
        // A SIGKILLed member stays in the group until its session times out: the restarted one takes
        // its partitions only then.
        await pipeline.killWorker();
        await sleep(random.int(100, 1500));
        await pipeline.startWorker();
      }
    }
  },
};
