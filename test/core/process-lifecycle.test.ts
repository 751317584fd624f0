import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConnectorConfig } from '../../connector/config.ts';
import { startConnector } from '../../connector/server.ts';
import { ConnectorError } from '../../core/errors.ts';
import { silentLogger } from '../../core/logger.ts';
import { createProcessLifecycle } from '../../core/process-lifecycle.ts';
import { loadTopicConfig } from '../../core/topics.ts';
import { loadDestinationConfig } from '../../destination/config.ts';
import { startDestination } from '../../destination/server.ts';
import { loadIngressConfig } from '../../ingress/config.ts';
import { startIngress } from '../../ingress/server.ts';
import { eventually, SEGMENT_WRITE_KEY } from '../helpers/connector.ts';
import { testKafka, testStack, uniqueName, uniqueTopicEnv } from '../helpers/stack.ts';

/** Sockets this process holds open (Kafka connections, listening servers, HTTP keep-alive). */
const openSockets = () =>
  process.getActiveResourcesInfo().filter((kind) => kind === 'TCPSocketWrap' || kind === 'TCPServerWrap')
    .length;

test('a service whose start fails closes what it had opened: nothing keeps the process alive', async (t) => {
  // What broke: a start that failed after the Kafka client was open (here: a dead-letter topic made
  // by hand with the broker's default max.message.bytes, refused as TOPIC_TOO_SMALL) left the client
  // connected, so a caller that handles the error (a test, an embedding) never exits.
  const topics = loadTopicConfig(uniqueTopicEnv());
  const kafka = testKafka(t);
  await kafka.ensureTopics([
    { topic: topics.DEAD_LETTER_TOPIC },
    { topic: topics.DESTINATION_DEAD_LETTER_TOPIC },
  ]);
  const common = { topics, ...testStack(), logger: silentLogger() };
  const starts = {
    ingress: () =>
      startIngress({
        ...common,
        config: loadIngressConfig({
          INGRESS_HOST: '127.0.0.1',
          INGRESS_PORT: '0',
          INGRESS_AUTH_DISABLED: 'true',
        }),
      }),
    connector: () =>
      startConnector({
        ...common,
        config: loadConnectorConfig({ CONNECTOR_GROUP_ID: uniqueName('connector'), CONNECTOR_PORT: '0' }),
        segment: { endpoint: 'http://127.0.0.1:9', writeKey: SEGMENT_WRITE_KEY },
      }),
    destination: () =>
      startDestination({
        ...common,
        config: loadDestinationConfig({
          DESTINATION_HOST: '127.0.0.1',
          DESTINATION_PORT: '0',
          DESTINATION_GROUP_ID: uniqueName('destination'),
          DESTINATION_WRITE_KEY: 'test-write-key-of-sixteen',
        }),
        mailjet: { baseUrl: 'http://127.0.0.1:9', apiKey: 'key', apiSecret: 'secret' },
      }),
  };
  for (const [name, start] of Object.entries(starts)) {
    const before = openSockets();
    await assert.rejects(
      start(),
      (err: unknown) => err instanceof ConnectorError && err.code === 'TOPIC_TOO_SMALL',
      name,
    );
    await eventually(
      `${name}: its sockets closed (${before} before the start)`,
      () => openSockets() <= before,
      10_000,
    );
  }
});

test('a start that fails closes what it had opened, last first, and the error goes on', async () => {
  const closed: string[] = [];
  const lifecycle = createProcessLifecycle(silentLogger());
  const failure = new Error('the third part cannot start');
  await assert.rejects(
    lifecycle.start(async () => {
      lifecycle.closes('client', async () => closed.push('client'));
      lifecycle.closes('server', async () => {
        closed.push('server');
        throw new Error('a close that fails does not stop the others');
      });
      lifecycle.closes('consumer', async () => closed.push('consumer'));
      throw failure;
    }),
    (err) => err === failure,
  );
  assert.deepEqual(closed, ['consumer', 'server', 'client']);
});

test('a stop runs once: its steps under one deadline, then every part closed, last first', async () => {
  const steps: string[] = [];
  const lifecycle = createProcessLifecycle(silentLogger());
  await lifecycle.start(async () => {
    lifecycle.closes('client', async () => steps.push('close client'));
    lifecycle.closes('consumer', async () => steps.push('close consumer'));
  });
  const first = lifecycle.stop(60_000, async ({ within }) => {
    steps.push('drain');
    const finished = await within(Promise.resolve(), 'flushing');
    const failed = await within(Promise.reject(new Error('flush failed')), 'flushing');
    return finished && !failed && !lifecycle.deadline.aborted;
  });
  const second = lifecycle.stop(60_000, async () => {
    steps.push('a second drain');
    return false;
  });
  assert.equal(await first, true);
  assert.equal(await second, true, 'the second call gets the first stop');
  assert.deepEqual(steps, ['drain', 'close consumer', 'close client']);
});

test('past the deadline the stop is not clean: waits give up, the signal aborts, every part is still closed', async () => {
  const closed: string[] = [];
  const lifecycle = createProcessLifecycle(silentLogger());
  lifecycle.closes('client', async () => closed.push('client'));
  let aborted = false;
  const clean = await lifecycle.stop(20, async ({ within }) => {
    lifecycle.deadline.addEventListener('abort', () => {
      aborted = true;
    });
    // Work that never ends, as a SaaS that stopped answering.
    return within(new Promise(() => {}), 'waiting for Segment');
  });
  assert.equal(clean, false);
  assert.equal(aborted, true);
  assert.deepEqual(closed, ['client']);
});
