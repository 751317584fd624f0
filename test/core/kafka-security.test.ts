/**
 * TLS and SASL against a broker of this file's own with a SASL_SSL listener (self-signed certificate,
 * PLAIN and SCRAM-SHA-512 users), as managed clusters offer: configured from the environment as a user
 * would, through the ingress and core/kafka.ts.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ConnectorError } from '../../core/errors.ts';
import { createKafkaClient, type KafkaSecurity } from '../../core/kafka.ts';
import { silentLogger } from '../../core/logger.ts';
import { type RunningBroker, type SecuredListeners, startKafkaBroker } from '../../stack/kafka-broker.ts';
import { loadStackConfig, startStack } from '../../stack/local-stack.ts';
import { mailjetSamples } from '../fixtures/mailjet-events.ts';
import { postWebhook, startTestIngress } from '../helpers/ingress.ts';
import { readRecords, testStack, uniqueName } from '../helpers/stack.ts';

const USER = 'alice';
const PASSWORD = 'alice-secret-1';
let broker: RunningBroker;
let secured: SecuredListeners;
let dir: string;
let caFile: string;

before(async () => {
  broker = await startKafkaBroker({
    port: 0,
    heapMb: 256,
    readyTimeoutMs: 120_000,
    saslSslUsers: { [USER]: PASSWORD },
  });
  assert.ok(broker.secured, 'the broker has its secured listeners');
  secured = broker.secured;
  dir = await mkdtemp(join(tmpdir(), 'mailjet-connector-tls-'));
  caFile = join(dir, 'broker-ca.pem');
  await writeFile(caFile, secured.caPem);
});
after(async () => {
  await broker?.process.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A client of a secured listener (SASL_SSL unless told) with these settings; closed when the test ends. */
function securedClient(
  t: { after(fn: () => unknown): void },
  security: KafkaSecurity,
  options: { retries?: number; bootstrap?: string } = {},
) {
  const client = createKafkaClient({
    brokers: [options.bootstrap ?? secured.saslSsl],
    clientId: uniqueName('secured'),
    logger: silentLogger(),
    connectionTimeoutMs: 3000,
    retries: options.retries ?? 2,
    security,
  });
  t.after(() => client.close());
  return client;
}

/** What a client's first request failed with. */
async function failureOf(request: Promise<unknown>): Promise<ConnectorError> {
  const error = await request.then(
    () => assert.fail('the request succeeded'),
    (err: unknown) => err,
  );
  assert.ok(error instanceof ConnectorError, `a ConnectorError, got ${String(error)}`);
  return error;
}

/** The cluster as the processes see it from these variables (beside the shared registry). */
function clusterFrom(env: NodeJS.ProcessEnv) {
  return startStack(
    loadStackConfig({ SCHEMA_REGISTRY_URL: testStack().registryUrl, KAFKA_SSL_CA_FILE: caFile, ...env }),
    silentLogger(),
  );
}

test('an ingress configured for SASL_SSL with SCRAM-SHA-512 stores webhooks and is ready; a PLAIN user reads them', async (t) => {
  const stack = await clusterFrom({
    KAFKA_BROKERS: secured.saslSsl,
    KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
    KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
    KAFKA_SASL_USERNAME: USER,
    KAFKA_SASL_PASSWORD: PASSWORD,
  });
  const ingress = await startTestIngress(t, {}, stack);

  const answer = await postWebhook(ingress, `[${mailjetSamples.open},${mailjetSamples.click}]`);
  assert.equal(answer.status, 200, await answer.text());
  const ready = await fetch(`${ingress.url}/health/ready`);
  assert.equal(ready.status, 200, 'the readiness probe reaches Kafka over SASL_SSL too');

  const reader = securedClient(t, {
    tls: { ca: secured.caPem },
    sasl: { mechanism: 'PLAIN', username: USER, password: PASSWORD },
  });
  const records = await readRecords(t, reader, ingress.topics.RAW_TOPIC, 2);
  assert.deepEqual(records.map((r) => r.key?.toString()).sort(), ['api@mailjet.com', 'api@mailjet.com']);
});

test('a wrong password stops the ingress start-up with KAFKA_AUTH_FAILED, which says what to check', async (t) => {
  const stack = await clusterFrom({
    KAFKA_BROKERS: secured.saslSsl,
    KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
    KAFKA_SASL_USERNAME: USER,
    KAFKA_SASL_PASSWORD: 'not-the-password',
  });
  const error = await failureOf(startTestIngress(t, {}, stack));
  assert.equal(error.code, 'KAFKA_AUTH_FAILED');
  assert.equal(error.retriable, false);
  assert.match(error.message, /refused the SASL login: SASL PLAIN authentication failed/);
  assert.match(error.message, /Check KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD and KAFKA_SASL_MECHANISM/);
  assert.doesNotMatch(error.message, /not-the-password/, 'the password is never shown');
});

test('brokers whose certificate the configured CAs do not vouch for: KAFKA_TLS_FAILED names KAFKA_SSL_CA_FILE', async (t) => {
  // No CA given: Node's own CAs, which do not know the broker's self-signed certificate.
  const client = securedClient(
    t,
    { tls: {}, sasl: { mechanism: 'PLAIN', username: USER, password: PASSWORD } },
    { retries: 0 },
  );
  const error = await failureOf(client.describeCluster());
  assert.equal(error.code, 'KAFKA_TLS_FAILED');
  assert.match(error.message, /TLS with Kafka \(127\.0\.0\.1:\d+\) failed: .*self-signed certificate/);
  assert.match(error.message, /Point KAFKA_SSL_CA_FILE at the CA/);
});

test('mutual TLS from files: SSL with a client certificate reaches a listener that requires one', async (t) => {
  const cert = join(dir, 'client.pem');
  const key = join(dir, 'client.key');
  await writeFile(cert, secured.clientCertPem);
  await writeFile(key, secured.clientKeyPem);
  const stack = await clusterFrom({
    KAFKA_BROKERS: secured.mutualTls,
    KAFKA_SECURITY_PROTOCOL: 'SSL',
    KAFKA_SSL_CERT_FILE: cert,
    KAFKA_SSL_KEY_FILE: key,
  });
  const ingress = await startTestIngress(t, {}, stack);
  assert.equal((await postWebhook(ingress, mailjetSamples.sent)).status, 200);

  // The same listener without a certificate: the broker ends the handshake.
  const anonymous = securedClient(
    t,
    { tls: { ca: secured.caPem } },
    { retries: 0, bootstrap: secured.mutualTls },
  );
  const error = await failureOf(anonymous.describeCluster());
  assert.equal(error.code, 'KAFKA_TLS_FAILED', error.message);
});

/** `mailjet-connector ingress` with these variables: its log lines, and how it ended. */
function runIngressCommand(env: NodeJS.ProcessEnv) {
  const child = spawn(
    process.execPath,
    [
      '--disable-warning=TimeoutNegativeWarning',
      fileURLToPath(new URL('../../bin/mailjet-connector.ts', import.meta.url)),
      'ingress',
    ],
    {
      env: {
        PATH: process.env.PATH,
        KAFKA_BROKERS: secured.saslSsl,
        SCHEMA_REGISTRY_URL: testStack().registryUrl,
        KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
        KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
        KAFKA_SASL_USERNAME: USER,
        KAFKA_SSL_CA_FILE: caFile,
        INGRESS_HOST: '127.0.0.1',
        INGRESS_PORT: '0',
        INGRESS_BASIC_AUTH_USER: 'mailjet',
        INGRESS_BASIC_AUTH_PASSWORD: 'a-long-test-password',
        RAW_TOPIC: uniqueName('raw'),
        DEAD_LETTER_TOPIC: uniqueName('dlq'),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { child, exited, output: () => ({ stdout, stderr }) };
}

test('the ingress command: a SASL_SSL cluster from the environment; a refused login exits 1 with the code and what to do', async (t) => {
  const ingress = runIngressCommand({ KAFKA_SASL_PASSWORD: PASSWORD });
  t.after(() => ingress.child.kill('SIGKILL'));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setInterval(() => {
      const match = /"port":(\d+)[^\n]*"msg":"ingress listening"/.exec(ingress.output().stdout);
      if (match) {
        clearInterval(timer);
        resolve(Number(match[1]));
      }
    }, 50);
    ingress.exited.then((code) => {
      clearInterval(timer);
      reject(new Error(`exited ${code}: ${JSON.stringify(ingress.output())}`));
    });
  });
  const answer = await fetch(`http://127.0.0.1:${port}/webhooks/mailjet`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Basic ${Buffer.from('mailjet:a-long-test-password').toString('base64')}`,
    },
    body: mailjetSamples.open,
  });
  assert.equal(answer.status, 200, await answer.text());
  ingress.child.kill('SIGTERM');
  assert.equal(await ingress.exited, 0);

  const refused = runIngressCommand({ KAFKA_SASL_PASSWORD: 'not-the-password' });
  t.after(() => refused.child.kill('SIGKILL'));
  assert.equal(await refused.exited, 1);
  const { stderr } = refused.output();
  assert.match(stderr, /^error KAFKA_AUTH_FAILED: Kafka \(127\.0\.0\.1:\d+\) refused the SASL login/m);
  assert.match(stderr, /What to do: Check KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD and KAFKA_SASL_MECHANISM/);
  assert.doesNotMatch(stderr + refused.output().stdout, /not-the-password/);
});
