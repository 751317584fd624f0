import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { silentLogger } from '../../core/logger.ts';
import { groupAlive } from '../../stack/jvm-process.ts';
import { loadStackConfig, startStack } from '../../stack/local-stack.ts';
import { testKafka } from '../helpers/stack.ts';

async function waitForGroupsToEnd(pids: number[], timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let alive = pids.filter(groupAlive);
  while (alive.length > 0 && Date.now() < deadline) {
    await sleep(200);
    alive = pids.filter(groupAlive);
  }
  return alive;
}

test('the shared stack is a real broker that answers metadata', async (t) => {
  const cluster = await testKafka(t).describeCluster();
  assert.equal(cluster.brokers.length, 1);
  assert.ok(cluster.clusterId.length > 0);
});

test('stop() ends every process the stack started', async () => {
  const stack = await startStack(loadStackConfig({}), silentLogger());
  assert.equal(stack.external, false);
  assert.equal(stack.pids.length, 2);
  assert.deepEqual(stack.pids.filter(groupAlive), stack.pids, 'both JVMs run before stop()');
  await stack.stop();
  assert.deepEqual(stack.pids.filter(groupAlive), [], 'no process of the stack is left after stop()');
});

test('a parent killed with SIGKILL leaves no JVM behind', async () => {
  const child = spawn(
    process.execPath,
    ['--disable-warning=TimeoutNegativeWarning', 'test/helpers/stack-child.ts'],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const [line] = (await once(child.stdout, 'data')) as [Buffer];
  const { pids } = JSON.parse(line.toString()) as { pids: number[] };
  assert.equal(pids.length, 2);
  assert.deepEqual(pids.filter(groupAlive), pids);
  child.kill('SIGKILL');
  const alive = await waitForGroupsToEnd(pids, 30_000);
  assert.deepEqual(alive, [], 'the watchdogs stopped their JVMs once the parent was gone');
});

test('an existing cluster is used as it is and never stopped', async () => {
  const config = loadStackConfig({
    KAFKA_BROKERS: 'kafka-1:9092,kafka-2:9092',
    SCHEMA_REGISTRY_URL: 'http://sr:8081',
  });
  const stack = await startStack(config, silentLogger());
  assert.deepEqual(stack.brokers, ['kafka-1:9092', 'kafka-2:9092']);
  assert.equal(stack.registryUrl, 'http://sr:8081');
  assert.equal(stack.external, true);
  assert.deepEqual(stack.pids, []);
  await stack.stop();
});

test('a taken port fails with PORT_TAKEN naming the port', async (t) => {
  const blocker = createServer();
  blocker.listen(0, '127.0.0.1');
  await once(blocker, 'listening');
  t.after(() => blocker.close());
  const address = blocker.address();
  assert.ok(address && typeof address === 'object');
  const config = loadStackConfig({ LOCAL_KAFKA_PORT: String(address.port) });
  await assert.rejects(startStack(config, silentLogger()), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'PORT_TAKEN');
    assert.match(
      err.message,
      new RegExp(`127\\.0\\.0\\.1:${address.port} \\(Kafka broker\\) is already in use`),
    );
    return true;
  });
});
