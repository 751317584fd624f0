import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runPool } from '../../integrity/run-pool.ts';

/** Jobs that each end when the test says so, recording what ran beside what. */
function controlledJobs(names: string[]) {
  const ends = new Map<string, () => void>();
  const running = new Set<string>();
  const seenBeside: Record<string, string[]> = {};
  const run = (name: string) =>
    new Promise<string>((resolve) => {
      seenBeside[name] = [...running];
      for (const other of running) seenBeside[other]?.push(name);
      running.add(name);
      ends.set(name, () => {
        running.delete(name);
        resolve(name.toUpperCase());
      });
    });
  const started = async (name: string) => {
    while (!ends.has(name)) await new Promise((resolve) => setImmediate(resolve));
  };
  const end = async (name: string) => {
    await started(name);
    ends.get(name)?.();
  };
  return { names, run, started, end, running, seenBeside };
}

test('runs up to `parallel` at a time, an exclusive run alone, and gives the results in the jobs order', async () => {
  const jobs = controlledJobs(['a', 'b', 'c', 'X', 'd']);
  const pool = runPool(jobs.names, { parallel: 2, exclusive: (name) => name === 'X', run: jobs.run });
  await jobs.end('a');
  await jobs.started('c');
  await jobs.end('b');
  await jobs.end('c');
  await jobs.end('X');
  await jobs.end('d');
  assert.deepEqual(await pool, ['A', 'B', 'C', 'X', 'D']);
  assert.deepEqual(jobs.seenBeside.a, ['b']);
  assert.deepEqual(jobs.seenBeside.c, ['b'], 'c took the slot a left');
  assert.deepEqual(jobs.seenBeside.X, [], 'the exclusive run started once the others ended, and ran alone');
  assert.deepEqual(jobs.seenBeside.d, [], 'nothing started beside the exclusive run');
});

test('a run that throws: no new run starts, those running end, then the pool rejects with its error', async () => {
  const started: string[] = [];
  let endB: () => void = () => {};
  const pool = runPool(['a', 'b', 'c'], {
    parallel: 2,
    exclusive: () => false,
    run: (name) => {
      started.push(name);
      if (name === 'a') return Promise.reject(new Error('a failed'));
      return new Promise<string>((resolve) => {
        endB = () => resolve(name);
      });
    },
  });
  // Let a's failure be seen, then end b.
  await new Promise((resolve) => setImmediate(resolve));
  endB();
  await assert.rejects(pool, /a failed/);
  assert.deepEqual(started, ['a', 'b']);
});
