/**
 * Which offsets a replay covers, per partition, and how far its group got. The range is found by record
 * timestamp through the admin API: start = the first offset at or after `from`, end = the first offset
 * at or after `to` (exclusive; the high watermark when no record is that late, so a `to` in the future
 * stops at what the topic held when the replay started). A replay group's committed offset is its
 * progress: that is what a re-run resumes from.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KafkaClient } from '../core/kafka.ts';
import type { ReplayOptions } from './arguments.ts';

export interface PartitionRange {
  partition: number;
  start: bigint;
  end: bigint;
  /** Next offset to read: the group's committed offset clamped into [start, end]. */
  position: bigint;
}

/**
 * `<prefix>-replay-<16 hex of SHA-256>` over the topic, the resolved range in milliseconds, the mode
 * and dry-run. Deterministic, so the same command (with the printed absolute range) finds the
 * same group and resumes; any other replay gets a group of its own. The rate is left out on purpose: a
 * resumed run may go faster or slower. The prefix is the connector's group id, so ACLs on that prefix
 * cover replays, yet the live group itself is never joined or committed to.
 */
export function replayGroupId(prefix: string, topic: string, options: ReplayOptions): string {
  const identity = JSON.stringify([topic, options.fromMs, options.toMs, options.mode, options.dryRun]);
  return `${prefix}-replay-${createHash('sha256').update(identity).digest('hex').slice(0, 16)}`;
}

export async function resolveRange(
  kafka: KafkaClient,
  topic: string,
  fromMs: number,
  toMs: number,
  groupId: string | undefined,
): Promise<PartitionRange[]> {
  const [starts, ends, committed] = await Promise.all([
    kafka.offsetsForTime(topic, fromMs),
    kafka.offsetsForTime(topic, toMs),
    groupId === undefined ? new Map<number, string>() : committedOffsetsOf(kafka, groupId, topic),
  ]);
  return [...starts]
    .map(([partition, startText]) => {
      const start = BigInt(startText);
      // A record at or after `to` is at or after `from` too, so end ≥ start; unless the two look-ups saw
      // different logs (retention deleted segments in between).
      const endOffset = BigInt(ends.get(partition) ?? startText);
      const end = endOffset < start ? start : endOffset;
      const offset = BigInt(committed.get(partition) ?? '-1');
      const position = offset < start ? start : offset > end ? end : offset;
      return { partition, start, end, position };
    })
    .sort((a, b) => a.partition - b.partition);
}

/**
 * The group's committed offsets, asked again while the coordinator answers with a retriable error. It
 * refuses while it loads the group's offsets (just after a broker starts, or the coordinator moved), and
 * the admin client passes that on without a retry: a replay started then failed at once.
 */
async function committedOffsetsOf(
  kafka: KafkaClient,
  groupId: string,
  topic: string,
): Promise<Map<number, string>> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await kafka.committedOffsets(groupId, topic);
    } catch (err) {
      // About 15 s in all: longer than a coordinator takes to load, short enough to report a real fault.
      if ((err as { retriable?: unknown }).retriable !== true || attempt >= 10) throw err;
      await sleep(Math.min(2000, 100 * 2 ** attempt));
    }
  }
}

/** Records in the range, and records of it the group already went past. */
export function rangeTotals(partitions: PartitionRange[]): { total: number; done: number } {
  let total = 0n;
  let done = 0n;
  for (const p of partitions) {
    total += p.end - p.start;
    done += p.position - p.start;
  }
  return { total: Number(total), done: Number(done) };
}

/**
 * Marks done the partitions whose log now starts at or past the end of their range: retention deleted
 * what was left of it. `earliest` is each partition's first offset still in the log (the high watermark
 * where the log is empty). Returns how many records of the range were lost that way.
 */
export function expireDeleted(partitions: PartitionRange[], earliest: Map<number, string>): number {
  let expired = 0n;
  for (const p of partitions) {
    const first = earliest.get(p.partition);
    if (first === undefined || p.position >= p.end || BigInt(first) < p.end) continue;
    expired += p.end - p.position;
    p.position = p.end;
  }
  return Number(expired);
}
