import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { clusterSecurityOf } from '../../core/cluster-security.ts';
import { ConnectorError } from '../../core/errors.ts';
import { loadStackConfig } from '../../stack/local-stack.ts';

const cluster = { KAFKA_BROKERS: 'kafka-1:9093', SCHEMA_REGISTRY_URL: 'https://registry.example:8081' };
const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
let dir: string;
let caFile: string;
let notPem: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mailjet-connector-security-'));
  caFile = join(dir, 'ca.pem');
  notPem = join(dir, 'ca.der');
  await writeFile(caFile, pem);
  await writeFile(notPem, Buffer.from([0x30, 0x82, 0x01]));
});
after(() => rm(dir, { recursive: true, force: true }));

/** The CONFIG_INVALID message of an environment, or a failure if it loads. */
function problemsOf(env: NodeJS.ProcessEnv): string {
  try {
    loadStackConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConnectorError && err.code === 'CONFIG_INVALID', String(err));
    return err.message;
  }
  assert.fail('the configuration was accepted');
}

test('no security variables: plaintext Kafka and an open registry', () => {
  assert.deepEqual(clusterSecurityOf(loadStackConfig(cluster)), {});
});

test('SASL_SSL with SCRAM, a CA file and registry credentials become the clients settings', () => {
  const config = loadStackConfig({
    ...cluster,
    KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
    KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
    KAFKA_SASL_USERNAME: 'alice',
    KAFKA_SASL_PASSWORD: 'alice-secret',
    KAFKA_SSL_CA_FILE: caFile,
    SCHEMA_REGISTRY_USERNAME: 'SRKEY',
    SCHEMA_REGISTRY_PASSWORD: 'srsecret',
  });
  assert.deepEqual(clusterSecurityOf(config), {
    kafka: {
      tls: { ca: pem },
      sasl: { mechanism: 'SCRAM-SHA-512', username: 'alice', password: 'alice-secret' },
    },
    registryAuth: { username: 'SRKEY', password: 'srsecret' },
  });
});

test('SSL alone is TLS with the system CAs; PLAIN is the default mechanism of SASL_*', () => {
  assert.deepEqual(clusterSecurityOf(loadStackConfig({ ...cluster, KAFKA_SECURITY_PROTOCOL: 'SSL' })), {
    kafka: { tls: {} },
  });
  const sasl = loadStackConfig({
    ...cluster,
    KAFKA_SECURITY_PROTOCOL: 'SASL_PLAINTEXT',
    KAFKA_SASL_USERNAME: 'key',
    KAFKA_SASL_PASSWORD: 'secret',
  });
  assert.deepEqual(clusterSecurityOf(sasl), {
    kafka: { sasl: { mechanism: 'PLAIN', username: 'key', password: 'secret' } },
  });
});

test('each wrong combination names the variables to fix', () => {
  assert.match(
    problemsOf({ ...cluster, KAFKA_SECURITY_PROTOCOL: 'SASL_SSL' }),
    /KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD: both are needed with KAFKA_SECURITY_PROTOCOL=SASL_SSL/,
  );
  assert.match(
    problemsOf({ ...cluster, KAFKA_SASL_USERNAME: 'a', KAFKA_SASL_PASSWORD: 'b' }),
    /KAFKA_SECURITY_PROTOCOL=PLAINTEXT sends no user; use SASL_SSL/,
  );
  assert.match(
    problemsOf({
      ...cluster,
      KAFKA_SECURITY_PROTOCOL: 'SASL_PLAINTEXT',
      KAFKA_SASL_USERNAME: 'a',
      KAFKA_SASL_PASSWORD: 'b',
      KAFKA_SSL_CA_FILE: caFile,
    }),
    /KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT does not use TLS/,
  );
  assert.match(
    problemsOf({ ...cluster, KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_SSL_CERT_FILE: caFile }),
    /KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE: set both/,
  );
  assert.match(
    problemsOf({ ...cluster, SCHEMA_REGISTRY_USERNAME: 'key' }),
    /SCHEMA_REGISTRY_USERNAME and SCHEMA_REGISTRY_PASSWORD: set both/,
  );
  assert.match(
    problemsOf({ ...cluster, KAFKA_SECURITY_PROTOCOL: 'TLS' }),
    /KAFKA_SECURITY_PROTOCOL:.*got "TLS"/,
  );
});

test('certificate files are read at start-up: a missing or non-PEM file is named with its variable', () => {
  const missing = join(dir, 'nowhere.pem');
  assert.match(
    problemsOf({ ...cluster, KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_SSL_CA_FILE: missing }),
    new RegExp(`KAFKA_SSL_CA_FILE: cannot read ${missing} \\(ENOENT\\)`),
  );
  assert.match(
    problemsOf({ ...cluster, KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_SSL_CA_FILE: notPem }),
    /KAFKA_SSL_CA_FILE: .*ca\.der is not PEM/,
  );
});

test('security settings without KAFKA_BROKERS: the local stack is plaintext, so they are refused', () => {
  assert.match(
    problemsOf({ KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_USERNAME: 'a', KAFKA_SASL_PASSWORD: 'b' }),
    /KAFKA_SECURITY_PROTOCOL: applies to the cluster of KAFKA_BROKERS; the local stack is plaintext/,
  );
  assert.match(
    problemsOf({ KAFKA_SSL_CA_FILE: caFile }),
    /KAFKA_SSL_CA_FILE: applies to the cluster of KAFKA_BROKERS/,
  );
});
