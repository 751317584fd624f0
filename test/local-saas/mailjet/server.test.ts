import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startLocalMailjet } from '../../../local-saas/mailjet/server.ts';
import { apiKey, apiSecret, basicAuth } from './helpers.ts';

const credentials = [{ apiKey, apiSecret }];

test('startLocalMailjet listens on loopback; a real HTTP client writes a contact and reads it back', async (t) => {
  const mailjet = await startLocalMailjet({ credentials, lists: [{ id: 2, name: 'Newsletter' }] });
  t.after(() => mailjet.stop());
  assert.match(mailjet.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  const headers = { 'content-type': 'application/json', authorization: basicAuth(apiKey, apiSecret) };
  const defined = await fetch(`${mailjet.url}/v3/REST/contactmetadata`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ Name: 'age', Datatype: 'int' }),
  });
  assert.equal(defined.status, 201);
  await defined.arrayBuffer();
  const res = await fetch(`${mailjet.url}/v3/REST/contactslist/2/managecontact`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ Email: 'a@b.co', Action: 'addforce', Properties: { age: 3 } }),
  });
  assert.equal(res.status, 201);
  assert.equal(((await res.json()) as { Data: { ContactID: number }[] }).Data[0]?.ContactID, 1);
  assert.deepEqual(mailjet.store.contactsOf(2)[0]?.Properties, { age: 3 });
  const contacts = (await (await fetch(`${mailjet.url}/_local/contacts?list=2`)).json()) as {
    contacts: unknown[];
  };
  assert.equal(contacts.contacts.length, 1);
});

test('bulk jobs run on their own after the default delay; jobsSettled waits for them', async (t) => {
  const mailjet = await startLocalMailjet({ credentials });
  t.after(() => mailjet.stop());
  const res = await fetch(`${mailjet.url}/v3/REST/contactslist/1/managemanycontacts`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: basicAuth(apiKey, apiSecret) },
    body: JSON.stringify({ Action: 'addnoforce', Contacts: [{ Email: 'a@b.co' }, { Email: 'b@b.co' }] }),
  });
  assert.equal(res.status, 201);
  const { JobID } = ((await res.json()) as { Data: { JobID: number }[] }).Data[0] ?? { JobID: 0 };
  await mailjet.store.jobsSettled();
  assert.equal(mailjet.store.job(JobID)?.Status, 'Completed');
  assert.equal(mailjet.store.contactsOf(1).length, 2);
});

test('faults set on the returned injector apply to the running server: HTML 429, no Retry-After', async (t) => {
  const mailjet = await startLocalMailjet({ credentials });
  t.after(() => mailjet.stop());
  mailjet.faults.set({ rateLimitNext: { count: 1 } });
  const res = await fetch(`${mailjet.url}/v3/REST/contactmetadata`, {
    headers: { authorization: basicAuth(apiKey, apiSecret) },
  });
  assert.equal(res.status, 429);
  assert.equal(res.headers.get('retry-after'), null);
  assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
  assert.match(await res.text(), /<h1>429 Too Many Requests<\/h1>/);
});

test('a port already in use fails with PORT_TAKEN; stop() may be called twice', async () => {
  const first = await startLocalMailjet({ credentials });
  try {
    const port = Number(new URL(first.url).port);
    await assert.rejects(startLocalMailjet({ credentials, port }), {
      code: 'PORT_TAKEN',
      message: new RegExp(`Port 127\\.0\\.0\\.1:${port} \\(local Mailjet server\\) is already in use`),
    });
  } finally {
    await first.stop();
    await first.stop();
  }
});
