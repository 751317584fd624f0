/** What became of one batch's records, as a replay counts it (the live stages only count metrics). */
export interface BatchOutcome {
  /** Events that reached the stage's target (in a dry run: that would), by Mailjet event type. */
  delivered: Record<string, number>;
  /** Records dead-lettered (in a dry run: that would be). */
  deadLettered: number;
}

export function countByType<T>(items: readonly T[], typeOf: (item: T) => string): Record<string, number> {
  const byType: Record<string, number> = {};
  for (const item of items) {
    const type = typeOf(item);
    byType[type] = (byType[type] ?? 0) + 1;
  }
  return byType;
}
