import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { createLogger } from '../../core/logger.ts';

/** The first line a logger writes to `out`, once it has arrived. */
async function firstLine(out: PassThrough): Promise<string> {
  const [chunk] = (await once(out, 'data')) as [Buffer];
  return chunk.toString('utf8');
}

const secrets = { password: 'pw-not-in-logs-123', token: 'tk-not-in-logs-456' };

test('off a terminal, log lines are JSON with the level as its name and credentials redacted', async () => {
  const out = new PassThrough();
  const logger = createLogger({ pretty: false, destination: out });
  const line = firstLine(out);
  logger.info({ request: secrets }, 'webhook refused');
  const record = JSON.parse(await line);
  assert.equal(record.level, 'info');
  assert.equal(record.msg, 'webhook refused');
  assert.deepEqual(record.request, { password: '[redacted]', token: '[redacted]' });
});

test('on a terminal, log lines are for a person, not JSON, and credentials are still redacted', async () => {
  const out = new PassThrough();
  const logger = createLogger({ pretty: true, destination: out });
  const line = firstLine(out);
  logger.warn({ request: secrets }, 'webhook refused');
  const text = await line;
  assert.throws(() => JSON.parse(text), SyntaxError);
  assert.match(text, /WARN.*webhook refused/);
  assert.match(text, /\[redacted\]/);
  assert.doesNotMatch(text, /pw-not-in-logs|tk-not-in-logs/);
});

test('by default a process whose stdout is a pipe (a container, a service manager) writes JSON lines', () => {
  const script = `import { createLogger } from ${JSON.stringify(new URL('../../core/logger.ts', import.meta.url).href)};
createLogger().info('started');`;
  const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
  });
  const record = JSON.parse(output.trim());
  assert.equal(record.msg, 'started');
  assert.equal(record.level, 'info');
});
