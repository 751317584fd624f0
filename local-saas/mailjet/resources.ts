/**
 * The Mailjet REST v3 resources the local server answers, as a table of paths and per-method handlers.
 * Handlers are synchronous functions of the store: each validates the whole request first and throws a
 * `MailjetApiError` before changing anything, so a refused request stores nothing. app.ts owns HTTP
 * (auth, parsing, faults, 405s); this file owns what Mailjet does with a valid request.
 */
import {
  alreadyExists,
  invalidField,
  invalidJson,
  invalidProperties,
  MailjetApiError,
  notFound,
} from './mailjet-errors.ts';
import { datatypes, isDatatype, isNameSpace, namespaces } from './property-types.ts';
import {
  type BulkJob,
  type Contact,
  type ContactsList,
  type ContactWrite,
  type JobFailure,
  type ListAction,
  listActions,
  type MailjetStore,
} from './store.ts';

/**
 * Limits Mailjet does not publish, chosen here:
 * - `contactsPerJob`: rudder-transformer's Mailjet destination settled on 5,000 contacts per
 *   managemanycontacts call "by trial and error", the only figure known to work; a client that fits here
 *   fits at Mailjet. Over it: 400.
 * - `bodyBytes`: 10 MiB, room for 5,000 contacts with a few KB of properties each. Over it: 413, the
 *   status an HTTP front answers to an oversize body, and one clients do not retry as is.
 * - Pages: `Limit` defaults to 10 and is capped at 1,000, as Mailjet documents.
 */
export const mailjetLimits = {
  contactsPerJob: 5_000,
  bodyBytes: 10 * 1024 * 1024,
  defaultLimit: 10,
  maxLimit: 1_000,
} as const;

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';
export const httpMethods: HttpMethod[] = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'];

export interface ApiCall {
  params: Record<string, string>;
  query: Record<string, unknown>;
  /** Parsed JSON; undefined when the request had no body. */
  body: unknown;
}

export interface Answer {
  status: number;
  body: unknown;
}

export interface Resource {
  /** Under `/v3`; `::` is fastify's escape for a literal colon. */
  url: string;
  methods: Partial<Record<HttpMethod, (call: ApiCall) => Answer>>;
}

type JsonObject = Record<string, unknown>;

// A pragmatic check, not RFC 5322: it refuses what is clearly not an address, as Mailjet does.
const emailPattern = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function mailjetResources(store: MailjetStore, takeJobFailure: () => boolean): Resource[] {
  return [
    {
      url: '/REST/contactmetadata',
      methods: {
        GET: ({ query }) => page(query, store.properties()),
        POST: ({ body }) => {
          const input = objectBody(body);
          const name = requiredName(input);
          // The SDK types Datatype as optional; Mailjet does not say its default. `str` is the one type
          // every value can be written as, so it is the safe reading.
          const datatype = field(input, 'Datatype') ?? 'str';
          if (!isDatatype(datatype)) {
            throw invalidField('Datatype', `MJ07 Value must be one of ${datatypes.join(', ')}`);
          }
          const nameSpace = field(input, 'NameSpace') ?? 'static';
          if (!isNameSpace(nameSpace)) {
            throw invalidField('NameSpace', `MJ07 Value must be one of ${namespaces.join(', ')}`);
          }
          const property = store.defineProperty(name, datatype, nameSpace);
          // Mailjet's duplicate text for this resource is not published; this is its Contact one, adapted.
          if (!property) throw alreadyExists('ContactMetaData', name, 'Name');
          return created([property]);
        },
      },
    },
    {
      url: '/REST/contactmetadata/:id',
      methods: { GET: ({ params }) => ok([found(store.property(param(params, 'id')))]) },
    },
    {
      url: '/REST/contactslist',
      methods: {
        GET: ({ query }) => page(query, store.lists()),
        POST: ({ body }) => {
          const name = requiredName(objectBody(body));
          const list = store.createList(name);
          if (!list) throw alreadyExists('ContactsList', name, 'Name');
          return created([list]);
        },
      },
    },
    {
      url: '/REST/contactslist/:id',
      methods: { GET: ({ params }) => ok([listOf(store, params)]) },
    },
    {
      url: '/REST/contactslist/:id/managecontact',
      methods: {
        // Mailjet does not document this status (the SDK's unit test mocks 200). It creates a contact and
        // a list membership, and Mailjet answers 201 to the POSTs that create (POST /contact), so 201;
        // a client should accept any 2xx.
        POST: ({ params, body }) => {
          const list = listOf(store, params);
          const input = objectBody(body);
          const email = requiredEmail(input);
          const name = optionalName(input);
          const action = requiredAction(field(input, 'Action'), 'Action');
          const sentProperties = field(input, 'Properties');
          // Mailjet adds the contact but silently drops Properties sent as a JSON string (node-mailjet
          // issue 267), so a client with that bug loses data here exactly as in production.
          const properties =
            typeof sentProperties === 'string' ? undefined : optionalProperties(sentProperties);
          const problems = store.propertyProblems(properties ?? {});
          if (problems.length > 0) throw invalidProperties(problems);
          const contact = store.writeContact({ Email: email, Name: name, Properties: properties });
          store.applyListAction(contact.ID, list.ID, action);
          return created([
            {
              ContactID: contact.ID,
              Email: email,
              Action: action,
              Name: contact.Name,
              Properties: sentProperties ?? {},
            },
          ]);
        },
      },
    },
    {
      url: '/REST/contactslist/:id/managemanycontacts',
      methods: {
        POST: ({ params, body }) => {
          const list = listOf(store, params);
          const input = objectBody(body);
          const action = requiredAction(field(input, 'Action'), 'Action');
          const contacts = contactsOf(input);
          return submitted(store, takeJobFailure, contacts, [{ listId: list.ID, action }]);
        },
      },
    },
    {
      url: '/REST/contactslist/:id/managemanycontacts/:jobId',
      methods: {
        GET: ({ params }) => {
          listOf(store, params);
          return ok([jobStatus(found(store.job(numericParam(params, 'jobId'))))]);
        },
      },
    },
    {
      url: '/REST/contact',
      methods: {
        GET: ({ query }) => page(query, store.contacts().map(contactFields)),
        POST: ({ body }) => {
          const input = objectBody(body);
          const email = requiredEmail(input);
          const name = optionalName(input);
          const excluded = optionalExclusion(input);
          if (store.contact(email)) throw alreadyExists('Contact', email, 'Email');
          return created([
            contactFields(
              store.writeContact({ Email: email, Name: name, IsExcludedFromCampaigns: excluded }),
            ),
          ]);
        },
      },
    },
    {
      url: '/REST/contact/:id',
      methods: { GET: ({ params }) => ok([contactFields(contactOf(store, params))]) },
    },
    {
      url: '/REST/contact/managemanycontacts',
      methods: {
        POST: ({ body }) => {
          const input = objectBody(body);
          const lists = targetLists(store, field(input, 'ContactsLists'));
          return submitted(store, takeJobFailure, contactsOf(input), lists);
        },
      },
    },
    {
      url: '/REST/contact/managemanycontacts/:jobId',
      methods: { GET: ({ params }) => ok([jobStatus(found(store.job(numericParam(params, 'jobId'))))]) },
    },
    {
      url: '/REST/contactdata/:id',
      methods: {
        GET: ({ params }) => ok([contactData(contactOf(store, params))]),
        // PATCH semantics, as Mailjet documents for PUT: unsent properties are kept, `null` clears one.
        PUT: ({ params, body }) => {
          const contact = contactOf(store, params);
          const values = contactDataValues(objectBody(body));
          const problems = store.propertyProblems(values);
          if (problems.length > 0) throw invalidProperties(problems);
          return ok([contactData(store.writeContact({ Email: contact.Email, Properties: values }))]);
        },
      },
    },
    {
      url: '/REST/listrecipient',
      methods: {
        GET: ({ query }) => {
          const listFilter = queryValue(query, 'ContactsList');
          let listId: number | undefined;
          if (listFilter !== undefined) {
            listId = /^\d+$/.test(listFilter) ? Number(listFilter) : Number.NaN;
            if (!store.list(listId)) throw notFound();
          }
          const contactFilter = queryValue(query, 'Contact');
          let contactId: number | undefined;
          if (contactFilter !== undefined) {
            // An unknown contact is a filter that matches nothing, not a missing object.
            contactId = store.contact(contactFilter)?.ID ?? -1;
          }
          return page(query, store.recipients({ listId, contactId }));
        },
      },
    },
    {
      url: '/DATA/batchjob/:jobId/JSONError/application::json/LAST',
      methods: {
        GET: ({ params }) => ({ status: 200, body: found(store.jobFailures(numericParam(params, 'jobId'))) }),
      },
    },
  ];
}

/** Mailjet's success envelope for one page of `items`, reading `Limit` and `Offset` from the query. */
function page(query: JsonObject, items: unknown[]): Answer {
  const limit = pagingNumber(query, 'Limit', mailjetLimits.defaultLimit, 1);
  const offset = pagingNumber(query, 'Offset', 0, 0);
  // Capped rather than refused: Mailjet documents 1,000 as the most a page holds, not as an error.
  const data = items.slice(offset, offset + Math.min(limit, mailjetLimits.maxLimit));
  return { status: 200, body: { Count: data.length, Data: data, Total: items.length } };
}

function pagingNumber(query: JsonObject, name: string, fallback: number, minimum: number): number {
  const raw = queryValue(query, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < minimum) {
    throw new MailjetApiError(400, `Invalid ${name}: ${JSON.stringify(raw)} is not an integer ≥ ${minimum}`);
  }
  return Number(raw);
}

function ok(data: unknown[]): Answer {
  return { status: 200, body: { Count: data.length, Data: data, Total: data.length } };
}

function created(data: unknown[]): Answer {
  return { status: 201, body: { Count: data.length, Data: data, Total: data.length } };
}

/** Accepts a bulk request: validates the call as a whole now, each contact later in the job. */
function submitted(
  store: MailjetStore,
  takeJobFailure: () => boolean,
  contacts: unknown[],
  lists: { listId: number; action: ListAction }[],
): Answer {
  const job = store.submitJob(() => runJob(store, contacts, lists), takeJobFailure());
  return created([{ JobID: job.JobID }]);
}

function runJob(store: MailjetStore, contacts: unknown[], lists: { listId: number; action: ListAction }[]) {
  const failures: JobFailure[] = [];
  for (const raw of contacts) {
    const checked = bulkContact(store, raw);
    if (typeof checked === 'string') {
      failures.push({ Email: isObject(raw) ? (field(raw, 'Email') ?? null) : null, Error: checked });
      continue;
    }
    const contact = store.writeContact(checked);
    // A list removed since the call was accepted cannot happen here (lists are never deleted).
    for (const { listId, action } of lists) store.applyListAction(contact.ID, listId, action);
  }
  return { count: contacts.length, failures };
}

/**
 * One contact of a bulk call, or why it is refused. Unlike managecontact, Properties sent as a string
 * fail the contact: the bulk endpoints have no documented leniency to copy, and failing is the visible
 * outcome a client can act on.
 */
function bulkContact(store: MailjetStore, raw: unknown): ContactWrite | string {
  try {
    if (!isObject(raw)) return 'A contact must be a JSON object';
    const write: ContactWrite = {
      Email: requiredEmail(raw),
      Name: optionalName(raw),
      IsExcludedFromCampaigns: optionalExclusion(raw),
      Properties: optionalProperties(field(raw, 'Properties')),
    };
    const problems = store.propertyProblems(write.Properties ?? {});
    if (problems.length > 0) {
      return `Object properties invalid: ${problems.map((p) => Object.entries(p).map(([name, why]) => `${name}: ${why}`)).join('; ')}`;
    }
    return write;
  } catch (err) {
    if (!(err instanceof MailjetApiError)) throw err;
    const info = err.body.ErrorInfo;
    return typeof info === 'string' && info !== '' ? info : err.message;
  }
}

function contactsOf(input: JsonObject): unknown[] {
  const contacts = field(input, 'Contacts');
  if (!Array.isArray(contacts) || contacts.length === 0) {
    throw invalidField('Contacts', 'MJ04 Value must be a non-empty array of contacts');
  }
  if (contacts.length > mailjetLimits.contactsPerJob) {
    throw invalidField(
      'Contacts',
      `MJ04 At most ${mailjetLimits.contactsPerJob} contacts per call, got ${contacts.length}`,
    );
  }
  return contacts;
}

/** `ContactsLists` of contact/managemanycontacts: optional; each entry a known list and an action. */
function targetLists(store: MailjetStore, raw: unknown): { listId: number; action: ListAction }[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) throw invalidField('ContactsLists', 'MJ04 Value must be an array');
  return raw.map((entry, i) => {
    if (!isObject(entry)) throw invalidField(`ContactsLists[${i}]`, 'MJ04 Value must be an object');
    const listId = field(entry, 'ListID');
    const id = typeof listId === 'string' && /^\d+$/.test(listId) ? Number(listId) : listId;
    if (!Number.isSafeInteger(id))
      throw invalidField(`ContactsLists[${i}].ListID`, 'MJ04 Value must be an integer');
    const action = requiredAction(field(entry, 'Action'), `ContactsLists[${i}].Action`);
    if (!store.list(id as number)) throw notFound();
    return { listId: id as number, action };
  });
}

/** `{Data:[{Name, Value}]}`; any other top-level key gets Mailjet's answer (node-mailjet issue 293). */
function contactDataValues(input: JsonObject): JsonObject {
  for (const key of Object.keys(input)) {
    if (key.toLowerCase() !== 'data')
      throw new MailjetApiError(400, `Invalid key name: ${JSON.stringify(key)}`);
  }
  const data = field(input, 'Data');
  if (!Array.isArray(data)) throw invalidField('Data', 'MJ04 Value must be an array of {Name, Value}');
  const values: JsonObject = {};
  for (const [i, item] of data.entries()) {
    const name = isObject(item) ? field(item, 'Name') : undefined;
    const value = isObject(item) ? field(item, 'Value') : undefined;
    if (typeof name !== 'string' || name === '' || value === undefined) {
      throw invalidField(`Data[${i}]`, 'MJ04 Each item needs a Name and a Value');
    }
    values[name] = value;
  }
  return values;
}

function contactFields(contact: Contact) {
  return {
    CreatedAt: contact.CreatedAt,
    DeliveredCount: 0,
    Email: contact.Email,
    ExclusionFromCampaignsUpdatedAt: '',
    ID: contact.ID,
    IsExcludedFromCampaigns: contact.IsExcludedFromCampaigns,
    IsOptInPending: false,
    IsSpamComplaining: false,
    LastActivityAt: '',
    LastUpdateAt: contact.LastUpdateAt,
    Name: contact.Name,
    UnsubscribedAt: '',
    UnsubscribedBy: '',
  };
}

function contactData(contact: Contact) {
  return {
    ContactID: contact.ID,
    Data: Object.entries(contact.Properties).map(([Name, Value]) => ({ Name, Value })),
    ID: contact.ID,
  };
}

function jobStatus(job: BulkJob) {
  return {
    Count: job.Count,
    Error: job.Error,
    ErrorFile: job.ErrorFile,
    JobEnd: job.JobEnd,
    JobStart: job.JobStart,
    Status: job.Status,
  };
}

function listOf(store: MailjetStore, params: Record<string, string>): ContactsList {
  return found(store.list(numericParam(params, 'id')));
}

function contactOf(store: MailjetStore, params: Record<string, string>): Contact {
  return found(store.contact(param(params, 'id')));
}

function found<T>(value: T | undefined): T {
  if (value === undefined) throw notFound();
  return value;
}

function param(params: Record<string, string>, name: string): string {
  return params[name] ?? '';
}

/** A path ID that is not a number names no object: 404, like an unknown number. */
function numericParam(params: Record<string, string>, name: string): number {
  const raw = param(params, name);
  return /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
}

function objectBody(body: unknown): JsonObject {
  if (body === undefined) return {};
  if (!isObject(body)) throw invalidJson('expected a JSON object');
  return body;
}

function requiredName(input: JsonObject): string {
  const name = field(input, 'Name');
  if (typeof name !== 'string' || name === '') {
    // Mailjet's text for an empty Name (mailjet-apiv3-php#38).
    throw invalidField('Name', 'MJ04 Value must have at least length 1');
  }
  return name;
}

function optionalName(input: JsonObject): string | undefined {
  const name = field(input, 'Name');
  if (name !== undefined && typeof name !== 'string')
    throw invalidField('Name', 'MJ04 Value must be a string');
  return name;
}

function requiredEmail(input: JsonObject): string {
  const email = field(input, 'Email');
  if (email === undefined || email === '') throw invalidField('Email', 'MJ03 A non-empty value is required');
  if (typeof email !== 'string' || !emailPattern.test(email)) {
    throw invalidField('Email', 'MJ09 Value is not a valid email address');
  }
  return email;
}

function optionalExclusion(input: JsonObject): boolean | undefined {
  const excluded = field(input, 'IsExcludedFromCampaigns');
  if (excluded !== undefined && typeof excluded !== 'boolean') {
    throw invalidField('IsExcludedFromCampaigns', 'MJ04 Value must be a boolean');
  }
  return excluded;
}

/** Actions match in any casing (Mailjet's guides write `addforce` and `addForce`); answers use lower case. */
function requiredAction(raw: unknown, name: string): ListAction {
  const action = typeof raw === 'string' ? raw.toLowerCase() : raw;
  if (!listActions.includes(action as ListAction)) {
    throw invalidField(name, `MJ07 Value must be one of ${listActions.join(', ')}`);
  }
  return action as ListAction;
}

function optionalProperties(raw: unknown): JsonObject | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!isObject(raw)) throw invalidField('Properties', 'MJ04 Value must be an object of property values');
  return raw;
}

/**
 * A request field by name in any casing: Mailjet's guides mix `Value`/`value` and `Action`/`action`, and
 * clients send lower-case `email`/`properties`. When both casings are sent, the exact one wins.
 */
function field(input: JsonObject, name: string): unknown {
  if (Object.hasOwn(input, name)) return input[name];
  const lower = name.toLowerCase();
  const key = Object.keys(input).find((k) => k.toLowerCase() === lower);
  return key === undefined ? undefined : input[key];
}

function queryValue(query: JsonObject, name: string): string | undefined {
  const value = field(query, name);
  const first = Array.isArray(value) ? value[0] : value;
  return typeof first === 'string' ? first : undefined;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
