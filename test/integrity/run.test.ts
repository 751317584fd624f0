import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);

// Scenarios that kill the broker or the registry cannot run against an existing cluster: the lane must
// say so before it starts anything, not skip them or fail minutes later.
test('the lane refuses an existing cluster for a scenario that stops a part of the stack, saying why', async () => {
  const lane = await run(
    process.execPath,
    ['--disable-warning=TimeoutNegativeWarning', 'integrity/run.ts', '--quick', '--scenario', 'broker-kill'],
    {
      cwd: new URL('../../', import.meta.url),
      env: {
        PATH: process.env.PATH,
        KAFKA_BROKERS: '127.0.0.1:9',
        SCHEMA_REGISTRY_URL: 'http://127.0.0.1:9',
      },
    },
  ).then(
    () => assert.fail('the lane ran broker-kill against an existing cluster'),
    (err: { code?: number; stdout: string; stderr: string }) => err,
  );
  assert.equal(lane.code, 1);
  assert.match(lane.stderr, /^broker-kill: these scenarios stop the broker or the schema registry/m);
  assert.match(lane.stderr, /Unset KAFKA_BROKERS and SCHEMA_REGISTRY_URL/);
  assert.doesNotMatch(lane.stdout, /^stack:/m, 'no stack was started, no service built');
});

// An unknown flag printed a Node stack trace (parseArgs' TypeError), and --help was one such flag.
test('the lane answers --help with its usage, and an unknown flag with what is wrong and its usage, exit 2', async () => {
  const lane = (...args: string[]) =>
    run(process.execPath, ['--disable-warning=TimeoutNegativeWarning', 'integrity/run.ts', ...args], {
      cwd: new URL('../../', import.meta.url),
      env: { PATH: process.env.PATH },
    });
  const help = await lane('--help');
  assert.match(help.stdout, /^Usage: npm run integrity -- \[--quick\]/);
  const unknown = await lane('--bogus').then(
    () => assert.fail('the lane ran with an unknown flag'),
    (err: { code?: number; stdout: string; stderr: string }) => err,
  );
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /^Unknown option '--bogus'/);
  assert.match(unknown.stderr, /^Usage: npm run integrity -- /m);
  assert.doesNotMatch(unknown.stderr, /\n\s+at /, 'no stack trace');
});
