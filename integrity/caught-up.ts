/**
 * "Caught up": the normalizer's group committed the raw topic's end offsets on every partition, the
 * Segment sink's group the normalized topic's (each commits a record only once it was handled: written
 * in the normalizer's transaction, taken by Segment or dead-lettered), and the local Segment server
 * holds every acked event that was not dead-lettered. Polled; a run that does not get there within the
 * timeout fails, naming what is missing.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { KafkaClient } from '../core/kafka.ts';
import { readTopic, segmentEvents } from './read-back.ts';

const POLL_MS = 250;

export async function waitCaughtUp(
  kafka: KafkaClient,
  options: {
    groupId: string;
    rawTopic: string;
    /** The Segment sink's group and topic. */
    sinkGroupId: string;
    normalizedTopic: string;
    deadLetterTopic: string;
    segmentUrl: string;
    acked: ReadonlySet<string>;
    timeoutMs: number;
  },
): Promise<void> {
  const deadline = performance.now() + options.timeoutMs;
  let state = '';
  for (;;) {
    const behind = [
      ...(await behindOf(kafka, options.groupId, options.rawTopic)),
      ...(await behindOf(kafka, options.sinkGroupId, options.normalizedTopic)),
    ];
    let missing = 0;
    if (behind.length === 0) {
      const inSegment = new Set((await segmentEvents(options.segmentUrl)).map((e) => e.mailjetMessageId));
      for (const id of options.acked) if (!inSegment.has(id)) missing++;
      // Events Segment can never take are in the dead-letter topic instead: at most that many are
      // missing (counted by reading it: its end offsets count transaction markers too).
      if (missing <= (await readTopic(kafka, options.deadLetterTopic)).length) return;
    }
    state =
      behind.length > 0
        ? `partitions behind: ${behind.join(', ')}`
        : `${missing} acked events not in Segment`;
    if (performance.now() > deadline) {
      throw new Error(`not caught up within ${options.timeoutMs / 1000} s: ${state}`);
    }
    await sleep(POLL_MS);
  }
}

/** The partitions of `topic` whose end offset `groupId` has not committed, described. */
async function behindOf(kafka: KafkaClient, groupId: string, topic: string): Promise<string[]> {
  const [end, committed] = await Promise.all([
    kafka.endOffsets(topic),
    kafka.committedOffsets(groupId, topic),
  ]);
  return [...end]
    .filter(
      ([partition, offset]) => Number(offset) > 0 && Number(committed.get(partition) ?? -1) < Number(offset),
    )
    .map(([p, o]) => `${topic} ${p} (committed ${committed.get(p) ?? -1} of ${o})`);
}

/**
 * Waits until the group is settled: its rebalance over with `members` members (state Stable), then
 * committed, on every partition of `topic`, at least the end offsets it had then. Every record written
 * before that moment was then handled and committed, those the last rebalance handed out again
 * included. Rejects after `timeoutMs`, naming what is not there yet.
 */
export async function waitGroupSettled(
  kafka: KafkaClient,
  options: { groupId: string; topic: string; members: number; timeoutMs: number },
): Promise<void> {
  const deadline = performance.now() + options.timeoutMs;
  const late = (state: string) =>
    new Error(`the group did not settle within ${options.timeoutMs / 1000} s: ${state}`);
  for (;;) {
    const group = await kafka.describeGroup(options.groupId);
    if (group.state === 'Stable' && group.members.length === options.members) break;
    if (performance.now() > deadline) {
      throw late(`${group.state} with ${group.members.length} members, not Stable with ${options.members}`);
    }
    await sleep(POLL_MS);
  }
  const end = await kafka.endOffsets(options.topic);
  for (;;) {
    const committed = await kafka.committedOffsets(options.groupId, options.topic);
    // An empty partition has nothing to commit (its committed offset stays -1).
    const behind = [...end].filter(
      ([partition, offset]) => Number(offset) > 0 && Number(committed.get(partition) ?? -1) < Number(offset),
    );
    if (behind.length === 0) return;
    if (performance.now() > deadline) {
      throw late(
        `partitions behind: ${behind.map(([p, o]) => `${p} (committed ${committed.get(p) ?? -1} of ${o})`).join(', ')}`,
      );
    }
    await sleep(POLL_MS);
  }
}
