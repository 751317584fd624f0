import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mailjetSamples } from '../fixtures/mailjet-events.ts';
import { postWebhook, recordCount, startTestIngress } from '../helpers/ingress.ts';
import { registryThatGoesAway } from '../helpers/registry-outage.ts';
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
    checks: { kafka: true },
    optional: { schemaRegistry: false },
  });
  assert.equal(await recordCount(testKafka(t), ingress.topics.RAW_TOPIC), 1);
});
