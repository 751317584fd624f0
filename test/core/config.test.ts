import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Type } from '@sinclair/typebox';
import { describeConfig, loadConfig } from '../../core/config.ts';
import { loadStackConfig, stackConfigSchema } from '../../stack/local-stack.ts';

function configError(env: NodeJS.ProcessEnv): Error & { code?: string } {
  try {
    loadStackConfig(env);
  } catch (err) {
    return err as Error & { code?: string };
  }
  assert.fail('expected a configuration error');
}

test('defaults apply when nothing is set, and the result is frozen', () => {
  const config = loadStackConfig({});
  assert.equal(config.LOCAL_KAFKA_PORT, 0);
  assert.equal(config.LOCAL_STACK_TIMEOUT_MS, 120_000);
  assert.equal(config.KAFKA_BROKERS, undefined);
  assert.ok(Object.isFrozen(config));
});

test('strings are coerced to the declared types; empty strings mean unset', () => {
  const config = loadStackConfig({ LOCAL_KAFKA_PORT: '19092', LOCAL_KAFKA_HEAP_MB: '' });
  assert.equal(config.LOCAL_KAFKA_PORT, 19092);
  assert.equal(config.LOCAL_KAFKA_HEAP_MB, 512);
});

test('a wrong value names the variable, the rule, what was given and an example', () => {
  const err = configError({ LOCAL_KAFKA_PORT: 'abc' });
  assert.equal(err.code, 'CONFIG_INVALID');
  assert.match(
    err.message,
    /LOCAL_KAFKA_PORT: Expected integer \(got "abc", for example LOCAL_KAFKA_PORT=9092\)/,
  );
  assert.match(err.message, /What to do: Fix the variable/);
});

test('a value out of range names the bound', () => {
  const err = configError({ LOCAL_KAFKA_PORT: '70000' });
  assert.match(err.message, /LOCAL_KAFKA_PORT: Expected integer to be less or equal to 65535/);
});

test('KAFKA_BROKERS must be host:port pairs', () => {
  const err = configError({ KAFKA_BROKERS: 'kafka-1', SCHEMA_REGISTRY_URL: 'http://sr:8081' });
  assert.match(
    err.message,
    /KAFKA_BROKERS: Expected string to match .* \(got "kafka-1", for example KAFKA_BROKERS=kafka-1:9092,kafka-2:9092\)/,
  );
});

test('SCHEMA_REGISTRY_URL must be an http(s) URL', () => {
  const err = configError({ KAFKA_BROKERS: 'kafka:9092', SCHEMA_REGISTRY_URL: 'sr:8081' });
  assert.match(err.message, /SCHEMA_REGISTRY_URL: Expected string to match/);
});

test('KAFKA_BROKERS without SCHEMA_REGISTRY_URL is refused, and the reverse', () => {
  assert.match(configError({ KAFKA_BROKERS: 'kafka:9092' }).message, /set both to use an existing cluster/);
  assert.match(
    configError({ SCHEMA_REGISTRY_URL: 'http://sr:8081' }).message,
    /set both to use an existing cluster/,
  );
});

test('every option documents its type, default and purpose', () => {
  for (const option of describeConfig(stackConfigSchema)) {
    assert.ok(option.description.length > 10, `${option.name} has a description`);
    assert.ok(option.type.length > 0, `${option.name} has a type`);
  }
});

// Broke: a secret that failed its rule was quoted in the message, which goes to stderr and container logs.
test('a wrong secret (writeOnly) is described by its length, never quoted', () => {
  const schema = Type.Object({ API_SECRET: Type.String({ writeOnly: true, minLength: 12 }) });
  assert.throws(
    () => loadConfig(schema, { API_SECRET: 'hunter2' }),
    (err: Error) => {
      assert.match(
        err.message,
        /API_SECRET: Expected string length greater or equal to 12 \(got 7 characters\)/,
      );
      assert.ok(!err.message.includes('hunter2'), err.message);
      return true;
    },
  );
});

test('LOCAL_KAFKA_PROXIED_ADVERTISED_PORT is a port a proxy can listen on, never 0', () => {
  assert.equal(loadStackConfig({}).LOCAL_KAFKA_PROXIED_ADVERTISED_PORT, undefined);
  assert.equal(
    loadStackConfig({ LOCAL_KAFKA_PROXIED_ADVERTISED_PORT: '19092' }).LOCAL_KAFKA_PROXIED_ADVERTISED_PORT,
    19092,
  );
  const err = configError({ LOCAL_KAFKA_PROXIED_ADVERTISED_PORT: '0' });
  assert.match(
    err.message,
    /LOCAL_KAFKA_PROXIED_ADVERTISED_PORT: Expected integer to be greater or equal to 1/,
  );
});
