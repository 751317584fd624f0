import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { promisify } from 'node:util';
import type { ScenarioSummary } from '../../integrity/count.ts';
import type { RunLine } from '../../integrity/run.ts';
import { scenarios } from '../../integrity/scenarios.ts';
import { testStack } from '../helpers/stack.ts';

const run = promisify(execFile);

/**
 * Runs the lane in quick mode on `names` with `env`, and checks each run: something acked, nothing lost,
 * no Segment duplicate, caught up, no failure.
 */
async function quickLane(t: TestContext, names: string[], env: NodeJS.ProcessEnv): Promise<void> {
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
      // Not a test process (no NODE_TEST_CONTEXT).
      env: {
        ...Object.fromEntries(Object.entries(process.env).filter(([name]) => name !== 'NODE_TEST_CONTEXT')),
        ...env,
      },
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
    .map((line) => JSON.parse(line) as RunLine | (ScenarioSummary & { summary: true }));
  const runs = json.filter((line): line is RunLine => !('summary' in line));
  const summaries = json.filter((line) => 'summary' in line);
  t.diagnostic(runs.map((line) => JSON.stringify(line)).join('\n'));

  assert.deepEqual(
    runs.map((line) => line.scenario),
    names,
    'one run per scenario',
  );
  assert.equal(summaries.length, names.length);
  for (const line of runs) {
    const what = `${line.scenario} (seed ${line.seed}, replay with --seed ${line.seed})`;
    assert.ok(line.acked > 0, `${what}: nothing was acked`);
    assert.equal(line.lost, 0, `${what}: lost ${line.lost_examples.join(', ')}`);
    assert.equal(line.segment_effective_duplicates, 0, `${what}: Segment duplicates`);
    assert.notEqual(line.recovery_s, null, `${what}: never caught up`);
    if (line.scenario === 'sigterm-all')
      assert.equal(line.normalized_duplicates, 0, `${what}: normalized duplicates`);
    assert.deepEqual(line.failures, [], what);
  }
}

test('the integrity lane in quick mode, on the test stack: no scenario loses an acked event or duplicates one in Segment', {
  timeout: 15 * 60_000,
}, async (t) => {
  const { brokers, registryUrl } = testStack();
  await quickLane(
    t,
    scenarios.filter((s) => !s.kafkaThroughProxy).map((s) => s.name),
    { KAFKA_BROKERS: brokers.join(','), SCHEMA_REGISTRY_URL: registryUrl },
  );
});

// A fault proxy between the services and the broker needs a broker listener advertised at the proxy's
// port, which only the lane's own stack has.
test('the integrity lane in quick mode, on a stack of its own: the scenarios with a fault proxy in front of the broker', {
  timeout: 15 * 60_000,
}, async (t) => {
  await quickLane(
    t,
    scenarios.filter((s) => s.kafkaThroughProxy).map((s) => s.name),
    { KAFKA_BROKERS: undefined, SCHEMA_REGISTRY_URL: undefined },
  );
});
