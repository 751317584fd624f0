/**
 * "Caught up": the connector group's committed offsets reached the raw topic's end offsets on every
 * partition (the connector commits a record only once it reached Segment and the normalized topic, or
 * the dead-letter topic), and the local Segment server holds every acked event that was not
 * dead-lettered. Polled; a run that does not get there within the timeout fails, naming what is missing.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { recordCount } from '../bench/harness.ts';
import type { KafkaClient } from '../core/kafka.ts';
import { segmentEvents } from './read-back.ts';

const POLL_MS = 250;

export async function waitCaughtUp(
  kafka: KafkaClient,
  options: {
    groupId: string;
    rawTopic: string;
    deadLetterTopic: string;
    segmentUrl: string;
    acked: ReadonlySet<string>;
    timeoutMs: number;
  },
): Promise<void> {
  const deadline = performance.now() + options.timeoutMs;
  let state = '';
  for (;;) {
    const [end, committed] = await Promise.all([
      kafka.endOffsets(options.rawTopic),
      kafka.committedOffsets(options.groupId, options.rawTopic),
    ]);
    const behind = [...end].filter(
      ([partition, offset]) => Number(committed.get(partition) ?? -1) < Number(offset),
    );
    let missing = 0;
    if (behind.length === 0) {
      const inSegment = new Set((await segmentEvents(options.segmentUrl)).map((e) => e.mailjetMessageId));
      for (const id of options.acked) if (!inSegment.has(id)) missing++;
      // Events Segment can never take are in the dead-letter topic instead: at most that many are missing.
      if (missing <= (await recordCount(kafka, options.deadLetterTopic))) return;
    }
    state =
      behind.length > 0
        ? `partitions behind: ${behind.map(([p, o]) => `${p} (committed ${committed.get(p) ?? -1} of ${o})`).join(', ')}`
        : `${missing} acked events not in Segment`;
    if (performance.now() > deadline) {
      throw new Error(`not caught up within ${options.timeoutMs / 1000} s: ${state}`);
    }
    await sleep(POLL_MS);
  }
}
