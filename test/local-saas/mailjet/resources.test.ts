import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mailjetLimits } from '../../../local-saas/mailjet/resources.ts';
import { testMailjet } from './helpers.ts';

const objectNotFound = { ErrorInfo: '', ErrorMessage: 'Object not found', StatusCode: 404 };
const rfc3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

test('POST /contactmetadata defines a property: 201 with Mailjet’s envelope; NameSpace defaults to static', async (t) => {
  const mailjet = testMailjet(t);
  const res = await mailjet.call('POST', '/v3/REST/contactmetadata', { Name: 'Age', Datatype: 'int' });
  assert.equal(res.statusCode, 201);
  assert.deepEqual(res.json(), {
    Count: 1,
    Data: [{ ID: 1, Name: 'Age', Datatype: 'int', NameSpace: 'static' }],
    Total: 1,
  });
  const historic = await mailjet.call('POST', '/v3/REST/contactmetadata', {
    name: 'visits',
    datatype: 'float',
    namespace: 'historic',
  });
  assert.deepEqual(historic.json().Data[0], {
    ID: 2,
    Name: 'visits',
    Datatype: 'float',
    NameSpace: 'historic',
  });
  const untyped = await mailjet.call('POST', '/v3/REST/contactmetadata', { Name: 'town' });
  assert.equal(untyped.json().Data[0].Datatype, 'str');
});

test('a property name that exists, in any casing, gets 400 MJ18 and keeps the first definition', async (t) => {
  const mailjet = testMailjet(t);
  await mailjet.define({ Age: 'int' });
  const res = await mailjet.call('POST', '/v3/REST/contactmetadata', { Name: 'age', Datatype: 'str' });
  assert.equal(res.statusCode, 400);
  assert.deepEqual(res.json(), {
    ErrorInfo: '',
    ErrorMessage: 'MJ18 A ContactMetaData resource with value "age" for Name already exists.',
    StatusCode: 400,
  });
  assert.equal(mailjet.store.property('AGE')?.Datatype, 'int');
});

test('a bad Datatype or NameSpace, or an empty Name, gets 400 "Object properties invalid" naming the field', async (t) => {
  const mailjet = testMailjet(t);
  const cases: [unknown, RegExp][] = [
    [
      { Name: 'age', Datatype: 'integer' },
      /^MJ08 Property Datatype is invalid: MJ07 Value must be one of str, int/,
    ],
    [{ Name: 'age', Datatype: 'int', NameSpace: 'global' }, /^MJ08 Property NameSpace is invalid/],
    [
      { Name: '', Datatype: 'int' },
      /^MJ08 Property Name is invalid: MJ04 Value must have at least length 1$/,
    ],
    [{ Datatype: 'int' }, /^MJ08 Property Name is invalid/],
  ];
  for (const [body, info] of cases) {
    const res = await mailjet.call('POST', '/v3/REST/contactmetadata', body);
    assert.equal(res.statusCode, 400, JSON.stringify(body));
    assert.equal(res.json().ErrorMessage, 'Object properties invalid');
    assert.match(res.json().ErrorInfo, info);
  }
  assert.deepEqual(mailjet.store.properties(), []);
});

test('GET /contactmetadata pages with Limit (default 10, at most 1000) and Offset; one by ID or Name', async (t) => {
  const mailjet = testMailjet(t);
  const names = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`p${i}`, 'str']));
  await mailjet.define(names);
  const first = (await mailjet.call('GET', '/v3/REST/contactmetadata')).json();
  assert.equal(first.Count, 10);
  assert.equal(first.Total, 12);
  const rest = (await mailjet.call('GET', '/v3/REST/contactmetadata?Limit=5&Offset=10')).json();
  assert.deepEqual(
    rest.Data.map((p: { Name: string }) => p.Name),
    ['p10', 'p11'],
  );
  assert.equal((await mailjet.call('GET', '/v3/REST/contactmetadata?limit=5000')).json().Count, 12);
  assert.equal((await mailjet.call('GET', '/v3/REST/contactmetadata?Limit=0')).statusCode, 400);
  assert.equal((await mailjet.call('GET', '/v3/REST/contactmetadata?Offset=-1')).statusCode, 400);
  const byName = await mailjet.call('GET', '/v3/REST/contactmetadata/P3');
  assert.deepEqual(byName.json(), {
    Count: 1,
    Data: [{ ID: 4, Name: 'p3', Datatype: 'str', NameSpace: 'static' }],
    Total: 1,
  });
  assert.equal((await mailjet.call('GET', '/v3/REST/contactmetadata/4')).json().Data[0].Name, 'p3');
  const missing = await mailjet.call('GET', '/v3/REST/contactmetadata/nope');
  assert.equal(missing.statusCode, 404);
  assert.deepEqual(missing.json(), objectNotFound);
});

test('contact lists: list 1 exists, POST creates (201), duplicates and empty names get 400, unknown ids 404', async (t) => {
  const mailjet = testMailjet(t);
  const one = await mailjet.call('GET', '/v3/REST/contactslist/1');
  assert.equal(one.statusCode, 200);
  assert.deepEqual(
    { ...one.json().Data[0], CreatedAt: 'x' },
    {
      ID: 1,
      Name: 'Default list',
      CreatedAt: 'x',
      IsDeleted: false,
      SubscriberCount: 0,
    },
  );
  const created = await mailjet.call('POST', '/v3/REST/contactslist', { Name: 'Newsletter' });
  assert.equal(created.statusCode, 201);
  assert.equal(created.json().Data[0].ID, 2);
  assert.equal((await mailjet.call('POST', '/v3/REST/contactslist', { Name: 'Newsletter' })).statusCode, 400);
  assert.equal((await mailjet.call('POST', '/v3/REST/contactslist', { Name: '' })).statusCode, 400);
  assert.equal((await mailjet.call('GET', '/v3/REST/contactslist')).json().Total, 2);
  for (const path of ['/v3/REST/contactslist/99', '/v3/REST/contactslist/abc']) {
    const res = await mailjet.call('GET', path);
    assert.equal(res.statusCode, 404, path);
    assert.deepEqual(res.json(), objectNotFound);
  }
});

test('managecontact creates the contact, applies properties and subscribes: 201 echoing the request', async (t) => {
  const mailjet = testMailjet(t);
  await mailjet.define({ firstname: 'str', age: 'int', vip: 'bool', score: 'float', birthday: 'datetime' });
  const properties = { FirstName: 'Ada', age: 36, vip: true, score: 9.5, birthday: '1815-12-10T00:00:00Z' };
  const res = await mailjet.call('POST', '/v3/REST/contactslist/1/managecontact', {
    Email: 'ada@example.com',
    Name: 'Ada Lovelace',
    Action: 'addnoforce',
    Properties: properties,
  });
  assert.equal(res.statusCode, 201);
  assert.deepEqual(res.json(), {
    Count: 1,
    Data: [
      {
        ContactID: 1,
        Email: 'ada@example.com',
        Action: 'addnoforce',
        Name: 'Ada Lovelace',
        Properties: properties,
      },
    ],
    Total: 1,
  });
  const contact = mailjet.store.contact('ada@example.com');
  assert.deepEqual(contact?.Properties, {
    firstname: 'Ada',
    age: 36,
    vip: true,
    score: 9.5,
    birthday: '1815-12-10T00:00:00Z',
  });
  assert.deepEqual(contact?.Lists, [{ ListID: 1, IsUnsubscribed: false, UnsubscribedAt: '' }]);
  assert.equal(contact?.Name, 'Ada Lovelace');
});

test('managecontact patches properties: unsent ones are kept, null clears one', async (t) => {
  const mailjet = testMailjet(t);
  await mailjet.define({ firstname: 'str', age: 'int' });
  const write = (Properties: unknown) =>
    mailjet.call('POST', '/v3/REST/contactslist/1/managecontact', {
      Email: 'a@b.co',
      Action: 'addforce',
      Properties,
    });
  await write({ firstname: 'Ada', age: 36 });
  await write({ age: 37 });
  assert.deepEqual(mailjet.store.contact('a@b.co')?.Properties, { firstname: 'Ada', age: 37 });
  await write({ firstname: null });
  assert.deepEqual(mailjet.store.contact('a@b.co')?.Properties, { age: 37 });
  assert.equal(mailjet.store.contacts().length, 1);
});

test('managecontact actions: addforce resubscribes, addnoforce keeps the status, unsub stays listed, remove leaves', async (t) => {
  const mailjet = testMailjet(t);
  const act = async (Action: string) => {
    const res = await mailjet.call('POST', '/v3/REST/contactslist/1/managecontact', {
      Email: 'a@b.co',
      Action,
    });
    assert.equal(res.statusCode, 201, Action);
    return mailjet.store.contact('a@b.co')?.Lists.map((l) => l.IsUnsubscribed);
  };
  assert.deepEqual(await act('unsub'), [true], 'unsub of a new contact: in the list, unsubscribed');
  assert.deepEqual(await act('addnoforce'), [true]);
  assert.deepEqual(await act('addforce'), [false]);
  assert.deepEqual(await act('remove'), []);
  assert.deepEqual(await act('addnoforce'), [false]);
  assert.deepEqual(await act('AddForce'), [false], 'actions match in any casing');
});

test('undefined or mistyped properties get Mailjet’s exact 400 body, and nothing is written', async (t) => {
  const mailjet = testMailjet(t);
  await mailjet.define({ age: 'int', vip: 'bool' });
  const res = await mailjet.call('POST', '/v3/REST/contactslist/1/managecontact', {
    Email: 'a@b.co',
    Action: 'addforce',
    Properties: { age: 3, town: 'Paris', vip: 'true' },
  });
  assert.equal(res.statusCode, 400);
  assert.equal(
    res.body,
    '{"ErrorInfo":{"Properties":[{"town":"Property not defined"},{"vip":"Property type does not match definition"}]},"ErrorMessage":"Object properties invalid","StatusCode":400}',
  );
  assert.equal(mailjet.store.contact('a@b.co'), undefined);
});

test('managecontact: Properties as a JSON string adds the contact and silently drops them, as Mailjet does', async (t) => {
  const mailjet = testMailjet(t);
  await mailjet.define({ age: 'int' });
  const res = await mailjet.call('POST', '/v3/REST/contactslist/1/managecontact', {
    Email: 'a@b.co',
    Action: 'addforce',
    Properties: '{"age":3}',
  });
  assert.equal(res.statusCode, 201);
  assert.deepEqual(mailjet.store.contact('a@b.co')?.Properties, {});
  assert.equal(mailjet.store.contactsOf(1).length, 1);
});

test('managecontact refuses a missing or invalid Email or Action and other Properties with 400', async (t) => {
  const mailjet = testMailjet(t);
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ Action: 'addforce' }, /^MJ08 Property Email is invalid: MJ03/],
    [{ Email: 'not-an-email', Action: 'addforce' }, /^MJ08 Property Email is invalid: MJ09/],
    [{ Email: 42, Action: 'addforce' }, /^MJ08 Property Email is invalid/],
    [
      { Email: 'a@b.co' },
      /^MJ08 Property Action is invalid: MJ07 Value must be one of addforce, addnoforce, remove, unsub$/,
    ],
    [{ Email: 'a@b.co', Action: 'subscribe' }, /^MJ08 Property Action is invalid/],
    [{ Email: 'a@b.co', Action: 'addforce', Properties: [1] }, /^MJ08 Property Properties is invalid/],
    [{ Email: 'a@b.co', Action: 'addforce', Name: 3 }, /^MJ08 Property Name is invalid/],
  ];
  for (const [body, info] of cases) {
    const res = await mailjet.call('POST', '/v3/REST/contactslist/1/managecontact', body);
    assert.equal(res.statusCode, 400, JSON.stringify(body));
    assert.equal(res.json().ErrorMessage, 'Object properties invalid');
    assert.match(res.json().ErrorInfo, info, JSON.stringify(body));
  }
  assert.equal(mailjet.store.contacts().length, 0);
  const unknownList = await mailjet.call('POST', '/v3/REST/contactslist/42/managecontact', {
    Email: 'a@b.co',
    Action: 'addforce',
  });
  assert.equal(unknownList.statusCode, 404);
  assert.deepEqual(unknownList.json(), objectNotFound);
});

test('request fields and property names match in any casing; stored names keep their first casing', async (t) => {
  const mailjet = testMailjet(t);
  await mailjet.define({ FirstName: 'str' });
  const res = await mailjet.call('POST', '/v3/REST/contactslist/1/managecontact', {
    email: 'a@b.co',
    action: 'addforce',
    properties: { firstname: 'Ada' },
  });
  assert.equal(res.statusCode, 201);
  assert.deepEqual(mailjet.store.contact('A@B.CO')?.Properties, { FirstName: 'Ada' });
});

test('a bulk job on a list: 201 JobID, In Progress, then Error with the bad contacts in the JSONError file', async (t) => {
  const mailjet = testMailjet(t);
  await mailjet.define({ age: 'int' });
  const res = await mailjet.call('POST', '/v3/REST/contactslist/1/managemanycontacts', {
    Action: 'addnoforce',
    Contacts: [
      { Email: 'good@b.co', Name: 'Good', Properties: { age: 3 } },
      { Email: 'undefined@b.co', Properties: { town: 'Paris' } },
      { Email: 'mistyped@b.co', Properties: { age: 'three' } },
      { Email: 'not-an-email' },
      { Email: 'excluded@b.co', IsExcludedFromCampaigns: true },
    ],
  });
  assert.equal(res.statusCode, 201);
  assert.deepEqual(res.json(), { Count: 1, Data: [{ JobID: 1 }], Total: 1 });

  const status = async () =>
    (await mailjet.call('GET', '/v3/REST/contactslist/1/managemanycontacts/1')).json();
  const waiting = await status();
  assert.equal(waiting.Count, 1);
  assert.deepEqual(
    { ...waiting.Data[0], JobStart: 'x' },
    {
      Count: 0,
      Error: '',
      ErrorFile: '',
      JobEnd: '',
      JobStart: 'x',
      Status: 'In Progress',
    },
  );
  assert.equal(mailjet.store.contacts().length, 0, 'nothing is stored before the job runs');

  mailjet.store.runPendingJobs();
  const done = (await status()).Data[0];
  assert.equal(done.Status, 'Error');
  assert.equal(done.Count, 5);
  assert.equal(done.Error, '3 of 5 contacts were refused; the others were stored. See ErrorFile.');
  assert.equal(done.ErrorFile, '/v3/DATA/batchjob/1/JSONError/application:json/LAST');
  assert.match(done.JobStart, rfc3339);
  assert.match(done.JobEnd, rfc3339);
  assert.deepEqual(
    mailjet.store.contactsOf(1).map((c) => [c.Email, c.Name, c.Properties, c.IsExcludedFromCampaigns]),
    [
      ['good@b.co', 'Good', { age: 3 }, false],
      ['excluded@b.co', '', {}, true],
    ],
  );

  const file = await mailjet.call('GET', done.ErrorFile);
  assert.equal(file.statusCode, 200);
  assert.deepEqual(file.json(), [
    { Email: 'undefined@b.co', Error: 'Object properties invalid: town: Property not defined' },
    {
      Email: 'mistyped@b.co',
      Error: 'Object properties invalid: age: Property type does not match definition',
    },
    {
      Email: 'not-an-email',
      Error: 'MJ08 Property Email is invalid: MJ09 Value is not a valid email address',
    },
  ]);
});

test('a bulk job where every contact is valid ends Completed, and its error file is an empty array', async (t) => {
  const mailjet = testMailjet(t);
  await mailjet.call('POST', '/v3/REST/contactslist/1/managecontact', { Email: 'a@b.co', Action: 'unsub' });
  await mailjet.call('POST', '/v3/REST/contactslist/1/managemanycontacts', {
    Action: 'addforce',
    Contacts: [{ Email: 'a@b.co' }, { Email: 'b@b.co' }],
  });
  mailjet.store.runPendingJobs();
  const job = (await mailjet.call('GET', '/v3/REST/contactslist/1/managemanycontacts/1')).json().Data[0];
  assert.deepEqual([job.Status, job.Count, job.Error, job.ErrorFile], ['Completed', 2, '', '']);
  assert.deepEqual(
    mailjet.store.contactsOf(1).map((c) => c.Lists[0]?.IsUnsubscribed),
    [false, false],
    'addforce resubscribed a@b.co',
  );
  assert.deepEqual(
    (await mailjet.call('GET', '/v3/DATA/batchjob/1/JSONError/application:json/LAST')).json(),
    [],
  );
});

test('contact/managemanycontacts applies each ContactsLists action; without lists it only writes contacts', async (t) => {
  const mailjet = testMailjet(t, { store: { lists: [{ id: 2, name: 'Two' }] } });
  const res = await mailjet.call('POST', '/v3/REST/contact/managemanycontacts', {
    ContactsLists: [
      { ListID: 1, Action: 'addforce' },
      { ListID: '2', Action: 'unsub' },
    ],
    Contacts: [{ Email: 'a@b.co' }],
  });
  assert.equal(res.statusCode, 201);
  const { JobID } = res.json().Data[0];
  await mailjet.call('POST', '/v3/REST/contact/managemanycontacts', { Contacts: [{ Email: 'lone@b.co' }] });
  mailjet.store.runPendingJobs();
  const job = await mailjet.call('GET', `/v3/REST/contact/managemanycontacts/${JobID}`);
  assert.equal(job.json().Data[0].Status, 'Completed');
  assert.deepEqual(mailjet.store.contact('a@b.co')?.Lists, [
    { ListID: 1, IsUnsubscribed: false, UnsubscribedAt: '' },
    {
      ListID: 2,
      IsUnsubscribed: true,
      UnsubscribedAt: mailjet.store.contact('a@b.co')?.Lists[1]?.UnsubscribedAt,
    },
  ]);
  assert.deepEqual(mailjet.store.contact('lone@b.co')?.Lists, []);
});

test('bulk calls are checked as a whole: action, contacts, list ids and the per-call limit', async (t) => {
  const mailjet = testMailjet(t);
  const tooMany = Array.from({ length: mailjetLimits.contactsPerJob + 1 }, (_, i) => ({
    Email: `c${i}@b.co`,
  }));
  const cases: [string, unknown, number, RegExp?][] = [
    ['/v3/REST/contactslist/1/managemanycontacts', { Contacts: [{ Email: 'a@b.co' }] }, 400, /Action/],
    ['/v3/REST/contactslist/1/managemanycontacts', { Action: 'addforce', Contacts: [] }, 400, /Contacts/],
    ['/v3/REST/contactslist/1/managemanycontacts', { Action: 'addforce' }, 400, /Contacts/],
    [
      '/v3/REST/contactslist/1/managemanycontacts',
      { Action: 'addforce', Contacts: tooMany },
      400,
      /At most 5000 contacts per call, got 5001/,
    ],
    [
      '/v3/REST/contactslist/9/managemanycontacts',
      { Action: 'addforce', Contacts: [{ Email: 'a@b.co' }] },
      404,
    ],
    [
      '/v3/REST/contact/managemanycontacts',
      { ContactsLists: [{ ListID: 9, Action: 'addforce' }], Contacts: [{}] },
      404,
    ],
    [
      '/v3/REST/contact/managemanycontacts',
      { ContactsLists: [{ ListID: 1, Action: 'nope' }], Contacts: [{}] },
      400,
      /ContactsLists\[0\]\.Action/,
    ],
    [
      '/v3/REST/contact/managemanycontacts',
      { ContactsLists: [{ Action: 'addforce' }], Contacts: [{}] },
      400,
      /ListID/,
    ],
  ];
  for (const [path, body, status, info] of cases) {
    const res = await mailjet.call('POST', path, body);
    assert.equal(res.statusCode, status, `${path} ${JSON.stringify(body).slice(0, 80)}`);
    if (info) assert.match(res.json().ErrorInfo, info);
  }
  assert.equal(mailjet.store.stats().jobs['In Progress'], 0, 'no job was created');
  const exactly = tooMany.slice(1);
  const res = await mailjet.call('POST', '/v3/REST/contactslist/1/managemanycontacts', {
    Action: 'addforce',
    Contacts: exactly,
  });
  assert.equal(res.statusCode, 201, `${exactly.length} contacts are accepted`);
});

test('unknown jobs and error files are 404; a job is looked up under an unknown list as 404 too', async (t) => {
  const mailjet = testMailjet(t);
  for (const path of [
    '/v3/REST/contactslist/1/managemanycontacts/7',
    '/v3/REST/contactslist/8/managemanycontacts/7',
    '/v3/REST/contact/managemanycontacts/7',
    '/v3/DATA/batchjob/7/JSONError/application:json/LAST',
  ]) {
    const res = await mailjet.call('GET', path);
    assert.equal(res.statusCode, 404, path);
    assert.deepEqual(res.json(), objectNotFound);
  }
});

test('failJobsNext: the next bulk job ends Error "Internal error" and stores nothing', async (t) => {
  const mailjet = testMailjet(t);
  mailjet.faults.set({ failJobsNext: { count: 1 } });
  const body = { Action: 'addforce', Contacts: [{ Email: 'a@b.co' }] };
  assert.equal(
    (await mailjet.call('POST', '/v3/REST/contactslist/1/managemanycontacts', body)).statusCode,
    201,
  );
  await mailjet.call('POST', '/v3/REST/contactslist/1/managemanycontacts', body);
  mailjet.store.runPendingJobs();
  const first = (await mailjet.call('GET', '/v3/REST/contactslist/1/managemanycontacts/1')).json().Data[0];
  assert.deepEqual([first.Status, first.Error, first.Count], ['Error', 'Internal error', 0]);
  const second = (await mailjet.call('GET', '/v3/REST/contactslist/1/managemanycontacts/2')).json().Data[0];
  assert.equal(second.Status, 'Completed', 'only the next job failed');
  assert.equal(mailjet.store.contacts().length, 1);
});

test('GET /contact by ID or email gives Mailjet’s contact fields; POST /contact creates once', async (t) => {
  const mailjet = testMailjet(t);
  const created = await mailjet.call('POST', '/v3/REST/contact', { Email: 'Ada@b.co', Name: 'Ada' });
  assert.equal(created.statusCode, 201);
  const duplicate = await mailjet.call('POST', '/v3/REST/contact', { Email: 'ada@b.co' });
  assert.equal(duplicate.statusCode, 400);
  assert.equal(
    duplicate.json().ErrorMessage,
    'MJ18 A Contact resource with value "ada@b.co" for Email already exists.',
  );
  for (const id of ['1', 'ada@b.co', encodeURIComponent('Ada@b.co')]) {
    const res = await mailjet.call('GET', `/v3/REST/contact/${id}`);
    assert.equal(res.statusCode, 200, id);
    const [contact] = res.json().Data;
    assert.equal(contact.ID, 1);
    assert.equal(contact.Email, 'Ada@b.co');
    assert.equal(contact.Name, 'Ada');
    assert.equal(contact.IsExcludedFromCampaigns, false);
    assert.match(contact.CreatedAt, rfc3339);
  }
  assert.deepEqual((await mailjet.call('GET', '/v3/REST/contact/nobody@b.co')).json(), objectNotFound);
  assert.equal((await mailjet.call('GET', '/v3/REST/contact')).json().Total, 1);
});

test('contactdata: GET lists values as {Name, Value}; PUT patches them (null clears) and answers 200', async (t) => {
  const mailjet = testMailjet(t);
  await mailjet.define({ FirstName: 'str', age: 'int', town: 'str' });
  await mailjet.call('POST', '/v3/REST/contactslist/1/managecontact', {
    Email: 'a@b.co',
    Action: 'addforce',
    Properties: { firstname: 'Ada', town: 'London' },
  });
  const got = await mailjet.call('GET', '/v3/REST/contactdata/a@b.co');
  assert.deepEqual(got.json(), {
    Count: 1,
    Data: [
      {
        ContactID: 1,
        Data: [
          { Name: 'FirstName', Value: 'Ada' },
          { Name: 'town', Value: 'London' },
        ],
        ID: 1,
      },
    ],
    Total: 1,
  });
  const put = await mailjet.call('PUT', '/v3/REST/contactdata/1', {
    Data: [
      { Name: 'age', Value: 36 },
      { name: 'TOWN', value: null },
    ],
  });
  assert.equal(put.statusCode, 200);
  assert.deepEqual(put.json().Data[0].Data, [
    { Name: 'FirstName', Value: 'Ada' },
    { Name: 'age', Value: 36 },
  ]);
  assert.deepEqual(mailjet.store.contact(1)?.Properties, { FirstName: 'Ada', age: 36 });
});

test('contactdata PUT validates like managecontact, refuses a wrong shape, and 404s an unknown contact', async (t) => {
  const mailjet = testMailjet(t);
  await mailjet.define({ age: 'int' });
  await mailjet.call('POST', '/v3/REST/contactslist/1/managecontact', {
    Email: 'a@b.co',
    Action: 'addforce',
  });
  const invalid = await mailjet.call('PUT', '/v3/REST/contactdata/a@b.co', {
    Data: [
      { Name: 'age', Value: '36' },
      { Name: 'town', Value: 'Paris' },
    ],
  });
  assert.equal(invalid.statusCode, 400);
  assert.deepEqual(invalid.json(), {
    ErrorInfo: {
      Properties: [{ age: 'Property type does not match definition' }, { town: 'Property not defined' }],
    },
    ErrorMessage: 'Object properties invalid',
    StatusCode: 400,
  });
  const flat = await mailjet.call('PUT', '/v3/REST/contactdata/a@b.co', { age: 36 });
  assert.equal(flat.statusCode, 400);
  assert.equal(flat.json().ErrorMessage, 'Invalid key name: "age"');
  const noValue = await mailjet.call('PUT', '/v3/REST/contactdata/a@b.co', { Data: [{ Name: 'age' }] });
  assert.match(noValue.json().ErrorInfo, /^MJ08 Property Data\[0\] is invalid/);
  assert.deepEqual(mailjet.store.contact('a@b.co')?.Properties, {});
  for (const method of ['GET', 'PUT'] as const) {
    const res = await mailjet.call(method, '/v3/REST/contactdata/nobody@b.co', { Data: [] });
    assert.equal(res.statusCode, 404, method);
    assert.deepEqual(res.json(), objectNotFound);
  }
});

test('listrecipient filters by ContactsList and Contact and pages', async (t) => {
  const mailjet = testMailjet(t, { store: { lists: [{ id: 2, name: 'Two' }] } });
  for (const [Email, list, Action] of [
    ['a@b.co', 1, 'addforce'],
    ['b@b.co', 1, 'unsub'],
    ['a@b.co', 2, 'addforce'],
  ] as const) {
    await mailjet.call('POST', `/v3/REST/contactslist/${list}/managecontact`, { Email, Action });
  }
  const inList = (await mailjet.call('GET', '/v3/REST/listrecipient?ContactsList=1')).json();
  assert.equal(inList.Total, 2);
  assert.deepEqual(
    inList.Data.map((r: Record<string, unknown>) => [r.ContactID, r.ListID, r.IsUnsubscribed, r.IsActive]),
    [
      [1, 1, false, true],
      [2, 1, true, true],
    ],
  );
  assert.match(inList.Data[1].UnsubscribedAt, rfc3339);
  const one = (await mailjet.call('GET', '/v3/REST/listrecipient?ContactsList=2&Contact=1')).json();
  assert.deepEqual([one.Total, one.Data[0].ListID], [1, 2]);
  assert.equal((await mailjet.call('GET', '/v3/REST/listrecipient?Contact=a@b.co')).json().Total, 2);
  assert.equal((await mailjet.call('GET', '/v3/REST/listrecipient?Contact=999')).json().Total, 0);
  assert.equal(
    (await mailjet.call('GET', '/v3/REST/listrecipient?Limit=1&Offset=2')).json().Data[0].ListID,
    2,
  );
  assert.deepEqual(
    (await mailjet.call('GET', '/v3/REST/listrecipient?ContactsList=9')).json(),
    objectNotFound,
  );
});
