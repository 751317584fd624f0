import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConnectorError } from '../../core/errors.ts';
import type { IncomingRecord } from '../../core/kafka.ts';
import { silentLogger } from '../../core/logger.ts';
import { openServiceClients, registerValueSchema, startGroupConsumer } from '../../core/service-clients.ts';
import { eventually } from '../helpers/connector.ts';
import { testStack, uniqueName } from '../helpers/stack.ts';

const record = (name: string, fields: { name: string; type: string; default?: unknown }[]) => ({
  type: 'record',
  name,
  fields,
});

test('a schema the registry refuses as incompatible stops start-up with SCHEMA_REGISTRATION_FAILED', async (t) => {
  const clients = openServiceClients({ ...testStack(), logger: silentLogger() }, 'test-service');
  t.after(() => clients.close());
  const subject = `${uniqueName('topic')}-value`;
  const first = await registerValueSchema(
    clients.registry,
    subject,
    record('R', [{ name: 'a', type: 'string' }]),
  );
  assert.ok(first.schemaId > 0);
  // A new required field without a default: readers of the new schema cannot read old records.
  const incompatible = record('R', [
    { name: 'a', type: 'string' },
    { name: 'b', type: 'string' },
  ]);
  await assert.rejects(registerValueSchema(clients.registry, subject, incompatible), (err: unknown) => {
    assert.ok(err instanceof ConnectorError);
    assert.equal(err.code, 'SCHEMA_REGISTRATION_FAILED');
    assert.match(err.message, new RegExp(`^Registering ${subject}: `));
    return true;
  });
});

test('a subject of ours set to another compatibility rule stops start-up, naming the rule found and ours', async (t) => {
  const clients = openServiceClients({ ...testStack(), logger: silentLogger() }, 'test-service');
  t.after(() => clients.close());
  const subject = `${uniqueName('topic')}-value`;
  const schema = record('R', [{ name: 'a', type: 'string' }]);
  await registerValueSchema(clients.registry, subject, schema);
  const url = `${testStack().registryUrl}/config/${subject}`;
  assert.deepEqual(
    await (await fetch(url)).json(),
    { compatibilityLevel: 'BACKWARD' },
    'set at registration',
  );
  const changed = await fetch(url, {
    method: 'PUT',
    headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
    body: JSON.stringify({ compatibility: 'NONE' }),
  });
  assert.equal(changed.status, 200, await changed.text());
  await assert.rejects(registerValueSchema(clients.registry, subject, schema), (err: unknown) => {
    assert.ok(err instanceof ConnectorError);
    assert.equal(err.code, 'SCHEMA_REGISTRATION_FAILED');
    assert.match(err.message, /BACKWARD != NONE/);
    return true;
  });
});

// Found by the integrity lane: three connectors started at once on a new topic; the registry refused all
// but one registration of the new subject ("A rule named 'COMPATIBILITY' already exists", 409) and the
// others exited with SCHEMA_REGISTRATION_FAILED.
test('processes that register the same schema on a new subject at once all start, with the one schema id', async (t) => {
  const subject = `${uniqueName('topic')}-value`;
  const schema = record('R', [{ name: 'a', type: 'string' }]);
  const replicas = Array.from({ length: 10 }, () => {
    const clients = openServiceClients({ ...testStack(), logger: silentLogger() }, 'test-service');
    t.after(() => clients.close());
    return clients;
  });
  const registered = await Promise.all(
    replicas.map((clients) => registerValueSchema(clients.registry, subject, schema)),
  );
  assert.equal(new Set(registered.map((serializer) => serializer.schemaId)).size, 1);
});

test('a group consumer reports when it joined and hands over the records of its topics', async (t) => {
  const clients = openServiceClients({ ...testStack(), logger: silentLogger() }, 'test-service');
  t.after(() => clients.close());
  const topic = uniqueName('service');
  await clients.kafka.ensureTopics([{ topic, partitions: 2 }]);
  const producer = await clients.kafka.producer();
  t.after(() => producer.disconnect());
  await producer.send([
    {
      topic,
      records: [
        { key: 'a', value: Buffer.from('1') },
        { key: 'b', value: Buffer.from('2') },
      ],
    },
  ]);

  const seen: IncomingRecord[] = [];
  const consumer = await startGroupConsumer({
    kafka: clients.kafka,
    groupId: uniqueName('group'),
    topics: [topic],
    handler: async (batch) => {
      seen.push(...batch.records);
      return { output: [] };
    },
    log: silentLogger(),
  });
  t.after(() => consumer.disconnect());
  await eventually('both records', () => seen.length === 2);
  assert.equal(consumer.joined(), true);
  assert.deepEqual(seen.map((r) => r.value?.toString()).sort(), ['1', '2']);
});

test('a batch failing with an error no retry can fix stops the process; one a retry may heal is tried again', async (t) => {
  // Every stage's batch goes through this loop: a Segment write key refused mid-stream (the sink), a
  // Mailjet key pair (the worker), Segment's letters re-driven without a write key (replay) must stop
  // the process, not be read again for ever; a registry away is waited out.
  const clients = openServiceClients({ ...testStack(), logger: silentLogger() }, 'test-service');
  t.after(() => clients.close());
  const topic = uniqueName('fatal');
  const groupId = uniqueName('fatal-group');
  await clients.kafka.ensureTopics([{ topic, partitions: 1 }]);
  const producer = await clients.kafka.producer();
  t.after(() => producer.disconnect());
  await producer.send([{ topic, records: [{ key: 'a', value: Buffer.from('1') }] }]);

  const failures = [
    new ConnectorError('REGISTRY_UNAVAILABLE', 'The registry did not answer.'),
    new ConnectorError('SEGMENT_AUTH_FAILED', 'Segment refused the write key.'),
  ];
  let attempts = 0;
  const fatal: Error[] = [];
  const consumer = await startGroupConsumer({
    kafka: clients.kafka,
    groupId,
    topics: [topic],
    handler: async () => {
      throw failures[Math.min(attempts++, failures.length - 1)];
    },
    log: silentLogger(),
    onFatal: (error) => fatal.push(error),
  });
  t.after(() => consumer.disconnect());
  await eventually('the process told to stop', () => fatal.length > 0);
  assert.equal(attempts >= 2, true, 'the retriable failure was tried again');
  assert.equal((fatal[0] as ConnectorError).code, 'SEGMENT_AUTH_FAILED');
  await consumer.disconnect();
  assert.equal((await clients.kafka.committedOffsets(groupId, topic)).get(0), '-1', 'nothing committed');
});
