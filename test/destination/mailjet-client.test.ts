import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConnectorError } from '../../core/errors.ts';
import { silentLogger } from '../../core/logger.ts';
import { createMailjetClient, type MailjetClientOptions } from '../../destination/mailjet-client.ts';

type Reply = { status: number; body: string; contentType?: string } | Error;

/** A fetch that answers from a script and records what was asked; the policy under test is ours. */
function scripted(replies: Reply[]) {
  const requests: { url: string; method: string; body: unknown; authorization: string | null }[] = [];
  const fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const headers = new Headers(init?.headers);
    requests.push({
      url: String(input),
      method: init?.method ?? 'GET',
      body: init?.body === undefined ? undefined : JSON.parse(String(init.body)),
      authorization: headers.get('authorization'),
    });
    const reply = replies.shift();
    if (reply === undefined) throw new Error('no reply scripted');
    if (reply instanceof Error) throw reply;
    return new Response(reply.body, {
      status: reply.status,
      headers: { 'content-type': reply.contentType ?? 'application/json' },
    });
  }) as typeof globalThis.fetch;
  return { fetch, requests };
}

function client(replies: Reply[], extra: Partial<MailjetClientOptions> = {}) {
  const script = scripted(replies);
  const sleeps: number[] = [];
  const statuses: (number | 'error')[] = [];
  const mailjet = createMailjetClient({
    baseUrl: 'http://mailjet.test/',
    apiKey: 'key',
    apiSecret: 'secret',
    logger: silentLogger(),
    fetch: script.fetch,
    maxRequestsPerSecond: 1000,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 0.5,
    onRequest: (_operation, status) => statuses.push(status),
    ...extra,
  });
  return { mailjet, requests: script.requests, sleeps, statuses };
}

const ok = (data: unknown[]) => ({
  status: 201,
  body: JSON.stringify({ Count: data.length, Data: data, Total: data.length }),
});
const html429 = {
  status: 429,
  contentType: 'text/html',
  body: '<html><body><h1>429 Too Many Requests</h1>You have sent too many requests in a given amount of time.</body></html>',
};

describe('Mailjet client', () => {
  it('sends managecontact to the list with Basic auth and the contact as Mailjet takes it', async () => {
    const { mailjet, requests } = client([ok([{ ContactID: 7 }])]);
    const refused = await mailjet.manageContact(12, 'addnoforce', {
      email: 'ada@example.com',
      name: 'Ada',
      properties: { plan: 'pro' },
    });
    assert.equal(refused, undefined);
    assert.deepEqual(requests, [
      {
        url: 'http://mailjet.test/v3/REST/contactslist/12/managecontact',
        method: 'POST',
        body: { Action: 'addnoforce', Email: 'ada@example.com', Name: 'Ada', Properties: { plan: 'pro' } },
        authorization: `Basic ${Buffer.from('key:secret').toString('base64')}`,
      },
    ]);
  });

  it('retries 429 HTML pages, 5xx and lost connections with growing jittered waits, then delivers', async () => {
    const { mailjet, sleeps, statuses } = client([
      html429,
      {
        status: 500,
        body: '{"ErrorIdentifier":"x","ErrorInfo":"","ErrorMessage":"An Unexpected Error occurred during API request","StatusCode":500}',
      },
      new TypeError('fetch failed'),
      ok([{ ContactID: 7 }]),
    ]);
    assert.equal(
      await mailjet.manageContact(1, 'addforce', { email: 'a@example.com', properties: {} }),
      undefined,
    );
    // Full jitter at 0.5: half of 1 s, 2 s, 4 s.
    assert.deepEqual(sleeps, [500, 1000, 2000]);
    assert.deepEqual(statuses, [429, 500, 'error', 201]);
  });

  it('caps the backoff at maxDelayMs', async () => {
    const { mailjet, sleeps } = client([html429, html429, html429, html429, ok([])], {
      retry: { initialDelayMs: 1000, maxDelayMs: 3000 },
    });
    await mailjet.manageContact(1, 'addforce', { email: 'a@example.com', properties: {} });
    assert.deepEqual(sleeps, [500, 1000, 1500, 1500]);
  });

  it("returns 400 refusals with Mailjet's reason, properties included", async () => {
    const { mailjet } = client([
      {
        status: 400,
        body: '{"ErrorInfo":{"Properties":[{"age":"Property type does not match definition"}]},"ErrorMessage":"Object properties invalid","StatusCode":400}',
      },
    ]);
    assert.deepEqual(
      await mailjet.manageContact(1, 'addforce', { email: 'a@example.com', properties: { age: 'x' } }),
      {
        status: 400,
        message:
          'Object properties invalid ({"Properties":[{"age":"Property type does not match definition"}]})',
      },
    );
  });

  it('fails for good on 401 with MAILJET_AUTH_FAILED', async () => {
    const { mailjet } = client([
      {
        status: 401,
        body: '{"ErrorInfo":"","ErrorMessage":"API key authentication/authorization failure.","StatusCode":401}',
      },
    ]);
    await assert.rejects(mailjet.properties(), (err: unknown) => {
      assert.ok(err instanceof ConnectorError);
      assert.equal(err.code, 'MAILJET_AUTH_FAILED');
      assert.equal(err.retriable, false);
      assert.match(err.message, /answered 401 to list-properties: API key authentication/);
      return true;
    });
  });

  it('reads every page of properties', async () => {
    const page = Array.from({ length: 1000 }, (_, i) => ({
      ID: i,
      Name: `p${i}`,
      Datatype: 'str',
      NameSpace: 'static',
    }));
    const { mailjet, requests } = client([
      { status: 200, body: JSON.stringify({ Count: 1000, Data: page, Total: 1001 }) },
      {
        status: 200,
        body: JSON.stringify({ Count: 1, Data: [{ ID: 1000, Name: 'last', Datatype: 'bool' }], Total: 1001 }),
      },
    ]);
    const properties = await mailjet.properties();
    assert.equal(properties.length, 1001);
    assert.deepEqual(properties.at(-1), { id: 1000, name: 'last', datatype: 'bool' });
    assert.deepEqual(
      requests.map((r) => new URL(r.url).search),
      ['?Limit=1000&Offset=0', '?Limit=1000&Offset=1000'],
    );
  });

  it('starts a bulk job and reads its status', async () => {
    const { mailjet, requests } = client([
      ok([{ JobID: 35800 }]),
      { status: 200, body: JSON.stringify({ Count: 1, Data: [{ Status: 'In Progress' }], Total: 1 }) },
      {
        status: 200,
        body: JSON.stringify({ Count: 1, Data: [{ Status: 'Error', Error: 'Internal error' }], Total: 1 }),
      },
    ]);
    const jobId = await mailjet.manageManyContacts(3, 'addnoforce', [
      { email: 'a@example.com', properties: { x: 1 } },
    ]);
    assert.equal(jobId, 35800);
    assert.deepEqual(requests[0]?.body, {
      Action: 'addnoforce',
      Contacts: [{ Email: 'a@example.com', Properties: { x: 1 } }],
    });
    assert.deepEqual(await mailjet.bulkJob(3, 35800), { status: 'pending' });
    assert.deepEqual(await mailjet.bulkJob(3, 35800), { status: 'error', error: 'Internal error' });
    assert.equal(requests[2]?.url, 'http://mailjet.test/v3/REST/contactslist/3/managemanycontacts/35800');
  });

  it('stops retrying when the caller aborts', async () => {
    const abort = new AbortController();
    const { mailjet } = client([html429, html429, html429], {
      sleep: async () => {
        abort.abort(new Error('shutdown'));
        throw abort.signal.reason;
      },
    });
    await assert.rejects(
      mailjet.manageContact(1, 'addforce', { email: 'a@example.com', properties: {} }, abort.signal),
      /shutdown/,
    );
  });
});
