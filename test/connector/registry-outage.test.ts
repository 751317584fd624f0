import assert from 'node:assert/strict';
import { test } from 'node:test';
import { freePort } from '../../stack/free-port.ts';
import { mailjetSamples } from '../fixtures/mailjet-events.ts';
import { eventually, startTestConnector, startTestSegment } from '../helpers/connector.ts';
import { postWebhook, startTestIngress } from '../helpers/ingress.ts';
import { registryNotYetUp } from '../helpers/registry-outage.ts';
import { testStack } from '../helpers/stack.ts';

// Broke: a connector started while the schema registry was down stopped at once (SCHEMA_REGISTRATION_FAILED,
// exit 1): restarted during a registry outage, it stayed down until started again by hand.
test('registry down at start: the connector is live and not ready, then delivers once the registry is back', async (t) => {
  const segment = await startTestSegment(t);
  const ingress = await startTestIngress(t);
  assert.equal((await postWebhook(ingress, mailjetSamples.open)).status, 200);
  const registry = await registryNotYetUp(t);
  const port = await freePort();
  const starting = startTestConnector(
    t,
    ingress.topics,
    segment,
    { CONNECTOR_PORT: String(port) },
    { brokers: testStack().brokers, registryUrl: registry.url },
  );
  const health = `http://127.0.0.1:${port}/health`;
  await Promise.race([
    eventually(
      'the health server answers',
      async () => (await fetch(`${health}/live`).catch(() => undefined))?.ok === true,
    ),
    starting.then(() => {
      throw new Error('the connector ran without a registry');
    }),
  ]);
  const notReady = await fetch(`${health}/ready`);
  assert.equal(notReady.status, 503);
  const { checks } = (await notReady.json()) as { checks: Record<string, boolean> };
  assert.equal(checks.schemaRegistry, false);
  assert.equal(
    checks.normalizerGroup,
    false,
    'no raw record is fetched before the normalized schema has an id',
  );

  await registry.start();
  await starting;
  await eventually('the event at Segment', () => segment.recorder.stats().eventsReceived === 1);
  await eventually('ready', async () => (await fetch(`${health}/ready`)).status === 200);
});
