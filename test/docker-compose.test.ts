import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse } from 'yaml';
import { allOptionNames } from '../bin/configuration.ts';

interface Service {
  image?: string;
  build?: string;
  command?: string[];
  environment?: Record<string, unknown>;
}

const compose = parse(readFileSync(new URL('../docker-compose.yml', import.meta.url), 'utf8')) as {
  services: Record<string, Service>;
};

test('docker-compose.yml has Kafka, a schema registry, the ingress, the connector and the destination', () => {
  assert.deepEqual(Object.keys(compose.services).sort(), [
    'connector',
    'destination',
    'ingress',
    'kafka',
    'schema-registry',
  ]);
  assert.match(compose.services.kafka?.image ?? '', /^confluentinc\/cp-kafka:8\./);
  assert.equal(
    compose.services.kafka?.environment?.KAFKA_PROCESS_ROLES,
    'broker,controller',
    'KRaft, no ZooKeeper',
  );
  assert.match(compose.services['schema-registry']?.image ?? '', /^confluentinc\/cp-schema-registry:8\./);
});

test('the project services use only documented configuration names', () => {
  const known = allOptionNames();
  for (const name of ['ingress', 'connector', 'destination']) {
    const service = compose.services[name];
    assert.equal(service?.build, '.', `${name} is built from this repository`);
    const unknown = Object.keys(service?.environment ?? {}).filter((key) => !known.has(key));
    assert.deepEqual(unknown, [], `${name} sets variables no config schema declares`);
  }
});

test('the project services reach Kafka and the registry inside the compose network', () => {
  for (const name of ['ingress', 'connector', 'destination']) {
    const env = compose.services[name]?.environment ?? {};
    assert.equal(env.KAFKA_BROKERS, 'kafka:29092');
    assert.equal(env.SCHEMA_REGISTRY_URL, 'http://schema-registry:8081');
  }
});

test('the image holds every source folder the command line imports', () => {
  const dockerfile = readFileSync(new URL('../Dockerfile', import.meta.url), 'utf8');
  const copied = new Set([...dockerfile.matchAll(/^COPY (\S+) \.\/\S+$/gm)].map((m) => m[1]));
  const tsconfig = JSON.parse(readFileSync(new URL('../tsconfig.json', import.meta.url), 'utf8')) as {
    include: string[];
  };
  const sources = tsconfig.include
    .map((pattern) => pattern.split('/')[0] as string)
    // The test and measuring lanes: never imported by the command line.
    .filter((folder) => !['test', 'bench', 'integrity'].includes(folder));
  const missing = sources.filter((folder) => !copied.has(folder));
  assert.deepEqual(
    missing,
    [],
    'folders the image lacks (bin/mailjet-connector.ts would fail to import them)',
  );
  const build = JSON.parse(readFileSync(new URL('../tsconfig.build.json', import.meta.url), 'utf8')) as {
    include: string[];
  };
  assert.deepEqual(
    [...build.include].sort(),
    [...sources].sort(),
    'tsconfig.build.json must compile every source folder into dist/, and no test, bench or integrity lane',
  );
});
