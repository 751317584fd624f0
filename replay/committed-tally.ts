/**
 * A replay's counts, taken when a batch's offsets are committed rather than when it was handled: a
 * re-normalized batch whose transaction was aborted comes again, and counting it when handled would count
 * it twice. Per partition, the outcomes handled and not yet committed wait in order; a batch that starts
 * before a waiting one ends is that one come again, and replaces it and whatever waited after it.
 */
export interface CommittedTally<Outcome> {
  handled(partition: number, records: readonly { offset: string }[], outcome: Outcome): void;
  committed(partition: number, nextOffset: string): void;
}

export function createCommittedTally<Outcome>(
  add: (outcome: Outcome, records: number) => void,
): CommittedTally<Outcome> {
  const waiting = new Map<number, { next: bigint; records: number; outcome: Outcome }[]>();
  return {
    handled(partition, records, outcome) {
      const first = records[0];
      const last = records.at(-1);
      if (!first || !last) return;
      const start = BigInt(first.offset);
      const kept = (waiting.get(partition) ?? []).filter((entry) => entry.next <= start);
      kept.push({ next: BigInt(last.offset) + 1n, records: records.length, outcome });
      waiting.set(partition, kept);
    },
    committed(partition, nextOffset) {
      const next = BigInt(nextOffset);
      const still: { next: bigint; records: number; outcome: Outcome }[] = [];
      for (const entry of waiting.get(partition) ?? []) {
        if (entry.next <= next) add(entry.outcome, entry.records);
        else still.push(entry);
      }
      waiting.set(partition, still);
    },
  };
}
