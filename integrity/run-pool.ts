/**
 * Runs the lane's runs a few at a time: each run has topics, a group and processes of its own, so runs
 * share only the stack. A run whose faults hit the stack itself (the broker, the registry, the path to
 * them) is exclusive: it starts once nothing else runs, and nothing starts beside it, so no other run
 * meets its fault and counts it as its own.
 */
export interface PoolOptions<Job, Result> {
  /** Runs at a time, at least 1. */
  parallel: number;
  exclusive(job: Job): boolean;
  run(job: Job): Promise<Result>;
  /** Called as each run ends, in the order they end. */
  onResult?(result: Result, job: Job): void;
}

/**
 * Runs every job, started in the order given; resolves with the results in the jobs' order. A run that
 * throws stops new runs from starting; the others end first, then the pool rejects with its error.
 */
export async function runPool<Job, Result>(
  jobs: readonly Job[],
  options: PoolOptions<Job, Result>,
): Promise<Result[]> {
  const results: Result[] = new Array(jobs.length);
  const running = new Set<Promise<void>>();
  let exclusiveRunning = false;
  let failed: { error: unknown } | undefined;
  for (const [index, job] of jobs.entries()) {
    const exclusive = options.exclusive(job);
    // Wait for room: all runs over for an exclusive one; an exclusive one over, and a free slot, otherwise.
    while (
      running.size > 0 &&
      (exclusive || exclusiveRunning || running.size >= Math.max(1, options.parallel))
    ) {
      await Promise.race(running);
    }
    if (failed) break;
    exclusiveRunning = exclusive;
    const started: Promise<void> = options
      .run(job)
      .then(
        (result) => {
          results[index] = result;
          options.onResult?.(result, job);
        },
        (error: unknown) => {
          failed ??= { error };
        },
      )
      .finally(() => {
        running.delete(started);
        if (exclusive) exclusiveRunning = false;
      });
    running.add(started);
  }
  await Promise.all(running);
  if (failed) throw failed.error;
  return results;
}
