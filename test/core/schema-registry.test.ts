import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer as createNetServer } from 'node:net';
import { type TestContext, test } from 'node:test';
import avro from 'avsc';
import { ConnectorError } from '../../core/errors.ts';
import {
  createAvroSerializer,
  createSchemaRegistryClient,
  schemaIdOf,
  WIRE_FORMAT_MAGIC_BYTE,
} from '../../core/schema-registry.ts';
import { registerValueSchema } from '../../core/service-clients.ts';
import { forwardToTestRegistry } from '../helpers/registry-outage.ts';
import { readRecords, testKafka, testRegistry, uniqueName } from '../helpers/stack.ts';

const greetingV1 = {
  type: 'record',
  name: 'Greeting',
  namespace: 'test.mailjet',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'count', type: 'long' },
  ],
};

test('an Avro record goes through the registry and Kafka in Confluent wire format', async (t) => {
  const kafka = testKafka(t);
  const registry = testRegistry();
  const topic = uniqueName('avro');
  await kafka.ensureTopics([{ topic }]);
  const schemaId = await registry.register(`${topic}-value`, greetingV1);
  assert.ok(Number.isInteger(schemaId) && schemaId > 0, `schema id ${schemaId}`);

  const value = { id: '94857068804950690', count: 3 };
  const producer = await kafka.producer();
  t.after(() => producer.disconnect());
  await producer.send([
    { topic, records: [{ key: 'bob@example.com', value: await registry.encode(schemaId, value) }] },
  ]);

  const [record] = await readRecords(t, kafka, topic, 1);
  assert.ok(record?.value);
  assert.equal(record.value[0], WIRE_FORMAT_MAGIC_BYTE);
  assert.equal(record.value.readInt32BE(1), schemaId);
  assert.equal(schemaIdOf(record.value), schemaId);
  assert.equal(record.key?.toString(), 'bob@example.com');
  // avsc decodes into record class instances; compare their fields.
  assert.deepEqual({ ...(await registry.decode<object>(record.value)) }, value);
});

test('the registry enforces BACKWARD compatibility, like Confluent by default', async () => {
  const registry = testRegistry();
  const subject = `${uniqueName('compat')}-value`;
  const firstId = await registry.register(subject, greetingV1);
  // Adding a field with a default is backward compatible.
  const withDefault = {
    ...greetingV1,
    fields: [...greetingV1.fields, { name: 'note', type: ['null', 'string'], default: null }],
  };
  const secondId = await registry.register(subject, withDefault);
  assert.notEqual(secondId, firstId);
  // Adding a required field is not: old records could not be read with the new schema.
  const breaking = { ...greetingV1, fields: [...greetingV1.fields, { name: 'required', type: 'string' }] };
  await assert.rejects(registry.register(subject, breaking), /compatib|409/i);
});

test('schemaIdOf refuses values that are not Confluent-framed', () => {
  assert.equal(schemaIdOf(Buffer.from('{"event":"open"}')), undefined);
  assert.equal(schemaIdOf(Buffer.from([0, 0, 0])), undefined);
  assert.equal(schemaIdOf(Buffer.from([0, 0, 0, 0, 7, 1])), 7);
});

test('a serializer frames each value as Confluent wire format, whatever its size, each in a buffer of its own', () => {
  const serializer = createAvroSerializer('greetings-value', 42, greetingV1);
  const type = avro.Type.forSchema(greetingV1 as avro.Schema);
  const values = [
    { id: 'a', count: 1 },
    // Larger than the scratch buffer the serializer starts with.
    { id: 'x'.repeat(200_000), count: -7 },
    { id: 'é'.repeat(40_000), count: 2 ** 40 },
    { id: 'b', count: 0 },
  ];
  const encoded = values.map((value) => serializer.encode(value));
  for (const [i, value] of values.entries()) {
    const expected = Buffer.concat([Buffer.from([0, 0, 0, 0, 42]), type.toBuffer(value)]);
    assert.deepEqual(encoded[i], expected, `value ${i}`);
    assert.equal(schemaIdOf(encoded[i] as Buffer), 42);
  }
});

/**
 * The test registry behind a gateway that asks for Basic credentials, as Confluent Cloud's registry and
 * gateways in front of Apicurio do: what the gateway saw, by answer.
 */
async function registryBehindBasicAuth(
  t: TestContext,
  credentials: { username: string; password: string },
): Promise<{ url: string; answers: Map<number, number> }> {
  const expected = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
  const answers = new Map<number, number>();
  const count = (status: number) => answers.set(status, (answers.get(status) ?? 0) + 1);
  const server = createServer(async (req, res) => {
    if (req.headers.authorization !== expected) {
      count(401);
      res
        .writeHead(401, { 'content-type': 'application/json' })
        .end('{"error_code":401,"message":"Unauthorized"}');
      return;
    }
    count(await forwardToTestRegistry(req, res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, answers };
}

test('a registry that asks for Basic credentials: registration, decoding and the probe all send them', async (t) => {
  const credentials = { username: 'SRKEY123', password: 'sr-secret' };
  const gateway = await registryBehindBasicAuth(t, credentials);
  const registry = createSchemaRegistryClient(gateway.url, credentials);
  const subject = `${uniqueName('auth')}-value`;

  const serializer = await registerValueSchema(registry, subject, greetingV1);
  const value = { id: 'x-1', count: 7 };
  // A fresh client, so the writer schema is fetched through the gateway rather than remembered.
  const decode = createSchemaRegistryClient(gateway.url, credentials).decoder<object>(greetingV1);
  assert.deepEqual({ ...(await decode(serializer.encode(value))) }, value);
  assert.equal(await registry.ping(), true);
  assert.equal(gateway.answers.get(401), undefined, 'no request went without the credentials');
  assert.ok((gateway.answers.get(200) ?? 0) >= 3, `answers ${JSON.stringify([...gateway.answers])}`);
});

test('a registry that takes the request and never answers: registering fails REGISTRY_UNAVAILABLE, to be tried again, instead of waiting for ever', {
  timeout: 60_000,
}, async (t) => {
  // What broke: registering went through a client with no timeout. The local registry once left a
  // registration unanswered on a fresh-clone run, and the test waited on it until the runner's
  // 15-minute limit; a service starting then would have waited for good, not ready, never retrying.
  const silent = createNetServer(() => {});
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const sockets = new Set<import('node:net').Socket>();
  silent.on('connection', (socket) => sockets.add(socket));
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise((resolve) => silent.close(resolve));
  });
  const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
  const registry = createSchemaRegistryClient(url, undefined, { requestTimeoutMs: 300 });

  const failed = await registry.register(`${uniqueName('silent')}-value`, greetingV1).then(
    () => assert.fail('registered with a registry that never answered'),
    (err: unknown) => err,
  );
  assert.ok(failed instanceof ConnectorError && failed.code === 'REGISTRY_UNAVAILABLE', String(failed));
  assert.equal(failed.retriable, true);
  assert.match(failed.message, /did not answer within 300 ms/);
  // Through the services' path too: a registry that does not answer is waited for, never a refusal.
  const refused = await registerValueSchema(registry, `${uniqueName('silent')}-value`, greetingV1).then(
    () => assert.fail('registered'),
    (err: unknown) => err,
  );
  assert.ok(refused instanceof ConnectorError && refused.code === 'REGISTRY_UNAVAILABLE', String(refused));
});

test('wrong registry credentials: start-up stops with REGISTRY_AUTH_FAILED; a decode is retried, never dead-lettered', async (t) => {
  const gateway = await registryBehindBasicAuth(t, { username: 'SRKEY123', password: 'sr-secret' });
  const wrong = createSchemaRegistryClient(gateway.url, { username: 'SRKEY123', password: 'stale' });
  const subject = `${uniqueName('auth')}-value`;

  const refused = await registerValueSchema(wrong, subject, greetingV1).then(
    () => assert.fail('registered with wrong credentials'),
    (err: unknown) => err,
  );
  assert.ok(refused instanceof ConnectorError && refused.code === 'REGISTRY_AUTH_FAILED', String(refused));
  assert.equal(refused.retriable, false);
  assert.match(refused.message, /the schema registry answered 401/);
  assert.match(refused.message, /Check SCHEMA_REGISTRY_USERNAME and SCHEMA_REGISTRY_PASSWORD/);
  assert.equal(await wrong.ping(), false, 'not ready while the registry refuses us');

  // A value of a schema registered by someone else, read with the stale credentials.
  const id = await testRegistry().register(subject, greetingV1);
  const framed = createAvroSerializer(subject, id, greetingV1).encode({ id: 'x-2', count: 1 });
  const failed = await wrong
    .decoder(greetingV1)(framed)
    .then(
      () => assert.fail('decoded with wrong credentials'),
      (err: unknown) => err,
    );
  assert.ok(failed instanceof ConnectorError && failed.code === 'REGISTRY_UNAVAILABLE', String(failed));
  assert.equal(failed.retriable, true);
  assert.match(failed.message, /answered 401 for schema id \d+ \(check SCHEMA_REGISTRY_USERNAME/);
});

test('a value of a registered schema the reader cannot resolve fails WRONG_SCHEMA, not retriable, asked once', async (t) => {
  // What broke: avsc's plain Error ("no alias found") escaped the decoder, so consumers retried it for ever.
  const credentials = { username: 'SRKEY123', password: 'sr-secret' };
  const gateway = await registryBehindBasicAuth(t, credentials);
  const other = {
    type: 'record',
    name: 'Other',
    namespace: 'test.mailjet',
    fields: [{ name: 'x', type: 'int' }],
  };
  const id = await testRegistry().register(`${uniqueName('other')}-value`, other);
  const framed = createAvroSerializer('other', id, other).encode({ x: 1 });
  const decode = createSchemaRegistryClient(gateway.url, credentials).decoder(greetingV1);

  for (let attempt = 0; attempt < 2; attempt++) {
    const failed = await decode(framed).then(
      () => assert.fail('decoded as a Greeting'),
      (err: unknown) => err,
    );
    assert.ok(failed instanceof ConnectorError && failed.code === 'WRONG_SCHEMA', String(failed));
    assert.equal(failed.retriable, false);
    assert.match(
      failed.message,
      /Schema id \d+ \(test\.mailjet\.Other\) cannot be read as test\.mailjet\.Greeting/,
    );
  }
  assert.equal(gateway.answers.get(200), 1, 'a schema that can never be read is fetched once');
});
