import assert from 'node:assert/strict';
import { test } from 'node:test';
import avro from 'avsc';
import { createAvroSerializer, schemaIdOf, WIRE_FORMAT_MAGIC_BYTE } from '../../core/schema-registry.ts';
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
