import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { ConnectorError } from '../../core/errors.ts';
import { silentLogger } from '../../core/logger.ts';
import type { ContactUpdate } from '../../destination/contact-mapping.ts';
import { createContactWriter } from '../../destination/contact-writer.ts';
import { createMailjetClient, type MailjetClient } from '../../destination/mailjet-client.ts';
import { MAILJET_CREDENTIALS, startTestMailjet } from '../helpers/destination.ts';

/** A writer on a local Mailjet server (its real wire protocol); `client` may wrap the real client. */
async function testWriter(
  t: TestContext,
  options: {
    bulkMinContacts?: number;
    listId?: number;
    wrap?: (client: MailjetClient) => MailjetClient;
  } = {},
) {
  const mailjet = await startTestMailjet(t);
  const real = createMailjetClient({
    baseUrl: mailjet.url,
    ...MAILJET_CREDENTIALS,
    logger: silentLogger(),
    maxRequestsPerSecond: 1000,
    retry: { maxDelayMs: 50 },
  });
  const writer = createContactWriter({
    client: options.wrap ? options.wrap(real) : real,
    listId: options.listId ?? 1,
    action: 'addnoforce',
    bulkMinContacts: options.bulkMinContacts ?? 20,
    jobPollMs: 50,
    retry: { maxDelayMs: 50 },
    logger: silentLogger(),
  });
  return { mailjet, writer };
}

const item = (email: string, properties: ContactUpdate['properties']) => ({ update: { email, properties } });

test('a property Mailjet refuses to create dead-letters the contacts naming it, not the others, and is asked once', async (t) => {
  let creations = 0;
  const { mailjet, writer } = await testWriter(t, {
    wrap: (client) => ({
      ...client,
      // As Mailjet would answer a name it does not accept (its rules are not documented).
      createProperty: async (name, datatype, signal) => {
        if (name !== 'bad_name') return client.createProperty(name, datatype, signal);
        creations++;
        return { status: 400, message: 'Object properties invalid (MJ08 Property Name is invalid)' };
      },
    }),
  });
  await writer.start();
  const first = await writer.write([
    item('a@example.com', { bad_name: 'x', plan: 'pro' }),
    item('b@example.com', { plan: 'free' }),
  ]);
  assert.deepEqual(
    first.upserted.map((i) => i.update.email),
    ['b@example.com'],
  );
  assert.equal(first.rejected.length, 1);
  assert.equal(first.rejected[0]?.code, 'MAILJET_REJECTED');
  assert.match(
    first.rejected[0]?.message ?? '',
    /refused to create the contact property "bad_name" \(str\): Mailjet answered 400: .*MJ08/,
  );
  const second = await writer.write([item('c@example.com', { bad_name: 'y' })]);
  assert.equal(second.rejected[0]?.code, 'MAILJET_REJECTED');
  assert.equal(creations, 1, 'a refused name is not asked for again');
  assert.equal(mailjet.store.contact('a@example.com'), undefined);
  assert.equal(mailjet.store.contact('b@example.com')?.Properties.plan, 'free');
});

test('calls of one contact are fitted one by one, then written as one: a call that does not fit is refused alone', async (t) => {
  const { mailjet, writer } = await testWriter(t);
  mailjet.store.defineProperty('age', 'int', 'static');
  await writer.start();
  const calls = [
    item('a@example.com', { age: 'old', plan: 'team' }),
    item('a@example.com', { age: 40 }),
    item('a@example.com', { vip: true }),
  ];
  const report = await writer.write(calls);
  assert.deepEqual(
    report.rejected.map(({ item, code }) => ({ item, code })),
    [{ item: calls[0], code: 'PROPERTY_TYPE_MISMATCH' }],
  );
  assert.deepEqual(report.upserted, [calls[1], calls[2]]);
  assert.deepEqual(mailjet.store.contact('a@example.com')?.Properties, { age: 40, vip: true });
  const writes = mailjet.store.requests(100).filter((r) => r.route.endsWith('managecontact'));
  assert.equal(writes.length, 1, 'one write for the contact');
});

test('a failed bulk job is redone contact by contact, so each refusal has its reason', async (t) => {
  const { mailjet, writer } = await testWriter(t, { bulkMinContacts: 2 });
  await writer.start();
  mailjet.faults.set({ failJobsNext: { count: 1 } });
  const report = await writer.write([
    item('one@example.com', { rank: 1 }),
    item('not an email', { rank: 2 }),
    item('three@example.com', { rank: 3 }),
  ]);
  assert.deepEqual(report.upserted.map((i) => i.update.email).sort(), [
    'one@example.com',
    'three@example.com',
  ]);
  assert.equal(report.rejected.length, 1);
  assert.equal(report.rejected[0]?.item.update.email, 'not an email');
  assert.match(report.rejected[0]?.message ?? '', /^Mailjet answered 400: /);
  const routes = mailjet.store.requests(100).map((r) => r.route);
  assert.ok(routes.includes('POST /v3/REST/contactslist/:id/managemanycontacts'));
  assert.equal(routes.filter((r) => r === 'POST /v3/REST/contactslist/:id/managecontact').length, 3);
});

test('a list that does not exist stops the writer with MAILJET_LIST_NOT_FOUND', async (t) => {
  const { writer } = await testWriter(t, { listId: 4242 });
  await assert.rejects(writer.start(), (err: unknown) => {
    assert.ok(err instanceof ConnectorError);
    assert.equal(err.code, 'MAILJET_LIST_NOT_FOUND');
    assert.equal(err.retriable, false);
    return true;
  });
});

// What broke: a start that met an answer flagged retriable (MAILJET_UNAVAILABLE: a refusal other than 404
// on the list) failed at once, so a worker's start-up gave up on what its batches would have retried.
test('a start that meets an answer that may pass on a retry tries again until the list is read', async (t) => {
  let refusals = 0;
  const { writer } = await testWriter(t, {
    wrap: (client) => ({
      ...client,
      contactList: async (listId, signal) => {
        if (refusals++ < 2) return { status: 400, message: 'Injected: try again' };
        return client.contactList(listId, signal);
      },
    }),
  });
  await writer.start();
  assert.equal(refusals, 3, 'two refusals, then the list');
});
