import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { promisify } from 'node:util';
import type { ScenarioSummary } from '../../integrity/count.ts';
import type { DestinationSummary } from '../../integrity/destination-count.ts';
import type { DestinationRunLine } from '../../integrity/destination-run.ts';
import type { RunLine } from '../../integrity/run.ts';
import { scenarios } from '../../integrity/scenarios.ts';

const run = promisify(execFile);

const notForTheLane = new Set([
  'NODE_TEST_CONTEXT',
  'KAFKA_BROKERS',
  'SCHEMA_REGISTRY_URL',
  'LOCAL_KAFKA_PORT',
  'LOCAL_SCHEMA_REGISTRY_PORT',
  'LOCAL_STACK_DATA_DIR',
]);

/**
 * Runs the lane in quick mode on `names`, and checks each run: something acked, nothing lost,
 * no Segment duplicate, caught up, no failure.
 */
async function quickLane(t: TestContext, names: string[]): Promise<void> {
  const resultsDir = mkdtempSync(join(tmpdir(), 'integrity-results-'));
  t.after(() => rmSync(resultsDir, { recursive: true, force: true }));
  const lane = await run(
    process.execPath,
    [
      '--disable-warning=TimeoutNegativeWarning',
      'integrity/run.ts',
      '--quick',
      ...names.flatMap((name) => ['--scenario', name]),
      '--results-dir',
      resultsDir,
    ],
    {
      cwd: new URL('../../', import.meta.url),
      // A stack of the lane's own, not the test stack: scenarios kill its broker and registry. On free
      // ports and in a data folder of its own, whatever this run's cluster settings say; and not a test
      // process (no NODE_TEST_CONTEXT).
      env: Object.fromEntries(Object.entries(process.env).filter(([name]) => !notForTheLane.has(name))),
      maxBuffer: 64 * 2 ** 20,
    },
  ).catch((err: { stdout?: string; stderr?: string; message: string }) => {
    // Exit 1 is a failed check: its lines below say which; anything else is the lane's own failure.
    if (err.stdout?.includes('"summary":true')) return { stdout: err.stdout, stderr: err.stderr ?? '' };
    throw new Error(`the lane failed: ${err.message}\n${err.stdout ?? ''}\n${err.stderr ?? ''}`);
  });
  const json = lane.stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map(
      (line) =>
        JSON.parse(line) as
          | RunLine
          | DestinationRunLine
          | ((ScenarioSummary | DestinationSummary) & { summary: true }),
    );
  const runs = json.filter((line): line is RunLine | DestinationRunLine => !('summary' in line));
  const summaries = json.filter((line) => 'summary' in line);
  t.diagnostic(runs.map((line) => JSON.stringify(line)).join('\n'));

  // Runs end (and print) in any order when several run at a time.
  assert.deepEqual(runs.map((line) => line.scenario).sort(), [...names].sort(), 'one run per scenario');
  assert.equal(summaries.length, names.length);
  for (const line of runs) {
    const what = `${line.scenario} (seed ${line.seed}, replay with --seed ${line.seed})`;
    assert.ok(line.acked > 0, `${what}: nothing was acked`);
    const examples = 'lost_examples' in line ? line.lost_examples : line.examples;
    assert.equal(line.lost, 0, `${what}: lost ${examples.join(', ')}`);
    // The destination's run has no Segment: its list checks are among its failures.
    if ('segment_effective_duplicates' in line)
      assert.equal(line.segment_effective_duplicates, 0, `${what}: Segment duplicates`);
    assert.notEqual(line.recovery_s, null, `${what}: never caught up`);
    if (line.scenario === 'sigterm-all' && 'normalized_duplicates' in line)
      assert.equal(line.normalized_duplicates, 0, `${what}: normalized duplicates`);
    assert.deepEqual(line.failures, [], what);
  }
}

test('the integrity lane in quick mode: no scenario loses an acked event or duplicates one in Segment', {
  timeout: 20 * 60_000,
}, async (t) => {
  await quickLane(
    t,
    scenarios.map((s) => s.name),
  );
});
