import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { buildMailjetApp, rateLimitedHtml } from '../../../local-saas/mailjet/app.ts';
import { FaultInjector } from '../../../local-saas/mailjet/faults.ts';
import { mailjetLimits } from '../../../local-saas/mailjet/resources.ts';
import { MailjetStore } from '../../../local-saas/mailjet/store.ts';
import { eventually } from '../../helpers/connector.ts';
import { apiKey, apiSecret, basicAuth, credentials, testMailjet } from './helpers.ts';

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const unauthorizedMessage =
  'API key authentication/authorization failure. You may be unauthorized to access the API or your API key may be expired. Visit API keys management section to check your keys.';

test('every configured key pair is accepted', async (t) => {
  const mailjet = testMailjet(t);
  for (const pair of credentials) {
    const res = await mailjet.call('GET', '/v3/REST/contactmetadata', undefined, {
      authorization: basicAuth(pair.apiKey, pair.apiSecret),
    });
    assert.equal(res.statusCode, 200, pair.apiKey);
    assert.deepEqual(res.json(), { Count: 0, Data: [], Total: 0 });
  }
});

test('no, wrong or malformed credentials get 401 with Mailjet’s JSON body, and store nothing', async (t) => {
  const mailjet = testMailjet(t);
  const cases: [string, Record<string, string>][] = [
    ['no header', { authorization: '' }],
    ['wrong secret', { authorization: basicAuth(apiKey, 'nope') }],
    ['unknown key', { authorization: basicAuth('other', apiSecret) }],
    ['secret of another pair', { authorization: basicAuth(apiKey, 'mj_subaccount_secret') }],
    ['no colon', { authorization: `Basic ${Buffer.from(apiKey).toString('base64')}` }],
    ['bearer', { authorization: 'Bearer token' }],
  ];
  for (const [name, headers] of cases) {
    const res = await mailjet.call(
      'POST',
      '/v3/REST/contactmetadata',
      { Name: 'age', Datatype: 'int' },
      headers,
    );
    assert.equal(res.statusCode, 401, name);
    assert.match(res.headers['content-type'] ?? '', /^application\/json/);
    const body = res.json();
    assert.match(body.ErrorIdentifier, uuid, name);
    assert.deepEqual(
      { ...body, ErrorIdentifier: undefined },
      {
        ErrorIdentifier: undefined,
        ErrorInfo: '',
        ErrorMessage: unauthorizedMessage,
        StatusCode: 401,
      },
    );
  }
  assert.deepEqual(mailjet.store.properties(), []);
});

test('unknown resources get 400 after auth; a wrong method on a known path 405', async (t) => {
  const mailjet = testMailjet(t);
  const unknown = await mailjet.call('GET', '/v3/REST/nosuchthing');
  assert.equal(unknown.statusCode, 400);
  assert.deepEqual(unknown.json(), {
    ErrorInfo: '',
    ErrorMessage: 'Unknown resource or action: "/v3/REST/nosuchthing"',
    StatusCode: 400,
  });
  assert.equal((await mailjet.call('POST', '/v3/REST/contactslist/1/nosuchaction', {})).statusCode, 400);
  const unauthenticated = await mailjet.call('GET', '/v3/REST/nosuchthing', undefined, { authorization: '' });
  assert.equal(unauthenticated.statusCode, 401);
  for (const [method, path] of [
    ['DELETE', '/v3/REST/contactmetadata'],
    ['PUT', '/v3/REST/contactslist/1/managecontact'],
    ['GET', '/v3/REST/contactslist/1/managecontact'],
    ['POST', '/v3/REST/contactdata/1'],
  ] as const) {
    const res = await mailjet.call(method, path, {});
    assert.equal(res.statusCode, 405, `${method} ${path}`);
    assert.deepEqual(res.json(), { ErrorInfo: '', ErrorMessage: 'Method not allowed', StatusCode: 405 });
  }
});

test('a body that is not JSON, or not an object, gets 400 "Invalid json input"', async (t) => {
  const mailjet = testMailjet(t);
  for (const body of ['{"Name": ', 'Name=age', '[{"Name":"age"}]', '"age"']) {
    const res = await mailjet.call('POST', '/v3/REST/contactmetadata', body);
    assert.equal(res.statusCode, 400, body);
    assert.match(res.json().ErrorMessage, /^Invalid json input: /, body);
    assert.equal(res.json().StatusCode, 400);
  }
  const form = await mailjet.call('POST', '/v3/REST/contactmetadata', '{"Name":"age"}', {
    'content-type': 'text/plain',
  });
  assert.equal(form.statusCode, 201, 'the body is read as JSON whatever its content type');
});

test('a body over 10 MB is refused with 413 in Mailjet’s shape and stores nothing', async (t) => {
  const mailjet = testMailjet(t);
  const padding = 'x'.repeat(mailjetLimits.bodyBytes);
  const res = await mailjet.call('POST', '/v3/REST/contactslist/1/managecontact', {
    Email: 'a@b.co',
    Action: 'addforce',
    Name: padding,
  });
  assert.equal(res.statusCode, 413);
  assert.deepEqual(res.json(), {
    ErrorInfo: '',
    ErrorMessage: 'Request body exceeds the limit of 10 MB',
    StatusCode: 413,
  });
  assert.equal(mailjet.store.contacts().length, 0);
});

test('an unexpected error becomes 500 with an ErrorIdentifier and Mailjet’s text', async (t) => {
  class BrokenStore extends MailjetStore {
    override properties(): never {
      throw new Error('disk on fire');
    }
  }
  const mailjet = testMailjet(t, { storeInstance: new BrokenStore() });
  const res = await mailjet.call('GET', '/v3/REST/contactmetadata');
  assert.equal(res.statusCode, 500);
  const body = res.json();
  assert.match(body.ErrorIdentifier, uuid);
  assert.deepEqual(
    { ErrorInfo: body.ErrorInfo, ErrorMessage: body.ErrorMessage, StatusCode: body.StatusCode },
    { ErrorInfo: '', ErrorMessage: 'An Unexpected Error occurred during API request', StatusCode: 500 },
  );
});

test('paths outside /v3 and /_local are not Mailjet’s: fastify’s plain 404', async (t) => {
  const mailjet = testMailjet(t);
  const res = await mailjet.call('GET', '/v1/batch');
  assert.equal(res.statusCode, 404);
  assert.equal(mailjet.store.stats().requests, 0, 'not counted as an API request');
});

test('rateLimitNext: 429 with Mailjet’s HTML page and no Retry-After, before auth, storing nothing', async (t) => {
  const mailjet = testMailjet(t);
  mailjet.faults.set({ rateLimitNext: { count: 2 } });
  const asSent: Record<string, string>[] = [{}, { authorization: '' }];
  for (const headers of asSent) {
    const res = await mailjet.call(
      'POST',
      '/v3/REST/contactmetadata',
      { Name: 'age', Datatype: 'int' },
      headers,
    );
    assert.equal(res.statusCode, 429);
    assert.match(res.headers['content-type'] ?? '', /^text\/html/);
    assert.equal(res.body, rateLimitedHtml);
    assert.equal(res.headers['retry-after'], undefined);
    assert.ok(
      !Object.keys(res.headers).some((name) => /ratelimit|retry/i.test(name)),
      'no hint of when to retry',
    );
  }
  assert.deepEqual(mailjet.store.properties(), []);
  assert.equal((await mailjet.call('POST', '/v3/REST/contactmetadata', { Name: 'age' })).statusCode, 201);
  assert.deepEqual(mailjet.store.stats().responsesByStatus, { 201: 1, 429: 2 });
});

test('failNext: JSON 5xx with an ErrorIdentifier, storing nothing', async (t) => {
  const mailjet = testMailjet(t);
  mailjet.faults.set({ failNext: { count: 2, status: 503 } });
  for (let i = 0; i < 2; i += 1) {
    const res = await mailjet.call('POST', '/v3/REST/contactslist/1/managecontact', {
      Email: 'a@b.co',
      Action: 'addforce',
    });
    assert.equal(res.statusCode, 503);
    assert.match(res.json().ErrorIdentifier, uuid);
    assert.equal(res.json().ErrorMessage, 'An Unexpected Error occurred during API request');
    assert.equal(res.json().StatusCode, 503);
  }
  assert.equal(mailjet.store.contacts().length, 0);
  const defaulted = testMailjet(t);
  defaulted.faults.set({ failNext: { count: 1 } });
  assert.equal((await defaulted.call('GET', '/v3/REST/contactmetadata')).statusCode, 500);
});

test('maxRequestsPerSecond: a steady HTML 429 per API key, lifted in the next second (test clock)', async (t) => {
  let now = 1_000_000;
  const mailjet = testMailjet(t, { faults: { now: () => now } });
  mailjet.faults.set({ maxRequestsPerSecond: 2 });
  const statuses = [];
  for (let i = 0; i < 3; i += 1)
    statuses.push((await mailjet.call('GET', '/v3/REST/contactmetadata')).statusCode);
  assert.deepEqual(statuses, [200, 200, 429]);
  const limited = await mailjet.call('GET', '/v3/REST/contactmetadata');
  assert.equal(limited.body, rateLimitedHtml);
  assert.equal(limited.headers['retry-after'], undefined);
  const otherKey = await mailjet.call('GET', '/v3/REST/contactmetadata', undefined, {
    authorization: basicAuth('mj_subaccount_key', 'mj_subaccount_secret'),
  });
  assert.equal(otherKey.statusCode, 200, 'each key has its own limit');
  now += 1000;
  assert.equal((await mailjet.call('GET', '/v3/REST/contactmetadata')).statusCode, 200);
});

test('latencyMs: each API request waits through the injector’s sleep first', async (t) => {
  const asked: number[] = [];
  const mailjet = testMailjet(t, { faults: { sleep: async (ms) => asked.push(ms) } });
  mailjet.faults.set({ latencyMs: 250 });
  assert.equal((await mailjet.call('GET', '/v3/REST/contactmetadata')).statusCode, 200);
  assert.deepEqual(asked, [250]);
  await mailjet.app.inject({ method: 'GET', url: '/_local/stats' });
  assert.deepEqual(asked, [250], 'admin routes are not delayed');
});

test('answerLatencyMs: the request is handled and stored first, answered after the injector’s sleep', async (t) => {
  let release: () => void = () => {};
  const asked: number[] = [];
  const mailjet = testMailjet(t, {
    faults: {
      sleep: (ms) => {
        asked.push(ms);
        return new Promise<void>((resolve) => {
          release = resolve;
        });
      },
    },
  });
  mailjet.faults.set({ answerLatencyMs: 5000 });
  let answered = false;
  const answer = mailjet
    .call('POST', '/v3/REST/contactslist/1/managecontact', {
      Email: 'late@example.com',
      Action: 'addnoforce',
    })
    .then((res) => {
      answered = true;
      return res;
    });
  await eventually('the write stored', () => mailjet.store.contact('late@example.com') !== undefined);
  // Stored, not answered: a client whose timeout ends now does not know its write is in.
  assert.equal(answered, false);
  assert.deepEqual(asked, [5000]);
  release();
  assert.equal((await answer).statusCode, 201);
});

test('the admin routes are not subject to faults and are not counted as API requests', async (t) => {
  const mailjet = testMailjet(t);
  mailjet.faults.set({ failNext: { count: 5 }, rateLimitNext: { count: 5 } });
  const res = await mailjet.app.inject({ method: 'GET', url: '/_local/stats' });
  assert.equal(res.statusCode, 200);
  assert.equal(mailjet.faults.state().failNext.count, 5);
  assert.equal(mailjet.store.stats().requests, 0);
});

test('closing the app drops jobs still waiting', async (t) => {
  const mailjet = testMailjet(t);
  await mailjet.call('POST', '/v3/REST/contactslist/1/managemanycontacts', {
    Action: 'addforce',
    Contacts: [{ Email: 'a@b.co' }],
  });
  await mailjet.app.close();
  mailjet.store.runPendingJobs();
  assert.equal(mailjet.store.contacts().length, 0);
  assert.equal(mailjet.store.job(1)?.Status, 'In Progress');
});

test('building the app without a key pair, or with an empty key or secret, is refused', () => {
  for (const pairs of [[], [{ apiKey: '', apiSecret: 's' }], [{ apiKey: 'k', apiSecret: '' }]]) {
    assert.throws(
      () => buildMailjetApp({ credentials: pairs, store: new MailjetStore(), faults: new FaultInjector() }),
      /at least one key pair/,
    );
  }
});

test('with a logger, requests are logged by a child bound to the local-mailjet component', async (t) => {
  const lines: { component?: string; req?: { url?: string } }[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  const app = buildMailjetApp({
    credentials,
    store: new MailjetStore(),
    faults: new FaultInjector(),
    logger,
  });
  t.after(() => app.close());
  const res = await app.inject({ method: 'GET', url: '/_local/stats' });
  assert.equal(res.statusCode, 200);
  assert.ok(lines.some((line) => line.component === 'local-mailjet' && line.req?.url === '/_local/stats'));
});
