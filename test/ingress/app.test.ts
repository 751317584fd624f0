import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { pino } from 'pino';
import { buildIngressApp, type IngressAppOptions } from '../../ingress/app.ts';
import type { EventPublisher } from '../../ingress/event-publisher.ts';
import { createIngressMetrics } from '../../ingress/metrics.ts';
import { mailjetSamples } from '../fixtures/mailjet-events.ts';
import { closeWhenDone, slowUpload } from '../helpers/http.ts';

const TOKEN = 'token-0123456789abcdef';
const PATH = '/webhooks/mailjet';
const json = { 'content-type': 'application/json' };
const basic = (userPass: string) => `Basic ${Buffer.from(userPass).toString('base64')}`;

/**
 * A publisher that stores nothing: for what the HTTP layer decides (auth, shedding, logs). What reaches
 * Kafka is tested with the real publisher in server.test.ts.
 */
function fakePublisher() {
  let published = 0;
  let waiting = 0;
  let gate: Promise<void> | undefined;
  const publisher: EventPublisher = {
    async publish(body) {
      waiting++;
      await gate;
      waiting--;
      published++;
      return {
        stored: body.accepted.length,
        storedByType: new Map(),
        deadLettered: body.rejected.map(({ code, reason }) => ({ code, reason })),
      };
    },
    pending: () => 0,
    drain: async () => {},
  };
  return {
    publisher,
    published: () => published,
    waiting: () => waiting,
    /** Holds every publish until the returned function is called: a Kafka that has not acked yet. */
    hold(t: TestContext): () => void {
      let release = () => {};
      gate = new Promise((resolve) => {
        release = resolve;
      });
      t.after(() => release());
      return release;
    },
  };
}

/** The app with the log lines it writes (a logger without redaction: what the app hides is its own doing). */
function testApp(t: TestContext, options: Partial<IngressAppOptions> = {}) {
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
  const fake = fakePublisher();
  const metrics = createIngressMetrics({ defaultMetrics: false });
  const ingress = buildIngressApp({
    path: PATH,
    credentials: { basic: { user: 'mailjet', password: 's3cret-password' }, token: TOKEN },
    bodyLimitBytes: 4096,
    maxBytesInFlight: 8192,
    retryAfterSeconds: 30,
    trustProxy: false,
    publisher: fake.publisher,
    readiness: async () => ({ ready: true, checks: {} }),
    metrics,
    logger,
    ...options,
  });
  closeWhenDone(t, ingress.app);
  return { ...ingress, ...fake, metrics, lines };
}

test('a token parameter given twice is 401 saying so, never a 500', async (t) => {
  // Broke: `?token=a&token=b` made the query value an array, which the digest threw on: 500.
  const ingress = testApp(t);
  for (const query of ['token=a&token=b', `token=${TOKEN}&token=${TOKEN}`, `token=${TOKEN}&%74oken=x`]) {
    const response = await ingress.app.inject({
      method: 'POST',
      url: `${PATH}?${query}`,
      headers: json,
      payload: mailjetSamples.open,
    });
    assert.equal(response.statusCode, 401, query);
    assert.match(response.json().message, /the token parameter appears more than once/, query);
  }
  assert.equal(ingress.published(), 0);
});

test('the token never reaches a log line, however its name is encoded in the URL', async (t) => {
  // Broke: only a literal `token=` was redacted, so `?%74oken=<secret>` (accepted: the server decodes
  // parameter names) was logged in clear by every line that shows the URL.
  const ingress = testApp(t);
  const queries = [
    `%74oken=${TOKEN}`,
    `tok%65n=${TOKEN}&x=1`,
    `x=1&%74%6F%6B%65%6E=${TOKEN}`,
    `token=${TOKEN}`,
    `+x=1&token=${encodeURIComponent(TOKEN)}`,
  ];
  for (const query of queries) {
    const url = `${PATH}?${query}`;
    // Logged: a body over the limit, a form body, a repeated token.
    const tooLarge = await ingress.app.inject({
      method: 'POST',
      url,
      headers: json,
      payload: 'x'.repeat(5000),
    });
    assert.equal(tooLarge.statusCode, 413, query);
    const form = await ingress.app.inject({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'a=b',
    });
    assert.equal(form.statusCode, 415, query);
  }
  const accepted = await ingress.app.inject({
    method: 'POST',
    url: `${PATH}?%74oken=${TOKEN}`,
    headers: json,
    payload: mailjetSamples.open,
  });
  assert.equal(accepted.statusCode, 200, 'the encoded name is the token parameter for the server');

  const logged = ingress.lines.join('');
  assert.ok(ingress.lines.length >= queries.length * 2, 'each refused request was logged');
  assert.match(logged, /token=\[redacted\]/);
  assert.doesNotMatch(logged, new RegExp(TOKEN));
});

test("the Basic scheme's name is case-insensitive (RFC 7235)", async (t) => {
  // Broke: only "Basic " was read, so a client writing "basic" or "BASIC" got 401.
  const ingress = testApp(t);
  for (const scheme of ['basic', 'BASIC', 'Basic']) {
    const credentials = Buffer.from('mailjet:s3cret-password').toString('base64');
    const response = await ingress.app.inject({
      method: 'POST',
      url: PATH,
      headers: { ...json, authorization: `${scheme} ${credentials}` },
      payload: mailjetSamples.open,
    });
    assert.equal(response.statusCode, 200, scheme);
  }
});

test('X-Forwarded-For is the logged client address only from the proxies the config names', async (t) => {
  // Broke: every X-Forwarded-For was believed, so any client chose the address the logs show.
  const refusedFrom = async (trustProxy: IngressAppOptions['trustProxy']) => {
    const ingress = testApp(t, { trustProxy });
    const response = await ingress.app.inject({
      method: 'POST',
      url: PATH,
      remoteAddress: '10.0.0.7',
      headers: { ...json, authorization: basic('mailjet:wrong'), 'x-forwarded-for': '203.0.113.9' },
      payload: mailjetSamples.open,
    });
    assert.equal(response.statusCode, 401);
    const line = ingress.lines.map((l) => JSON.parse(l)).find((l) => l.msg?.startsWith('webhook refused'));
    return line?.ip;
  };
  assert.equal(await refusedFrom(false), '10.0.0.7');
  assert.equal(await refusedFrom(['10.0.0.0/8']), '203.0.113.9');
});

test('credentials are checked before the body is read: a client still sending gets its 401', {
  timeout: 30_000,
}, async (t: TestContext) => {
  const ingress = testApp(t);
  const url = await ingress.app.listen({ host: '127.0.0.1', port: 0 });
  const upload = slowUpload(`${url}${PATH}`, {
    headers: { ...json, authorization: basic('mailjet:wrong') },
    contentLength: 4000,
    sent: '[{"event":"open",',
    signal: t.signal,
  });
  const answer = await upload.answer;
  upload.finish();
  assert.equal(answer.status, 401);
});

test('bodies over the bytes in flight are shed with 503 and Retry-After before they are read', {
  timeout: 30_000,
}, async (t) => {
  // Broke: concurrent bodies were each buffered and parsed whatever their sum.
  const ingress = testApp(t);
  const release = ingress.hold(t);
  const body = `[${Array(11).fill(mailjetSamples.open).join(',')}]`;
  assert.ok(body.length > 3000 && body.length < 4096);
  const headers = { ...json, authorization: basic('mailjet:s3cret-password') };
  const held = [
    ingress.app.inject({ method: 'POST', url: PATH, headers, payload: body }),
    ingress.app.inject({ method: 'POST', url: PATH, headers, payload: body }),
  ];
  while (ingress.waiting() < 2) await new Promise((resolve) => setImmediate(resolve));
  const shed = await ingress.app.inject({ method: 'POST', url: PATH, headers, payload: body });
  assert.equal(shed.statusCode, 503);
  assert.equal(shed.headers['retry-after'], '30');
  assert.match(shed.json().message, /INGRESS_MAX_BYTES_IN_FLIGHT=8192/);
  release();
  for (const response of await Promise.all(held)) assert.equal(response.statusCode, 200);
  assert.equal(
    (await ingress.app.inject({ method: 'POST', url: PATH, headers, payload: body })).statusCode,
    200,
  );
  assert.match(
    await ingress.metrics.registry.metrics(),
    /mailjet_ingress_shed_total\{reason="bytes_in_flight"\} 1/,
  );
});

test('a body of many bad elements writes a bounded number of log lines, with every element counted', async (t) => {
  // Broke: one warning per dead-lettered element, so one 30,000-element body wrote 30,000 log lines.
  const ingress = testApp(t, { bodyLimitBytes: 1024 * 1024, maxBytesInFlight: 2 * 1024 * 1024 });
  const elements = 30_000;
  const response = await ingress.app.inject({
    method: 'POST',
    url: `${PATH}?token=${TOKEN}`,
    headers: json,
    payload: `[${Array.from({ length: elements }, () => 'null').join(',')}]`,
  });
  assert.equal(response.statusCode, 200);
  assert.deepEqual(response.json(), { stored: 0, deadLettered: elements });
  const deadLetterLines = ingress.lines.filter((line) => line.includes('dead-lettered'));
  assert.ok(deadLetterLines.length <= 11, `${deadLetterLines.length} log lines for one body`);
  const summary = deadLetterLines.map((line) => JSON.parse(line)).find((entry) => entry.deadLettered);
  assert.deepEqual(summary?.deadLettered, { NOT_AN_EVENT: elements });
  const counted = await ingress.metrics.registry.getSingleMetricAsString(
    'mailjet_ingress_dead_lettered_total',
  );
  assert.match(counted, new RegExp(`code="NOT_AN_EVENT"} ${elements}`));
});
