import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger } from '../../core/logger.ts';
import { openServiceClients, registerValueSchema } from '../../core/service-clients.ts';
import { type AvroRecordSchema, schemaContracts } from '../../schemas/index.ts';
import { testStack, uniqueName } from '../helpers/stack.ts';

const fieldNames = (schema: AvroRecordSchema) => schema.fields.map((field) => field.name);

test('every topic has its released versions under schemas/released, the newest with the fields written today', () => {
  for (const { name, current, released } of schemaContracts()) {
    assert.ok(released.length > 0, `${name}: no released version in schemas/released`);
    assert.deepEqual(
      released.map((r) => r.version),
      released.map((_, i) => i + 1),
      `${name}: versions numbered from 1 without gaps`,
    );
    for (const { version, schema } of released) {
      assert.equal(
        `${schema.namespace}.${schema.name}`,
        `${current.namespace}.${current.name}`,
        `${name} v${version}`,
      );
    }
    // A changed field list is a new contract: released as the next version, with the change documented.
    assert.deepEqual(
      fieldNames(current),
      fieldNames(released.at(-1)?.schema ?? current),
      `${name}: release it`,
    );
  }
});

test("each topic's schema is BACKWARD compatible with every released version, on the real registry", async (t) => {
  const clients = openServiceClients({ ...testStack(), logger: silentLogger() }, 'test-schemas');
  t.after(() => clients.close());
  for (const { name, current, released } of schemaContracts()) {
    for (const { version, schema } of released) {
      // A subject of its own per released version: BACKWARD checks against the latest version only.
      const subject = `${uniqueName(`${name}-v${version}`)}-value`;
      await registerValueSchema(clients.registry, subject, schema);
      // Refused (SCHEMA_REGISTRATION_FAILED) if a reader of today's schema could not read that version's records.
      const today = await registerValueSchema(clients.registry, subject, current);
      assert.ok(today.schemaId > 0, `${name} against v${version}`);
    }
  }
});
