import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eventually } from '../helpers/connector.ts';
import { startTestDestination, startTestMailjet } from '../helpers/destination.ts';
import { recordCount } from '../helpers/ingress.ts';
import { registryNotYetUp, registryThatGoesAway } from '../helpers/registry-outage.ts';
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
    checks: { kafka: true, identifySchema: true },
    optional: { schemaRegistry: false },
  });
  assert.equal(await recordCount(testKafka(t), intake.topics.IDENTIFY_TOPIC), 1);
});

// Broke: an identify intake started while the schema registry was down stopped at once (exit 1), as the
// ingress did: restarted during a registry outage, it stayed down until started again by hand.
test('registry down at start: the identify intake listens, answers 503 + Retry-After and is not ready; once the registry is back it stores', async (t) => {
  const mailjet = await startTestMailjet(t);
  const registry = await registryNotYetUp(t);
  const intake = await startTestDestination(
    t,
    mailjet,
    { DESTINATION_ROLE: 'intake' },
    {},
    { brokers: testStack().brokers, registryUrl: registry.url },
  );
  const call = { userId: 'user-late', messageId: 'm-late-1', traits: { email: 'late@example.com' } };

  const during = await intake.post('/v1/identify', call);
  assert.equal(during.status, 503, 'nothing can be encoded before the identify schema has an id');
  assert.ok(during.headers.has('retry-after'));
  const notReady = await fetch(`${intake.url}/health/ready`);
  assert.equal(notReady.status, 503);
  assert.deepEqual(((await notReady.json()) as { checks: object }).checks, {
    kafka: true,
    identifySchema: false,
  });

  await registry.start();
  await eventually(
    'the call stored once the registry is back',
    async () => (await intake.post('/v1/identify', call)).status === 200,
  );
  assert.equal((await fetch(`${intake.url}/health/ready`)).status, 200);
  assert.equal(await recordCount(testKafka(t), intake.topics.IDENTIFY_TOPIC), 1, 'a 503 stored nothing');
});
