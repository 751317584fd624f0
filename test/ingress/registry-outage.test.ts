import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mailjetSamples } from '../fixtures/mailjet-events.ts';
import { eventually } from '../helpers/connector.ts';
import { postWebhook, recordCount, startTestIngress } from '../helpers/ingress.ts';
import { registryNotYetUp, registryThatGoesAway } from '../helpers/registry-outage.ts';
import { testKafka, testStack } from '../helpers/stack.ts';

// During a registry outage /health/ready answered 503 while webhooks still got 200 (the ingress encodes
// with the schema id it registered at start): a load balancer would have taken every ingress out.
test('registry down: webhooks still get 200 and the ingress stays ready, reporting the registry', async (t) => {
  const registry = await registryThatGoesAway(t);
  const ingress = await startTestIngress(t, {}, { brokers: testStack().brokers, registryUrl: registry.url });

  await registry.stop();

  const webhook = await postWebhook(ingress, mailjetSamples.open);
  assert.equal(webhook.status, 200);
  const ready = await fetch(`${ingress.url}/health/ready`);
  assert.equal(ready.status, 200, 'ready: it takes traffic without the registry');
  assert.deepEqual(await ready.json(), {
    status: 'ready',
    checks: { kafka: true, rawSchema: true },
    optional: { schemaRegistry: false },
  });
  assert.equal(await recordCount(testKafka(t), ingress.topics.RAW_TOPIC), 1);
});

// Broke: an ingress started while the schema registry was down stopped at once (SCHEMA_REGISTRATION_FAILED,
// exit 1): restarted during a registry outage (a deploy, a rescheduled pod), it stayed down until started
// again by hand, and Mailjet's retries found nothing listening.
test('registry down at start: the ingress listens, answers 503 + Retry-After and is not ready; once the registry is back it stores', async (t) => {
  const registry = await registryNotYetUp(t);
  const ingress = await startTestIngress(
    t,
    { INGRESS_RETRY_AFTER_SECONDS: '3' },
    { brokers: testStack().brokers, registryUrl: registry.url },
  );

  const during = await postWebhook(ingress, mailjetSamples.open);
  assert.equal(during.status, 503, 'nothing can be encoded before the raw schema has an id');
  assert.equal(during.headers.get('retry-after'), '3');
  assert.match(((await during.json()) as { message: string }).message, /schema registry/);
  const notReady = await fetch(`${ingress.url}/health/ready`);
  assert.equal(notReady.status, 503);
  assert.deepEqual(await notReady.json(), {
    status: 'not ready',
    checks: { kafka: true, rawSchema: false },
    optional: { schemaRegistry: false },
  });

  await registry.start();
  // Mailjet retries the same body until it gets a 200.
  await eventually(
    'the webhook stored once the registry is back',
    async () => (await postWebhook(ingress, mailjetSamples.open)).status === 200,
  );
  const ready = await fetch(`${ingress.url}/health/ready`);
  assert.equal(ready.status, 200);
  assert.deepEqual(((await ready.json()) as { checks: object }).checks, { kafka: true, rawSchema: true });
  assert.equal(await recordCount(testKafka(t), ingress.topics.RAW_TOPIC), 1, 'a 503 stored nothing');
});
