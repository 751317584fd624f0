import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startService } from '../../bench/service-child.ts';
import { eventually } from '../helpers/connector.ts';

// The integrity lane keeps a failed run's service logs: without them a run that never caught up said
// only that (it took a hand-made copy of the lane to see the producer refused as out of order).
test('a service child writes every line of its stdout to its log file, before and after its ready line', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'service-child-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const logFile = join(dir, 'service.log');
  const script = [
    "console.log('starting');",
    "console.log(JSON.stringify({ level: 'info', msg: 'ready', port: 1234 }));",
    "setTimeout(() => { console.log(JSON.stringify({ level: 'warn', msg: 'later' })); process.exit(0); }, 50);",
  ].join(' ');
  const child = await startService({
    what: 'a test child',
    command: process.execPath,
    args: ['-e', script],
    env: { PATH: process.env.PATH },
    readyMessage: 'ready',
    keepProblems: 1,
    logFile,
  });
  assert.equal(child.port, 1234);
  assert.equal(await child.exited, 'exit 0');
  const lines = () => readFileSync(logFile, 'utf8').trimEnd().split('\n');
  await eventually('the log file written to its end', () => lines().length >= 3);
  assert.deepEqual(lines(), [
    'starting',
    '{"level":"info","msg":"ready","port":1234}',
    '{"level":"warn","msg":"later"}',
  ]);
  assert.equal(child.warnings(), 1);
});
