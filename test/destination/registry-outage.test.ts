import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startTestDestination, startTestMailjet } from '../helpers/destination.ts';
import { recordCount } from '../helpers/ingress.ts';
import { registryThatGoesAway } from '../helpers/registry-outage.ts';
import { testKafka, testStack } from '../helpers/stack.ts';

// During a registry outage the identify intake answered 503 on /health/ready while it still stored calls
// (it encodes with the schema id it registered at start): a load balancer would have taken it out.
test('registry down: the identify intake still stores calls and stays ready, reporting the registry', async (t) => {
  const mailjet = await startTestMailjet(t);
  const registry = await registryThatGoesAway(t);
  const intake = await startTestDestination(
    t,
    mailjet,
    { DESTINATION_ROLE: 'intake' },
    {},
    { brokers: testStack().brokers, registryUrl: registry.url },
  );

  await registry.stop();

  const stored = await intake.post('/v1/identify', {
    userId: 'user-outage',
    messageId: 'm-outage-1',
    traits: { email: 'outage@example.com' },
  });
  assert.equal(stored.status, 200);
  const ready = await fetch(`${intake.url}/health/ready`);
  assert.equal(ready.status, 200, 'ready: it takes traffic without the registry');
  assert.deepEqual(await ready.json(), {
    status: 'ready',
    checks: { kafka: true },
    optional: { schemaRegistry: false },
  });
  assert.equal(await recordCount(testKafka(t), intake.topics.IDENTIFY_TOPIC), 1);
});
