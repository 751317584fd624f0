import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createKafkaClient, type IncomingRecord, type KafkaClient } from '../../core/kafka.ts';
import { silentLogger } from '../../core/logger.ts';
import {
  createSchemaRegistryClient,
  type SchemaRegistryClient,
  schemaIdOf,
} from '../../core/schema-registry.ts';
import { groupAlive } from '../../stack/jvm-process.ts';
import { clearLocalStackData, loadStackConfig, type Stack, startStack } from '../../stack/local-stack.ts';
import { eventually } from '../helpers/connector.ts';
import { testKafka, uniqueName } from '../helpers/stack.ts';

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

/** A record schema and a later, compatible version of it (a field added with a default). */
const PING_V1 = {
  type: 'record',
  name: 'Ping',
  namespace: 'test.restart',
  fields: [{ name: 'n', type: 'int' }],
};
const PING_V2 = { ...PING_V1, fields: [...PING_V1.fields, { name: 'note', type: 'string', default: '' }] };

interface Clients {
  kafka: KafkaClient;
  registry: SchemaRegistryClient;
}

/**
 * Runs `use` with clients of `stack` and closes them before returning, so none outlives the stack
 * (a client left on a stopped broker keeps reconnecting).
 */
async function withClients<T>(stack: Stack, use: (clients: Clients) => Promise<T>): Promise<T> {
  const kafka = createKafkaClient({
    brokers: stack.brokers,
    clientId: uniqueName('restart'),
    logger: silentLogger(),
  });
  try {
    return await use({ kafka, registry: createSchemaRegistryClient(stack.registryUrl) });
  } finally {
    await kafka.close();
  }
}

/** The records of `topic` from its start, each decoded through the schema id it names. */
async function storedValues({ kafka, registry }: Clients, topic: string, count: number) {
  const consumer = await kafka.consumer({ groupId: uniqueName('reader') });
  try {
    await consumer.subscribe([topic], { fromBeginning: true });
    const records: IncomingRecord[] = [];
    void consumer.run(async (record) => {
      records.push(record);
    });
    await eventually(`${count} records in ${topic}`, () => records.length >= count);
    return await Promise.all(
      records.map(async (r) => ({
        schemaId: schemaIdOf(r.value as Buffer),
        value: { ...(await registry.decode<object>(r.value as Buffer)) },
      })),
    );
  } finally {
    await consumer.disconnect();
  }
}

// Broke: the local stack kept the broker's log in a temporary folder and the registry in memory, so a
// restart of `start` lost every stored event, dead letter, committed offset and schema id.
test('a stack started again on its data folder keeps records, schema ids and committed offsets, after stop() and after SIGKILL', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'mailjet-connector-restart-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const config = loadStackConfig({ LOCAL_STACK_DATA_DIR: dataDir });
  const running = new Set<Stack>();
  t.after(() => Promise.all([...running].map((s) => s.stop())));
  const start = async () => {
    const stack = await startStack(config, silentLogger());
    running.add(stack);
    return stack;
  };
  const stop = async (stack: Stack) => {
    await stack.stop();
    running.delete(stack);
  };
  const topic = uniqueName('restart');
  const subject = `${topic}-value`;
  const groupId = uniqueName('restart-group');
  const v1Values = [1, 2, 3].map((n) => ({ n }));

  let stack = await start();
  const v1 = await withClients(stack, async ({ kafka, registry }) => {
    await kafka.ensureTopics([{ topic, partitions: 1 }]);
    const serializer = await registry.serializer(subject, PING_V1);
    const producer = await kafka.producer();
    const send = (values: object[]) =>
      producer.send([{ topic, records: values.map((v) => ({ key: null, value: serializer.encode(v) })) }]);
    try {
      await send(v1Values.slice(0, 2));
      // A consumer group that handled both records; the third one is stored but not yet delivered.
      const consumer = await kafka.consumer({ groupId });
      try {
        await consumer.subscribe([topic], { fromBeginning: true });
        void consumer.runBatches(async () => {});
        await eventually('the group committed offset 2', async () => {
          return (await kafka.committedOffsets(groupId, topic)).get(0) === '2';
        });
      } finally {
        await consumer.disconnect();
      }
      await send(v1Values.slice(2));
    } finally {
      await producer.disconnect();
    }
    return serializer;
  });
  // A second stack on the same folder while the first runs (a second `start`) is refused at once.
  await assert.rejects(startStack(config, silentLogger()), { code: 'LOCAL_STACK_DATA_IN_USE' });
  await stop(stack);

  stack = await start();
  const v2 = await withClients(stack, async (clients) => {
    assert.deepEqual(
      await storedValues(clients, topic, 3),
      v1Values.map((value) => ({ schemaId: v1.schemaId, value })),
      'after stop(): every record, decoded through the schema id it was written with',
    );
    assert.equal(await clients.registry.register(subject, PING_V1), v1.schemaId, 'the schema kept its id');
    assert.equal(
      (await clients.kafka.committedOffsets(groupId, topic)).get(0),
      '2',
      'the group resumes at 2',
    );
    // A new schema version and a record written with it just before both JVMs are killed outright.
    const serializer = await clients.registry.serializer(subject, PING_V2);
    assert.notEqual(serializer.schemaId, v1.schemaId);
    const producer = await clients.kafka.producer();
    try {
      await producer.send([
        { topic, records: [{ key: null, value: serializer.encode({ n: 4, note: 'v2' }) }] },
      ]);
    } finally {
      await producer.disconnect();
    }
    return serializer;
  });
  for (const pid of stack.pids) process.kill(-pid, 'SIGKILL');
  await stop(stack);

  stack = await start();
  await withClients(stack, async (clients) => {
    assert.deepEqual(
      await storedValues(clients, topic, 4),
      [
        ...v1Values.map((value) => ({ schemaId: v1.schemaId, value })),
        { schemaId: v2.schemaId, value: { n: 4, note: 'v2' } },
      ],
      'after SIGKILL: every record and both schema ids',
    );
    assert.equal((await clients.kafka.committedOffsets(groupId, topic)).get(0), '2');
  });
  assert.equal(stack.dataDir, dataDir, 'the stack names its data folder (start prints it)');
  await stop(stack);
});

test('clearLocalStackData (start --fresh) deletes what the broker and registry keep, and no other file', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'mailjet-connector-fresh-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  await mkdir(join(dataDir, 'kafka', '__cluster_metadata-0'), { recursive: true });
  await writeFile(join(dataDir, 'kafka', 'meta.properties'), 'cluster.id=x\n');
  await mkdir(join(dataDir, 'registry'));
  await writeFile(join(dataDir, 'registry', 'registry.mv.db'), '');
  await writeFile(join(dataDir, 'notes.txt'), 'a file of the user');
  await clearLocalStackData(dataDir);
  assert.deepEqual(await readdir(dataDir), ['notes.txt']);
});

// Broke: nothing could take the local broker or registry away and bring it back on the same port and
// folder, so the integrity lane could not kill the broker mid-stream (issue #16, scenarios 1 and 8).
test('a broker SIGKILLed and started again on its port and data folder keeps its records and offsets; a registry too keeps its schemas', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'mailjet-connector-part-restart-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const stack = await startStack(loadStackConfig({ LOCAL_STACK_DATA_DIR: dataDir }), silentLogger());
  t.after(() => stack.stop());
  const { broker, registry: registryPart } = stack;
  assert.ok(broker && registryPart, 'a stack with a data folder has parts to restart');
  const topic = uniqueName('part-restart');
  const groupId = uniqueName('part-restart-group');
  const firstPids = stack.pids;

  // Clients made before the kill, used again after it: the parts come back where they were.
  await withClients(stack, async (clients) => {
    await clients.kafka.ensureTopics([{ topic, partitions: 1 }]);
    const serializer = await clients.registry.serializer(`${topic}-value`, PING_V1);
    const producer = await clients.kafka.producer({ idempotent: true });
    try {
      await producer.send([
        { topic, records: [1, 2, 3].map((n) => ({ key: null, value: serializer.encode({ n }) })) },
      ]);
    } finally {
      await producer.disconnect();
    }
    const consumer = await clients.kafka.consumer({ groupId });
    try {
      await consumer.subscribe([topic], { fromBeginning: true });
      void consumer.runBatches(async () => {});
      await eventually('the group committed offset 3', async () => {
        return (await clients.kafka.committedOffsets(groupId, topic)).get(0) === '3';
      });
    } finally {
      await consumer.disconnect();
    }

    await broker.stop('SIGKILL');
    assert.equal(broker.running(), false);
    assert.equal(groupAlive(firstPids[0] as number), false, 'the killed broker JVM is gone');
    await registryPart.stop('SIGKILL');
    assert.equal(await clients.registry.ping(), false, 'nothing answers at the registry URL');

    await Promise.all([broker.start(), registryPart.start()]);
    assert.equal(broker.running(), true);
    assert.notDeepEqual(stack.pids, firstPids, 'the stack names the JVMs it runs now');
    assert.deepEqual(
      await storedValues(clients, topic, 3),
      [1, 2, 3].map((n) => ({ schemaId: serializer.schemaId, value: { n } })),
      'every record, decoded through the schema id it was written with',
    );
    assert.equal((await clients.kafka.committedOffsets(groupId, topic)).get(0), '3', 'the offset kept');
    assert.equal(await clients.registry.register(`${topic}-value`, PING_V1), serializer.schemaId);
  });

  const pids = stack.pids;
  await stack.stop();
  assert.deepEqual(pids.filter(groupAlive), [], 'stop() ends the JVMs started again');
});
