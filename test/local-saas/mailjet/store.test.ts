import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jobErrorFilePath, MailjetStore } from '../../../local-saas/mailjet/store.ts';

test('list 1 exists from the start; configured lists are added to it', () => {
  const store = new MailjetStore({ lists: [{ id: 7, name: 'Newsletter' }] });
  assert.deepEqual(
    store.lists().map((l) => [l.ID, l.Name]),
    [
      [1, 'Default list'],
      [7, 'Newsletter'],
    ],
  );
  assert.equal(store.createList('Partners')?.ID, 8);
  assert.equal(store.createList('newsletter'), undefined, 'names are unique in any casing');
});

test('property names are unique in any casing, keep their first casing, and match in any casing', () => {
  const store = new MailjetStore();
  const age = store.defineProperty('Age', 'int', 'static');
  assert.deepEqual(age, { ID: 1, Name: 'Age', Datatype: 'int', NameSpace: 'static' });
  assert.equal(store.defineProperty('AGE', 'str', 'static'), undefined);
  assert.deepEqual(store.property('age'), age);
  assert.deepEqual(store.property('1'), age);
  assert.equal(store.property('2'), undefined);
});

test('propertyProblems names undefined, historic and mistyped properties, in Mailjet’s words', () => {
  const store = new MailjetStore();
  store.defineProperty('age', 'int', 'static');
  store.defineProperty('visits', 'int', 'historic');
  assert.deepEqual(store.propertyProblems({ AGE: 3, age: null }), []);
  assert.deepEqual(store.propertyProblems({ town: 'x', age: '3', visits: 1 }), [
    { town: 'Property not defined' },
    { age: 'Property type does not match definition' },
    { visits: 'Property not defined' },
  ]);
});

test('writeContact creates once per email (any casing) and patches properties: unsent kept, null cleared', () => {
  const store = new MailjetStore();
  store.defineProperty('firstname', 'str', 'static');
  store.defineProperty('age', 'int', 'static');
  const created = store.writeContact({
    Email: 'Ada@Example.com',
    Name: 'Ada',
    Properties: { FirstName: 'Ada', age: 36 },
  });
  const again = store.writeContact({ Email: 'ada@example.COM', Properties: { age: null } });
  assert.equal(again.ID, created.ID);
  assert.equal(again.Email, 'Ada@Example.com', 'the email as first written');
  assert.equal(again.Name, 'Ada', 'an unsent Name is kept');
  assert.deepEqual(again.Properties, { firstname: 'Ada' }, 'under the property’s own name');
  assert.equal(store.contacts().length, 1);
});

test('list actions: addforce resubscribes, addnoforce keeps the status, unsub stays in the list, remove leaves', () => {
  const store = new MailjetStore();
  const { ID } = store.writeContact({ Email: 'a@b.co' });
  const membership = () => store.contact(ID)?.Lists;
  store.applyListAction(ID, 1, 'addnoforce');
  assert.deepEqual(membership(), [{ ListID: 1, IsUnsubscribed: false, UnsubscribedAt: '' }]);
  store.applyListAction(ID, 1, 'unsub');
  const [unsubscribed] = membership() ?? [];
  assert.equal(unsubscribed?.IsUnsubscribed, true);
  assert.match(unsubscribed?.UnsubscribedAt ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  store.applyListAction(ID, 1, 'addnoforce');
  assert.equal(membership()?.[0]?.IsUnsubscribed, true, 'addnoforce keeps an unsubscription');
  assert.equal(store.list(1)?.SubscriberCount, 0);
  store.applyListAction(ID, 1, 'addforce');
  assert.deepEqual(membership(), [{ ListID: 1, IsUnsubscribed: false, UnsubscribedAt: '' }]);
  store.applyListAction(ID, 1, 'remove');
  assert.deepEqual(membership(), []);
  assert.deepEqual(store.contactsOf(1), []);
  assert.throws(() => store.applyListAction(ID, 99, 'addforce'), /No list 99/);
});

test('a recipient keeps its ID across status changes; recipients filter by list and contact', () => {
  const store = new MailjetStore({ lists: [{ id: 2, name: 'Two' }] });
  const a = store.writeContact({ Email: 'a@b.co' });
  const b = store.writeContact({ Email: 'b@b.co' });
  store.applyListAction(a.ID, 1, 'addforce');
  store.applyListAction(b.ID, 1, 'addforce');
  store.applyListAction(a.ID, 2, 'unsub');
  const before = store.recipients({ listId: 1, contactId: a.ID });
  store.applyListAction(a.ID, 1, 'unsub');
  const after = store.recipients({ listId: 1, contactId: a.ID });
  assert.equal(after[0]?.ID, before[0]?.ID);
  assert.equal(store.recipients().length, 3);
  assert.equal(store.recipients({ listId: 2 }).length, 1);
  assert.deepEqual(
    store.recipients({ contactId: a.ID }).map((r) => [r.ListID, r.IsUnsubscribed]),
    [
      [1, true],
      [2, true],
    ],
  );
});

test('a job is In Progress until it runs; then Completed, or Error with an ErrorFile when contacts failed', async () => {
  const store = new MailjetStore({ jobDelayMs: 'manual' });
  const clean = store.submitJob(() => ({ count: 2, failures: [] }));
  const mixed = store.submitJob(() => ({ count: 3, failures: [{ Email: 'bad', Error: 'MJ09 …' }] }));
  assert.equal(clean.Status, 'In Progress');
  assert.equal(store.job(mixed.JobID)?.JobEnd, '');
  const settled = store.jobsSettled();
  store.runPendingJobs();
  await settled;
  assert.deepEqual(
    { ...store.job(clean.JobID), JobStart: '', JobEnd: '' },
    { JobID: clean.JobID, Status: 'Completed', Count: 2, Error: '', ErrorFile: '', JobStart: '', JobEnd: '' },
  );
  const failed = store.job(mixed.JobID);
  assert.equal(failed?.Status, 'Error');
  assert.equal(failed?.Count, 3);
  assert.match(failed?.Error ?? '', /^1 of 3 contacts were refused/);
  assert.equal(failed?.ErrorFile, jobErrorFilePath(mixed.JobID));
  assert.deepEqual(store.jobFailures(mixed.JobID), [{ Email: 'bad', Error: 'MJ09 …' }]);
  assert.deepEqual(store.stats().jobs, { 'In Progress': 0, Completed: 1, Error: 1 });
});

test('an injected job failure ends in Error "Internal error" without running the work', () => {
  const store = new MailjetStore({ jobDelayMs: 'manual' });
  let ran = false;
  const job = store.submitJob(() => {
    ran = true;
    return { count: 1, failures: [] };
  }, true);
  store.runPendingJobs();
  assert.equal(ran, false);
  assert.deepEqual(
    [store.job(job.JobID)?.Status, store.job(job.JobID)?.Error, store.job(job.JobID)?.ErrorFile],
    ['Error', 'Internal error', ''],
  );
});

test('with a delay, jobs run on their own and jobsSettled resolves after them', async () => {
  const store = new MailjetStore({ jobDelayMs: 1 });
  const job = store.submitJob(() => ({ count: 0, failures: [] }));
  await store.jobsSettled();
  assert.equal(store.job(job.JobID)?.Status, 'Completed');
  await store.jobsSettled();
});

test('requests are counted by status and route; only the newest are kept', () => {
  const store = new MailjetStore({ maxRequests: 2 });
  for (const status of [201, 400, 201]) {
    store.recordRequest({
      method: 'POST',
      path: '/v3/REST/x',
      route: 'POST /v3/REST/x',
      status,
      apiKey: 'k',
    });
  }
  const stats = store.stats();
  assert.equal(stats.requests, 3);
  assert.deepEqual(stats.responsesByStatus, { 201: 2, 400: 1 });
  assert.deepEqual(stats.requestsByRoute, { 'POST /v3/REST/x': { 201: 2, 400: 1 } });
  assert.deepEqual(
    store.requests().map((r) => r.status),
    [400, 201],
  );
  assert.deepEqual(
    store.requests(1).map((r) => r.status),
    [201],
  );
});

test('reset forgets everything but the configured lists, drops waiting jobs, and restarts IDs', async () => {
  const store = new MailjetStore({ lists: [{ id: 3, name: 'Three' }], jobDelayMs: 'manual' });
  store.defineProperty('age', 'int', 'static');
  const contact = store.writeContact({ Email: 'a@b.co' });
  store.applyListAction(contact.ID, 3, 'addforce');
  store.createList('Extra');
  let ran = false;
  store.submitJob(() => {
    ran = true;
    return { count: 0, failures: [] };
  });
  store.reset();
  await store.jobsSettled();
  store.runPendingJobs();
  assert.equal(ran, false);
  assert.deepEqual(
    store.lists().map((l) => [l.ID, l.SubscriberCount]),
    [
      [1, 0],
      [3, 0],
    ],
  );
  assert.deepEqual(store.stats(), new MailjetStore({ lists: [{ id: 3, name: 'Three' }] }).stats());
  assert.equal(store.writeContact({ Email: 'z@b.co' }).ID, 1);
});

test('options are checked', () => {
  assert.throws(() => new MailjetStore({ lists: [{ id: 0, name: 'x' }] }), /list id must be an integer ≥ 1/);
  assert.throws(() => new MailjetStore({ jobDelayMs: -1 }), /jobDelayMs must be an integer ≥ 0 or 'manual'/);
  assert.throws(() => new MailjetStore({ maxRequests: 0 }), /maxRequests must be an integer ≥ 1/);
});
