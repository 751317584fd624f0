import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import { mailjetEventRawSchema } from '../../schemas/index.ts';
import { mailjetSamples } from '../fixtures/mailjet-events.ts';
import { eventually, SEGMENT_WRITE_KEY, startTestSegment } from '../helpers/connector.ts';
import { testKafka, testRegistry, testStack, uniqueName, uniqueTopicEnv } from '../helpers/stack.ts';

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

test('connector: a consumer that stops for good on an error makes the process exit non-zero', async (t) => {
  // What broke: close-with-grace exits 0 after a signal, so a crashed consumer's SIGTERM ended in exit 0.
  const { brokers, registryUrl } = testStack();
  const topicEnv = uniqueTopicEnv();
  const kafka = testKafka(t);
  // A normalized topic whose records may be 100 bytes at most: Kafka refuses every normalized record
  // (MESSAGE_TOO_LARGE, not retriable), so the consumer stops for good on the first event.
  const admin = new Kafka({ brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  t.after(() => admin.disconnect());
  await admin.createTopics({
    topics: [
      {
        topic: topicEnv.NORMALIZED_TOPIC as string,
        numPartitions: 1,
        configEntries: [{ name: 'max.message.bytes', value: '100' }],
      },
    ],
  });
  const raw = topicEnv.RAW_TOPIC as string;
  await kafka.ensureTopics([{ topic: raw, partitions: 1 }]);
  const serializer = await testRegistry().serializer(`${raw}-value`, mailjetEventRawSchema);
  const producer = await kafka.producer();
  t.after(() => producer.disconnect());
  const event = '{"event":"open","time":1700000000,"email":"crash@example.com","MessageID":1}';
  const value = serializer.encode({
    event: 'open',
    time: 1700000000,
    email: 'crash@example.com',
    message_id: '1',
    message_guid: null,
    event_json: event,
    received_at: 1700000000000,
    request_id: 'test',
  });
  await producer.send([{ topic: raw, records: [{ key: 'crash@example.com', value }] }]);
  const segment = await startTestSegment(t);

  const child = spawn(fileURLToPath(new URL('../../mailjet-connector', import.meta.url)), ['connector'], {
    env: {
      ...process.env,
      KAFKA_BROKERS: brokers.join(','),
      SCHEMA_REGISTRY_URL: registryUrl,
      SEGMENT_ENDPOINT: segment.url,
      SEGMENT_WRITE_KEY,
      CONNECTOR_PORT: '0',
      ...topicEnv,
      CONNECTOR_GROUP_ID: uniqueName('connector'),
      LOG_LEVEL: 'fatal',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  for (const stream of [child.stdout, child.stderr]) {
    stream.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
  }
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  t.after(() => child.kill('SIGKILL'));
  assert.equal(await exited, 1, `the connector stopped on an error; its output:\n${output}`);
  assert.match(output, /the Kafka consumer stopped for good/);
});
