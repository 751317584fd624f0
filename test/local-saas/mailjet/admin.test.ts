import assert from 'node:assert/strict';
import { test } from 'node:test';
import { testMailjet } from './helpers.ts';

test('GET /_local/stats counts requests by route and status, contacts, properties, lists and jobs', async (t) => {
  const mailjet = testMailjet(t);
  await mailjet.define({ age: 'int' });
  await mailjet.call('POST', '/v3/REST/contactslist/1/managecontact', {
    Email: 'a@b.co',
    Action: 'addforce',
  });
  await mailjet.call('POST', '/v3/REST/contactslist/1/managecontact', { Email: 'bad', Action: 'addforce' });
  await mailjet.call('POST', '/v3/REST/contactslist/1/managemanycontacts', {
    Action: 'addforce',
    Contacts: [{ Email: 'b@b.co' }],
  });
  await mailjet.call('GET', '/v3/REST/nothing');
  const res = await mailjet.app.inject({ method: 'GET', url: '/_local/stats' });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), {
    requests: 5,
    responsesByStatus: { 201: 3, 400: 2 },
    requestsByRoute: {
      'POST /v3/REST/contactmetadata': { 201: 1 },
      'POST /v3/REST/contactslist/:id/managecontact': { 201: 1, 400: 1 },
      'POST /v3/REST/contactslist/:id/managemanycontacts': { 201: 1 },
      '(unknown)': { 400: 1 },
    },
    contacts: 1,
    properties: 1,
    lists: 1,
    jobs: { 'In Progress': 1, Completed: 0, Error: 0 },
  });
});

test('GET /_local/contacts lists contacts with their values and lists; ?list= only that list’s', async (t) => {
  const mailjet = testMailjet(t, { store: { lists: [{ id: 2, name: 'Two' }] } });
  await mailjet.define({ age: 'int' });
  await mailjet.call('POST', '/v3/REST/contactslist/1/managecontact', {
    Email: 'a@b.co',
    Action: 'unsub',
    Properties: { age: 3 },
  });
  await mailjet.call('POST', '/v3/REST/contactslist/2/managecontact', {
    Email: 'b@b.co',
    Action: 'addforce',
  });
  const all = (await mailjet.app.inject({ method: 'GET', url: '/_local/contacts' })).json().contacts;
  assert.deepEqual(
    all.map((c: { Email: string }) => c.Email),
    ['a@b.co', 'b@b.co'],
  );
  const inOne = (await mailjet.app.inject({ method: 'GET', url: '/_local/contacts?list=1' })).json().contacts;
  assert.equal(inOne.length, 1);
  assert.deepEqual(inOne[0].Properties, { age: 3 });
  assert.deepEqual(inOne[0].Lists[0].IsUnsubscribed, true);
  assert.equal((await mailjet.app.inject({ method: 'GET', url: '/_local/contacts?list=9' })).statusCode, 404);
  assert.equal(
    (await mailjet.app.inject({ method: 'GET', url: '/_local/contacts?list=abc' })).statusCode,
    400,
  );
});

test('GET /_local/properties and /_local/lists show the definitions and lists', async (t) => {
  const mailjet = testMailjet(t);
  await mailjet.define({ Age: 'int' });
  const properties = (await mailjet.app.inject({ method: 'GET', url: '/_local/properties' })).json();
  assert.deepEqual(properties, {
    properties: [{ ID: 1, Name: 'Age', Datatype: 'int', NameSpace: 'static' }],
  });
  const lists = (await mailjet.app.inject({ method: 'GET', url: '/_local/lists' })).json().lists;
  assert.deepEqual(
    lists.map((l: { ID: number }) => l.ID),
    [1],
  );
});

test('GET /_local/requests returns the latest API requests, oldest first, limited by ?limit', async (t) => {
  const mailjet = testMailjet(t);
  await mailjet.call('GET', '/v3/REST/contactmetadata?Limit=5');
  await mailjet.call('GET', '/v3/REST/contact/nobody@b.co');
  const all = (await mailjet.app.inject({ method: 'GET', url: '/_local/requests' })).json().requests;
  assert.deepEqual(
    all.map((r: Record<string, unknown>) => [r.method, r.path, r.route, r.status, r.apiKey]),
    [
      ['GET', '/v3/REST/contactmetadata?Limit=5', 'GET /v3/REST/contactmetadata', 200, 'mj_test_public_key'],
      ['GET', '/v3/REST/contact/nobody@b.co', 'GET /v3/REST/contact/:id', 404, 'mj_test_public_key'],
    ],
  );
  const last = (await mailjet.app.inject({ method: 'GET', url: '/_local/requests?limit=1' })).json().requests;
  assert.equal(last.length, 1);
  assert.equal(
    (await mailjet.app.inject({ method: 'GET', url: '/_local/requests?limit=0' })).statusCode,
    400,
  );
});

test('POST /_local/reset forgets contacts, properties, jobs and requests; lists, keys and faults stay', async (t) => {
  const mailjet = testMailjet(t, { store: { lists: [{ id: 5, name: 'Five' }] } });
  await mailjet.define({ age: 'int' });
  await mailjet.call('POST', '/v3/REST/contactslist/5/managecontact', {
    Email: 'a@b.co',
    Action: 'addforce',
  });
  await mailjet.call('POST', '/v3/REST/contactslist', { Name: 'Made by a test' });
  mailjet.faults.set({ latencyMs: 5 });
  const res = await mailjet.app.inject({ method: 'POST', url: '/_local/reset' });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), {
    requests: 0,
    responsesByStatus: {},
    requestsByRoute: {},
    contacts: 0,
    properties: 0,
    lists: 2,
    jobs: { 'In Progress': 0, Completed: 0, Error: 0 },
  });
  assert.equal(mailjet.store.list(5)?.SubscriberCount, 0);
  assert.equal(mailjet.faults.state().latencyMs, 5);
  mailjet.faults.clear();
  assert.equal(
    (await mailjet.call('GET', '/v3/REST/contactmetadata')).statusCode,
    200,
    'the key pair still works',
  );
});

test('POST /_local/faults sets faults; GET shows them; DELETE clears them', async (t) => {
  const mailjet = testMailjet(t);
  const set = await mailjet.app.inject({
    method: 'POST',
    url: '/_local/faults',
    payload: { rateLimitNext: { count: 1 }, failJobsNext: { count: 2 } },
  });
  assert.equal(set.statusCode, 200);
  assert.deepEqual(set.json().failJobsNext, { count: 2 });
  const shown = await mailjet.app.inject({ method: 'GET', url: '/_local/faults' });
  assert.deepEqual(shown.json(), mailjet.faults.state());
  assert.equal((await mailjet.call('GET', '/v3/REST/contactmetadata')).statusCode, 429);
  const cleared = await mailjet.app.inject({ method: 'DELETE', url: '/_local/faults' });
  assert.equal(cleared.json().failJobsNext.count, 0);
  assert.equal((await mailjet.call('GET', '/v3/REST/contactmetadata')).statusCode, 200);
});

test('POST /_local/faults refuses unknown or out-of-range settings with 400 and changes nothing', async (t) => {
  const mailjet = testMailjet(t);
  for (const payload of [
    { latency: 100 },
    { failNext: { count: 1, status: 429 } },
    { maxRequestsPerSecond: 0 },
  ]) {
    const res = await mailjet.app.inject({ method: 'POST', url: '/_local/faults', payload });
    assert.equal(res.statusCode, 400, JSON.stringify(payload));
    assert.equal(res.json().ErrorInfo, 'invalid_faults');
    assert.match(res.json().ErrorMessage, /^Invalid fault settings: \//);
  }
  assert.deepEqual(
    mailjet.faults.state(),
    (await mailjet.app.inject({ method: 'DELETE', url: '/_local/faults' })).json(),
  );
});
