import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { mailjetSamples } from '../fixtures/mailjet-events.ts';
import { eventually } from '../helpers/connector.ts';
import { testStack, uniqueName, uniqueTopicEnv } from '../helpers/stack.ts';

/** The value after `label` on the line that starts with it, e.g. the URL after "Webhook URL:". */
function printed(lines: string[], label: string): string {
  const line = lines.find((l) => l.startsWith(label));
  assert.ok(line, `no "${label}" line in:\n${lines.join('\n')}`);
  return (line.slice(label.length).trim().split(/\s+/)[0] as string).trim();
}

test('start, the main job: prints where to send webhooks and identify calls, both flow, Ctrl-C stops it cleanly', async (t) => {
  const { brokers, registryUrl } = testStack();
  // The launcher, as README's quick start runs it: the build in dist/, with the launcher's settings.
  const child = spawn(fileURLToPath(new URL('../../mailjet-connector', import.meta.url)), ['start'], {
    env: {
      ...process.env,
      // The test cluster stands in for the local stack `start` would fetch and run.
      KAFKA_BROKERS: brokers.join(','),
      SCHEMA_REGISTRY_URL: registryUrl,
      INGRESS_PORT: '0',
      CONNECTOR_PORT: '0',
      DESTINATION_PORT: '0',
      ...uniqueTopicEnv(),
      CONNECTOR_GROUP_ID: uniqueName('connector'),
      DESTINATION_GROUP_ID: uniqueName('destination'),
      TOPIC_PARTITIONS: '2',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  t.after(() => child.kill('SIGKILL'));
  const lines: string[] = [];
  await new Promise<void>((resolve, reject) => {
    let buffered = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const complete = buffered.split('\n');
      buffered = complete.pop() ?? '';
      for (const line of complete) {
        lines.push(line);
        if (line.startsWith('Press Ctrl-C')) resolve();
      }
    });
    child.once('exit', () => reject(new Error(`start exited early:\n${lines.join('\n')}`)));
  });

  // Mailjet → ingress → connector → the local Segment server.
  const webhook = new URL(printed(lines, 'Webhook URL:'));
  const credentials = `Basic ${Buffer.from(`${decodeURIComponent(webhook.username)}:${decodeURIComponent(webhook.password)}`).toString('base64')}`;
  webhook.username = '';
  webhook.password = '';
  const posted = await fetch(webhook, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: credentials },
    body: mailjetSamples.open,
  });
  assert.equal(posted.status, 200);
  const segment = printed(lines, 'Segment (local):');
  await eventually('the open at the local Segment server', async () => {
    const stats = (await (await fetch(`${segment}/_local/stats`)).json()) as { eventsReceived: number };
    return stats.eventsReceived === 1;
  });

  // Segment identify → destination → the local Mailjet server.
  const identifyLine = lines.find((l) => l.startsWith('Segment identify calls')) ?? '';
  const intake = /(http:\/\/\S+\/v1\/identify)/.exec(identifyLine)?.[1];
  const writeKey = /Write key: (\S+)/.exec(identifyLine)?.[1];
  assert.ok(intake && writeKey, identifyLine);
  const identified = await fetch(intake, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`,
    },
    body: JSON.stringify({ userId: 'u-1', traits: { email: 'api@mailjet.com', plan: 'pro' } }),
  });
  assert.equal(identified.status, 200);
  const mailjetLine = lines.find((l) => l.startsWith('Mailjet (local):')) ?? '';
  const contactsUrl = /Contacts of list 1: (\S+)/.exec(mailjetLine)?.[1];
  assert.ok(contactsUrl, mailjetLine);
  await eventually('the contact at the local Mailjet server', async () => {
    const body = (await (await fetch(contactsUrl)).json()) as {
      contacts?: { Email: string; Properties: object }[];
    };
    const contact = body.contacts?.find((c) => c.Email === 'api@mailjet.com');
    return (contact?.Properties as { plan?: string } | undefined)?.plan === 'pro';
  });

  child.kill('SIGINT');
  assert.equal(await exited, 0, 'a clean stop exits 0');
});
