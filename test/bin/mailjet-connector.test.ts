import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startLocalMailjet } from '../../local-saas/mailjet/server.ts';
import { startLocalSegment } from '../../local-saas/segment/server.ts';
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

  // The URLs are a block of their own, after a blank line and under a heading, webhooks first.
  const heading = lines.findIndex((l) => l.startsWith('── mailjet-connector is running'));
  assert.ok(heading > 0, `no banner heading in:\n${lines.join('\n')}`);
  assert.equal(lines[heading - 1], '');
  assert.match(lines[heading + 1] ?? '', /^Webhook URL: /);

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

interface RunningStart {
  /** Every line written so far, stdout and stderr, in order of arrival. */
  lines: string[];
  /** Sends `signal` and resolves with the exit code once the process is gone. */
  stop(signal: NodeJS.Signals): Promise<number | null>;
}

/**
 * `./mailjet-connector start` as README's quick start runs it (the build in dist/), against the test
 * cluster, with topics and groups of its own; resolves once it printed "Press Ctrl-C".
 */
async function runStart(t: TestContext, env: Record<string, string>): Promise<RunningStart> {
  const { brokers, registryUrl } = testStack();
  const child = spawn(fileURLToPath(new URL('../../mailjet-connector', import.meta.url)), ['start'], {
    env: {
      ...process.env,
      KAFKA_BROKERS: brokers.join(','),
      SCHEMA_REGISTRY_URL: registryUrl,
      INGRESS_PORT: '0',
      CONNECTOR_PORT: '0',
      DESTINATION_PORT: '0',
      ...uniqueTopicEnv(),
      CONNECTOR_GROUP_ID: uniqueName('connector'),
      DESTINATION_GROUP_ID: uniqueName('destination'),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  t.after(() => child.kill('SIGKILL'));
  const lines: string[] = [];
  await new Promise<void>((resolve, reject) => {
    for (const stream of [child.stdout, child.stderr]) {
      let buffered = '';
      stream.on('data', (chunk: Buffer) => {
        buffered += chunk.toString();
        const complete = buffered.split('\n');
        buffered = complete.pop() ?? '';
        for (const line of complete) {
          lines.push(line);
          if (line.startsWith('Press Ctrl-C')) resolve();
        }
      });
      stream.once('end', () => {
        if (buffered) lines.push(buffered);
      });
    }
    child.once('exit', () => reject(new Error(`start exited early:\n${lines.join('\n')}`)));
  });
  return {
    lines,
    async stop(signal) {
      child.kill(signal);
      const code = await exited;
      // The streams may still hold the last lines when 'exit' fires.
      await Promise.all([child.stdout, child.stderr].map((s) => (s.readableEnded ? null : once(s, 'end'))));
      return code;
    },
  };
}

/** The test cluster as `start` reads it. */
function testStackEnv(): Record<string, string> {
  const { brokers, registryUrl } = testStack();
  return { KAFKA_BROKERS: brokers.join(','), SCHEMA_REGISTRY_URL: registryUrl };
}

/** A value no log line or banner can hold by chance. */
const secret = (name: string) => `configured-${name}-${randomBytes(9).toString('hex')}`;

// Broke: start printed the webhook URL with the configured password (or token) and the configured
// destination write key, and the Docker image's default command is `start`: they landed in logs.
test('start writes no configured secret, on stdout or stderr, from start-up to exit', async (t) => {
  const configured = {
    INGRESS_BASIC_AUTH_PASSWORD: secret('ingress-password'),
    INGRESS_TOKEN: secret('ingress-token'),
    DESTINATION_WRITE_KEY: secret('write-key'),
    DESTINATION_SHARED_SECRET: secret('shared-secret'),
    SEGMENT_WRITE_KEY: secret('segment-key'),
    MAILJET_API_SECRET: secret('mailjet-secret'),
    SCHEMA_REGISTRY_PASSWORD: secret('registry-password'),
  };
  const segment = await startLocalSegment({ writeKeys: [configured.SEGMENT_WRITE_KEY] });
  t.after(() => segment.stop());
  const mailjet = await startLocalMailjet({
    credentials: [{ apiKey: 'configured-mailjet-key', apiSecret: configured.MAILJET_API_SECRET }],
  });
  t.after(() => mailjet.stop());
  const everywhere = {
    SEGMENT_WRITE_KEY: configured.SEGMENT_WRITE_KEY,
    SEGMENT_ENDPOINT: segment.url,
    MAILJET_API_KEY: 'configured-mailjet-key',
    MAILJET_API_SECRET: configured.MAILJET_API_SECRET,
    MAILJET_API_URL: mailjet.url,
    // The test registry asks for no credentials and ignores them.
    SCHEMA_REGISTRY_USERNAME: 'configured-registry-user',
    SCHEMA_REGISTRY_PASSWORD: configured.SCHEMA_REGISTRY_PASSWORD,
    // Every line the process can write, debug included.
    LOG_LEVEL: 'debug',
  };
  // Each way of authenticating the two intakes, each used once while the process runs.
  const variants: {
    env: Record<string, string>;
    webhookAuth: (url: URL) => { url: URL; headers: Record<string, string> };
    identifyAuth: (body: string) => Record<string, string>;
  }[] = [
    {
      env: {
        INGRESS_BASIC_AUTH_USER: 'configured-user',
        INGRESS_BASIC_AUTH_PASSWORD: configured.INGRESS_BASIC_AUTH_PASSWORD,
        DESTINATION_WRITE_KEY: configured.DESTINATION_WRITE_KEY,
      },
      webhookAuth: (url: URL) => {
        const basic = Buffer.from(`configured-user:${configured.INGRESS_BASIC_AUTH_PASSWORD}`).toString(
          'base64',
        );
        return { url, headers: { authorization: `Basic ${basic}` } };
      },
      identifyAuth: (_body: string) => ({
        authorization: `Basic ${Buffer.from(`${configured.DESTINATION_WRITE_KEY}:`).toString('base64')}`,
      }),
    },
    {
      env: {
        INGRESS_TOKEN: configured.INGRESS_TOKEN,
        DESTINATION_SHARED_SECRET: configured.DESTINATION_SHARED_SECRET,
      },
      webhookAuth: (url: URL) => {
        url.searchParams.set('token', configured.INGRESS_TOKEN);
        return { url, headers: {} };
      },
      identifyAuth: (body: string) => ({
        'x-signature': createHmac('sha1', configured.DESTINATION_SHARED_SECRET).update(body).digest('hex'),
      }),
    },
  ];
  for (const variant of variants) {
    const run = await runStart(t, { ...everywhere, ...variant.env });
    const webhookLine = run.lines.find((l) => l.startsWith('Webhook URL:')) ?? '';
    const webhook = new URL(/Webhook URL: (\S+)/.exec(webhookLine)?.[1] ?? 'http://missing');
    // Credentials go in a header: fetch refuses a URL that carries them.
    webhook.username = '';
    webhook.password = '';
    const posted = variant.webhookAuth(webhook);
    const received = segment.recorder.stats().eventsReceived;
    const answer = await fetch(posted.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...posted.headers },
      body: mailjetSamples.open,
    });
    assert.equal(
      answer.status,
      200,
      `the webhook URL printed, with the configured credentials: ${webhookLine}`,
    );
    await eventually('the open at Segment', () => segment.recorder.stats().eventsReceived > received);
    const identifyLine = run.lines.find((l) => l.startsWith('Segment identify calls')) ?? '';
    const intake = /(http:\/\/\S+\/v1\/identify)/.exec(identifyLine)?.[1];
    assert.ok(intake, identifyLine);
    const body = JSON.stringify({ userId: 'u-1', traits: { email: 'api@mailjet.com' } });
    const identified = await fetch(intake, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...variant.identifyAuth(body) },
      body,
    });
    assert.equal(identified.status, 200, await identified.text());

    assert.equal(await run.stop('SIGTERM'), 0, 'a clean stop exits 0');
    assert.ok(
      run.lines.some((line) => line.includes('shutting down')),
      'the lines of the shutdown were read too',
    );
    for (const [name, value] of Object.entries(configured)) {
      const leaks = run.lines.filter((line) => line.includes(value));
      assert.deepEqual(leaks, [], `${name} written by start (${Object.keys(variant.env).join(', ')})`);
    }
  }
});

// Broke: `start` kept the local stack's data in temporary folders, so an event answered 200 but not yet
// delivered when it stopped was gone after the restart.
test('start on the local stack: an event answered 200 and not yet delivered at a stop is delivered after the restart', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'mailjet-connector-start-data-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const segment = await startLocalSegment({ writeKeys: ['resume-write-key'] });
  t.after(() => segment.stop());
  const refusals = 1_000_000;
  segment.faults.set({ failNext: { count: refusals, status: 503 } });
  const env = {
    // Empty counts as unset: `start` runs the local stack, on the data folder of this test.
    KAFKA_BROKERS: '',
    SCHEMA_REGISTRY_URL: '',
    LOCAL_STACK_DATA_DIR: dataDir,
    SEGMENT_WRITE_KEY: 'resume-write-key',
    SEGMENT_ENDPOINT: segment.url,
    INGRESS_AUTH_DISABLED: 'true',
    DESTINATION_AUTH_DISABLED: 'true',
    CONNECTOR_SHUTDOWN_TIMEOUT_MS: '2000',
    // The same topics and groups in both runs.
    ...uniqueTopicEnv(),
    CONNECTOR_GROUP_ID: uniqueName('connector'),
    DESTINATION_GROUP_ID: uniqueName('destination'),
    LOG_LEVEL: 'warn',
  };

  const first = await runStart(t, env);
  const webhook = /Webhook URL: (\S+)/.exec(first.lines.find((l) => l.startsWith('Webhook URL:')) ?? '')?.[1];
  assert.ok(webhook, first.lines.join('\n'));
  const posted = await fetch(webhook, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: mailjetSamples.open,
  });
  assert.equal(posted.status, 200);
  await eventually('Segment refused the open', () => segment.faults.state().failNext.count < refusals);
  await first.stop('SIGTERM');
  assert.equal(segment.recorder.stats().eventsReceived, 0, 'nothing reached Segment before the stop');

  segment.faults.clear();
  const second = await runStart(t, env);
  await eventually(
    'the open at Segment after the restart',
    () => segment.recorder.stats().eventsReceived === 1,
  );
  assert.ok(
    second.lines.includes(`Local stack data: ${dataDir}  (kept across restarts; start --fresh empties it)`),
  );
  assert.equal(await second.stop('SIGTERM'), 0, 'a clean stop exits 0');
});

// Broke: a configured secret that failed validation (a password one character short, a write key with a
// typo) was quoted in the CONFIG_INVALID message on stderr, and so in container logs.
test('start quotes no configured secret when refusing it as invalid', async () => {
  const tooShort = {
    INGRESS_BASIC_AUTH_PASSWORD: `pw-${randomBytes(3).toString('hex')}`,
    INGRESS_TOKEN: `tok-${randomBytes(3).toString('hex')}`,
    DESTINATION_WRITE_KEY: `wk-${randomBytes(3).toString('hex')}`,
    DESTINATION_SHARED_SECRET: `ss-${randomBytes(3).toString('hex')}`,
  };
  for (const [name, value] of Object.entries(tooShort)) {
    const child = spawn(fileURLToPath(new URL('../../mailjet-connector', import.meta.url)), ['start'], {
      env: {
        ...process.env,
        ...testStackEnv(),
        INGRESS_BASIC_AUTH_USER: 'configured-user',
        INGRESS_BASIC_AUTH_PASSWORD: 'a-valid-configured-password',
        DESTINATION_AUTH_DISABLED: 'true',
        [name]: value,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const [code] = (await once(child, 'close')) as [number | null];
    assert.equal(code, 1, output);
    assert.match(output, new RegExp(`CONFIG_INVALID: [^]*${name}: Expected string length greater or equal`));
    assert.ok(!output.includes(value), `${name}'s value is in:\n${output}`);
  }
});

test('connector: stopping for good on an error (Segment refuses the write key) makes the process exit non-zero', async (t) => {
  // What broke: close-with-grace exits 0 after a signal, so a process that an error told to stop (a
  // crashed consumer, a refused key: both go through the same fatal latch) ended in exit 0.
  const { brokers, registryUrl } = testStack();
  const topicEnv = uniqueTopicEnv();
  const kafka = testKafka(t);
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
      SEGMENT_WRITE_KEY: `not-${SEGMENT_WRITE_KEY}`,
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
  assert.match(output, /SEGMENT_AUTH_FAILED/);
});

test('destination: a worker whose start-up waits for a failing Mailjet stops on SIGTERM with exit 0; a wrong key pair exits 1 saying what to do', async (t) => {
  // What broke: a Mailjet failing at start-up for longer than 4 × MAILJET_REQUEST_TIMEOUT_MS made the
  // worker exit 1; it now waits, and the process must still stop on a signal and on a refused key pair.
  const keys = { apiKey: 'bin-mailjet-key', apiSecret: 'bin-mailjet-secret' };
  const mailjet = await startLocalMailjet({ credentials: [keys] });
  t.after(() => mailjet.stop());
  const { brokers, registryUrl } = testStack();
  const worker = (credentials: typeof keys) => {
    const child = spawn(fileURLToPath(new URL('../../mailjet-connector', import.meta.url)), ['destination'], {
      env: {
        ...process.env,
        KAFKA_BROKERS: brokers.join(','),
        SCHEMA_REGISTRY_URL: registryUrl,
        ...uniqueTopicEnv(),
        DESTINATION_ROLE: 'worker',
        DESTINATION_PORT: '0',
        DESTINATION_AUTH_DISABLED: 'true',
        DESTINATION_GROUP_ID: uniqueName('destination'),
        MAILJET_API_URL: mailjet.url,
        MAILJET_API_KEY: credentials.apiKey,
        MAILJET_API_SECRET: credentials.apiSecret,
        MAILJET_REQUEST_TIMEOUT_MS: '500',
        MAILJET_RETRY_MAX_DELAY_MS: '200',
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output = { text: '' };
    for (const stream of [child.stdout, child.stderr]) {
      stream.on('data', (chunk: Buffer) => {
        output.text += chunk.toString();
      });
    }
    t.after(() => child.kill('SIGKILL'));
    return { child, output, exited: new Promise<number | null>((resolve) => child.once('exit', resolve)) };
  };
  const answered503 = () => mailjet.store.requests(100_000).filter((r) => r.status === 503).length;

  // Every request answers 503, each after latencyMs, one at a time: 30 of them outlast the old start-up
  // deadline (4 × 500 ms) whatever the backoff.
  mailjet.faults.set({ failNext: { count: 1_000_000, status: 503 }, latencyMs: 100 });
  const waiting = worker(keys);
  await eventually('30 answers 503 to the start-up', () => {
    assert.equal(waiting.child.exitCode, null, `the worker waits; its output:\n${waiting.output.text}`);
    return answered503() >= 30;
  });
  // Each try of the start-up is logged, with what it waited for.
  assert.match(waiting.output.text, /"operation":"get-list".*Mailjet did not take the request; retrying/);
  waiting.child.kill('SIGTERM');
  assert.equal(await waiting.exited, 0, `stopped as asked; its output:\n${waiting.output.text}`);

  mailjet.faults.set({ failNext: { count: 3, status: 503 }, latencyMs: 0 });
  const refused = worker({ apiKey: 'wrong', apiSecret: 'wrong' });
  assert.equal(await refused.exited, 1, `a refused key pair; its output:\n${refused.output.text}`);
  assert.match(refused.output.text, /MAILJET_AUTH_FAILED/);
  assert.match(refused.output.text, /Check MAILJET_API_KEY and MAILJET_API_SECRET/);
});
