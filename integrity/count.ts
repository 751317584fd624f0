/**
 * The integrity lane's arithmetic, with no I/O: what the sender saw answered 200 and what was read back
 * from the topics and the local Segment server, in, the figures of one run out. An event is known by its
 * Mailjet `MessageID` (the sender makes each unique), so a Segment `messageId` can be checked against it:
 * one Mailjet event under two messageIds would reach Segment twice, past its dedupe.
 */

/** A Segment track call or a normalized record: its Segment messageId and the Mailjet event it carries. */
export interface DeliveredEvent {
  messageId: string;
  /** Mailjet `MessageID`; undefined when the record carries none. */
  mailjetMessageId: string | undefined;
  /** Where a normalized record is in its topic. */
  at?: { partition: number; offset: bigint };
}

/** A dead-letter record: the Mailjet event inside it when its value could be read, and why it is there. */
export interface DeadLetteredEvent {
  mailjetMessageId: string | undefined;
  code: string;
  /** Which stage wrote it (`dlq.stage`): the ingress's hold webhook input, the others raw records. */
  stage?: string;
  /** SHA-256 of its value, to find a body kept whole. */
  digest?: string;
}

export interface RunRecords {
  /** Distinct events the sender posted (each at least once). */
  posted: number;
  /** Mailjet MessageIDs of the events whose webhook was answered 200. */
  acked: ReadonlySet<string>;
  /** Mailjet MessageID of every record of the raw topic. */
  raw: readonly (string | undefined)[];
  normalized: readonly DeliveredEvent[];
  deadLetters: readonly DeadLetteredEvent[];
  /** What the local Segment server accepted, duplicates included. */
  segment: readonly DeliveredEvent[];
}

export interface RunFigures {
  posted: number;
  acked: number;
  stored_total: number;
  stored_distinct: number;
  /** Events Segment received, duplicates included, and distinct messageIds (what its dedupe keeps). */
  delivered_total: number;
  delivered_distinct: number;
  normalized_total: number;
  normalized_distinct: number;
  /** Distinct Mailjet events in the dead-letter topic. */
  dead_lettered: number;
  /** Dead-letter records whose value holds no readable Mailjet event (poison records), by error code. */
  dead_lettered_unreadable: Record<string, number>;
  /** Acked events neither dead-lettered nor both in Segment and the normalized topic. */
  lost: number;
  /** A few of them, to start the search with. */
  lost_examples: string[];
  /** Extra Segment messageIds for one Mailjet event: each one a duplicate Segment cannot remove. */
  segment_effective_duplicates: number;
  /** Normalized records beyond one per Mailjet event. */
  normalized_duplicates: number;
  /**
   * Normalized records beyond one per raw record of their event: what the normalizer wrote twice for
   * one raw record (it writes exactly once, so must be 0). Duplicates the raw topic itself holds (a
   * webhook stored, answered 503, then retried) are not counted here.
   */
  normalized_beyond_raw: number;
}

const EXAMPLES = 5;

export function countRun(records: RunRecords): RunFigures {
  const stored = new Set(records.raw.filter((id) => id !== undefined));
  const inSegment = messageIdsByEvent(records.segment);
  const inNormalized = messageIdsByEvent(records.normalized);
  const deadLettered = new Set<string>();
  const unreadable: Record<string, number> = {};
  for (const letter of records.deadLetters) {
    if (letter.mailjetMessageId === undefined) unreadable[letter.code] = (unreadable[letter.code] ?? 0) + 1;
    else deadLettered.add(letter.mailjetMessageId);
  }
  const lost = [...records.acked].filter(
    (id) => !deadLettered.has(id) && !(inSegment.has(id) && inNormalized.has(id)),
  );
  let segmentDuplicates = 0;
  for (const messageIds of inSegment.values()) segmentDuplicates += messageIds.size - 1;
  return {
    posted: records.posted,
    acked: records.acked.size,
    stored_total: records.raw.length,
    stored_distinct: stored.size,
    delivered_total: records.segment.length,
    delivered_distinct: new Set(records.segment.map((event) => event.messageId)).size,
    normalized_total: records.normalized.length,
    normalized_distinct: inNormalized.size,
    dead_lettered: deadLettered.size,
    dead_lettered_unreadable: unreadable,
    lost: lost.length,
    lost_examples: lost.slice(0, EXAMPLES),
    segment_effective_duplicates: segmentDuplicates,
    normalized_duplicates: records.normalized.length - inNormalized.size,
    normalized_beyond_raw: beyond(
      records.normalized.map((event) => event.mailjetMessageId),
      records.raw,
    ),
  };
}

/** How many of `copies` are beyond the number of `originals` with the same id (undefined ids left out). */
function beyond(copies: readonly (string | undefined)[], originals: readonly (string | undefined)[]): number {
  const left = new Map<string, number>();
  for (const id of originals) if (id !== undefined) left.set(id, (left.get(id) ?? 0) + 1);
  let extra = 0;
  for (const id of copies) {
    if (id === undefined) continue;
    const remaining = left.get(id) ?? 0;
    if (remaining > 0) left.set(id, remaining - 1);
    else extra++;
  }
  return extra;
}

/** Mailjet MessageID → the Segment messageIds it was delivered under (events without one are left out). */
function messageIdsByEvent(events: readonly DeliveredEvent[]): Map<string, Set<string>> {
  const byEvent = new Map<string, Set<string>>();
  for (const { messageId, mailjetMessageId } of events) {
    if (mailjetMessageId === undefined) continue;
    const ids = byEvent.get(mailjetMessageId) ?? new Set<string>();
    byEvent.set(mailjetMessageId, ids);
    ids.add(messageId);
  }
  return byEvent;
}

/** One scenario's runs, summed up: the line printed after them. */
export interface ScenarioSummary {
  scenario: string;
  runs: number;
  max_lost: number;
  max_segment_effective_duplicates: number;
  max_normalized_duplicates: number;
  recovery_p50_s: number | null;
  recovery_max_s: number | null;
}

export function summarize(
  scenario: string,
  runs: readonly (Pick<RunFigures, 'lost' | 'segment_effective_duplicates' | 'normalized_duplicates'> & {
    recovery_s: number | null;
  })[],
): ScenarioSummary {
  return {
    scenario,
    runs: runs.length,
    max_lost: Math.max(0, ...runs.map((run) => run.lost)),
    max_segment_effective_duplicates: Math.max(0, ...runs.map((run) => run.segment_effective_duplicates)),
    max_normalized_duplicates: Math.max(0, ...runs.map((run) => run.normalized_duplicates)),
    ...recoveryOf(runs),
  };
}

/**
 * Normalized records beyond the raw topic's copies of their Mailjet event (a sender's retry the
 * ingress stored twice is normalized twice, rightly) that were written inside `window`: per event,
 * its latest copies are the extra ones, each counted where it landed.
 */
export function normalizedDuplicatesWithin(
  records: Pick<RunRecords, 'raw' | 'normalized'>,
  window: { from: ReadonlyMap<number, bigint>; to: ReadonlyMap<number, bigint> },
): { count: number; examples: string[] } {
  const rawCopies = new Map<string, number>();
  for (const id of records.raw) if (id !== undefined) rawCopies.set(id, (rawCopies.get(id) ?? 0) + 1);
  const copies = new Map<string, { partition: number; offset: bigint }[]>();
  for (const { mailjetMessageId, at } of records.normalized) {
    if (mailjetMessageId === undefined || at === undefined) continue;
    const list = copies.get(mailjetMessageId) ?? [];
    copies.set(mailjetMessageId, list);
    list.push(at);
  }
  let count = 0;
  const examples: string[] = [];
  for (const [id, list] of copies) {
    const extra = list.length - Math.max(1, rawCopies.get(id) ?? 1);
    if (extra <= 0) continue;
    // One key, one partition: a later copy has a higher offset.
    list.sort((a, b) => (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0));
    for (const { partition, offset } of list.slice(-extra)) {
      const from = window.from.get(partition) ?? 0n;
      const to = window.to.get(partition) ?? 0n;
      if (offset >= from && offset < to) {
        count++;
        if (examples.length < EXAMPLES) examples.push(id);
      }
    }
  }
  return { count, examples };
}

/** The median and the longest recovery of a scenario's runs that caught up; null when none did. */
export function recoveryOf(runs: readonly { recovery_s: number | null }[]): {
  recovery_p50_s: number | null;
  recovery_max_s: number | null;
} {
  const recoveries = runs
    .map((run) => run.recovery_s)
    .filter((s): s is number => s !== null)
    .sort((a, b) => a - b);
  return {
    recovery_p50_s: recoveries.length === 0 ? null : (recoveries[(recoveries.length - 1) >> 1] as number),
    recovery_max_s: recoveries.length === 0 ? null : (recoveries.at(-1) as number),
  };
}
