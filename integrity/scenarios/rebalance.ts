import { setTimeout as sleep } from 'node:timers/promises';
import type { KafkaClient } from '../../core/kafka.ts';
import { waitGroupSettled } from '../caught-up.ts';
import { normalizedDuplicatesWithin } from '../count.ts';
import type { Pipeline } from '../pipeline.ts';
import type { Scenario } from '../scenario.ts';

/** Longer than a killed member's session and the rebalances after it, even on a loaded machine. */
const SETTLE_TIMEOUT_MS = 90_000;

/**
 * The clean stop comes first, so its duplicates can be told from the kill's: the group is settled (its
 * rebalance over, then every record written until then committed, the rebalance's redeliveries
 * included) before the SIGTERM, and again after it, before the kill. A duplicate is written after what caused it and before the group
 * commits past it, so the normalized records between the two settled moments hold every duplicate the
 * clean stop made and none of another fault's.
 */
export const rebalance: Scenario = {
  name: 'rebalance',
  number: 4,
  description:
    'Three connectors share six partitions under load; at seeded moments one is stopped cleanly (SIGTERM), one is SIGKILLed and one is added. The clean stop must hand its partitions over without a duplicate normalized record.',
  shape: { connectors: 3, partitions: 6 },
  // A killed member's partitions wait for its session to end: the broker's shortest by default.
  connectorEnv: { KAFKA_SESSION_TIMEOUT_MS: '6000' },
  async inject({ pipeline, random, kafka, loadMs }) {
    const problems: string[] = [];
    const settle = async (when: string) => {
      try {
        await waitGroupSettled(kafka, {
          groupId: pipeline.groupId,
          topic: pipeline.topics.RAW_TOPIC,
          members: pipeline.connectors.length,
          timeoutMs: SETTLE_TIMEOUT_MS,
        });
      } catch (err) {
        problems.push(`${when}: ${(err as Error).message}`);
      }
    };
    await sleep(random.between(0.1, 0.25) * loadMs);
    await settle('before the clean stop');
    const from = await normalizedEnds(kafka, pipeline);
    await pipeline.stopConnector(pickConnector(pipeline, random.next()));
    await settle('after the clean stop');
    const to = await normalizedEnds(kafka, pipeline);

    await sleep(random.between(0.02, 0.1) * loadMs);
    await pipeline.killConnector(pickConnector(pipeline, random.next()));
    await sleep(random.int(200, 1500));
    await pipeline.startConnector();
    return { cleanStop: { window: { from, to }, problems } };
  },
  check(records, { cleanStop }) {
    if (!cleanStop) return ['the clean stop was not made'];
    const problems = [...cleanStop.problems];
    const duplicates = normalizedDuplicatesWithin(records, cleanStop.window);
    if (duplicates.count > 0) {
      problems.push(
        `${duplicates.count} duplicate normalized records after a clean stop (events ${duplicates.examples.join(', ')})`,
      );
    }
    return problems;
  },
};

function pickConnector(pipeline: Pipeline, choice: number) {
  const running = pipeline.connectors;
  const connector = running[Math.floor(choice * running.length)];
  if (!connector) throw new Error('no connector is running');
  return connector;
}

async function normalizedEnds(kafka: KafkaClient, pipeline: Pipeline): Promise<Map<number, bigint>> {
  const ends = await kafka.endOffsets(pipeline.topics.NORMALIZED_TOPIC);
  return new Map([...ends].map(([partition, offset]) => [partition, BigInt(offset)]));
}
