/**
 * The state of the local Mailjet account, in memory: contact properties, contacts and their values,
 * contact lists with each contact's subscription, bulk jobs, and the recent API requests. Routes change
 * it only after validating a whole write, so a refused request leaves it as it was. Tests and demos read
 * it directly (`contact(email)`, `contactsOf(listId)`, …) or over `/_local`.
 */
import { type Datatype, type NameSpace, valueFits } from './property-types.ts';

export const listActions = ['addforce', 'addnoforce', 'remove', 'unsub'] as const;
export type ListAction = (typeof listActions)[number];

export interface ContactProperty {
  ID: number;
  /** As first created: later writes may use any casing, as Mailjet matches names case-insensitively. */
  Name: string;
  Datatype: Datatype;
  NameSpace: NameSpace;
}

export interface ContactsList {
  ID: number;
  Name: string;
  CreatedAt: string;
  IsDeleted: false;
  SubscriberCount: number;
}

export interface Membership {
  ListID: number;
  IsUnsubscribed: boolean;
  /** Empty while subscribed, as in Mailjet's answers. */
  UnsubscribedAt: string;
}

/** A contact as tests and the admin routes see it: Mailjet's fields plus its values and lists. */
export interface Contact {
  ID: number;
  Email: string;
  Name: string;
  CreatedAt: string;
  LastUpdateAt: string;
  IsExcludedFromCampaigns: boolean;
  /** Set values only, under each property's own Name. */
  Properties: Record<string, unknown>;
  Lists: Membership[];
}

export interface ListRecipient {
  ID: number;
  ContactID: number;
  ListID: number;
  /** Mailjet's flag for a membership that is in force; a removed contact has no recipient at all. */
  IsActive: true;
  IsUnsubscribed: boolean;
  UnsubscribedAt: string;
}

/** One contact to create or update; already validated. `Properties` is a PATCH: `null` clears. */
export interface ContactWrite {
  Email: string;
  Name?: string;
  IsExcludedFromCampaigns?: boolean;
  Properties?: Record<string, unknown>;
}

export interface JobFailure {
  Email: unknown;
  Error: string;
}

export type JobStatus = 'In Progress' | 'Completed' | 'Error';

export interface BulkJob {
  JobID: number;
  Status: JobStatus;
  /** Contacts processed, failed ones included. */
  Count: number;
  Error: string;
  ErrorFile: string;
  JobStart: string;
  JobEnd: string;
}

/** The work of a job, run later: applies what is valid and returns the contacts that failed. */
export type JobWork = () => { count: number; failures: JobFailure[] };

export interface ApiRequestRecord {
  at: string;
  method: string;
  /** The URL as sent, query included. */
  path: string;
  /** The route it matched, e.g. `POST /v3/REST/contactslist/:id/managecontact`; `(unknown)` when none. */
  route: string;
  status: number;
  apiKey: string;
}

export interface StoreStats {
  requests: number;
  responsesByStatus: Record<string, number>;
  /** Route → status → count. */
  requestsByRoute: Record<string, Record<string, number>>;
  contacts: number;
  properties: number;
  lists: number;
  jobs: Record<JobStatus, number>;
}

export interface StoreOptions {
  /** Lists that exist from the start (and again after reset), besides list 1 (`Default list`). */
  lists?: { id: number; name: string }[];
  /**
   * How long a bulk job stays `In Progress` before it runs (default 10 ms, so a poller can see it).
   * `'manual'`: jobs wait for `runPendingJobs()`, for tests that inspect the in-progress state.
   */
  jobDelayMs?: number | 'manual';
  /** API requests kept for `/_local/requests` (default 1,000); the counters stay exact past it. */
  maxRequests?: number;
}

interface StoredContact {
  id: number;
  email: string;
  name: string;
  createdAt: string;
  lastUpdateAt: string;
  excluded: boolean;
  /** By lower-cased property name. */
  values: Map<string, unknown>;
}

interface StoredMember {
  id: number;
  unsubscribed: boolean;
  unsubscribedAt: string;
}

interface StoredList {
  id: number;
  name: string;
  createdAt: string;
  members: Map<number, StoredMember>;
}

interface StoredJob {
  job: BulkJob;
  failures: JobFailure[];
}

export class MailjetStore {
  readonly #initialLists: { id: number; name: string }[];
  readonly #jobDelayMs: number | 'manual';
  readonly #maxRequests: number;
  #state = emptyState();
  #pending = new Map<number, { run: () => void; timer?: NodeJS.Timeout }>();
  #settledWaiters: (() => void)[] = [];

  constructor(options: StoreOptions = {}) {
    const lists = options.lists ?? [];
    for (const list of lists) {
      if (!Number.isSafeInteger(list.id) || list.id < 1) {
        throw new RangeError(`A list id must be an integer ≥ 1, got ${list.id}`);
      }
    }
    this.#initialLists = [{ id: 1, name: 'Default list' }, ...lists];
    const delay = options.jobDelayMs ?? 10;
    if (delay !== 'manual' && (!Number.isInteger(delay) || delay < 0)) {
      throw new RangeError(`jobDelayMs must be an integer ≥ 0 or 'manual', got ${delay}`);
    }
    this.#jobDelayMs = delay;
    this.#maxRequests = options.maxRequests ?? 1_000;
    if (!Number.isInteger(this.#maxRequests) || this.#maxRequests < 1) {
      throw new RangeError(`maxRequests must be an integer ≥ 1, got ${this.#maxRequests}`);
    }
    this.#createInitialLists();
  }

  // Contact properties

  /** Undefined when a property of that name exists, whatever its casing. */
  defineProperty(name: string, datatype: Datatype, nameSpace: NameSpace): ContactProperty | undefined {
    const state = this.#state;
    const key = name.toLowerCase();
    if (state.properties.has(key)) return undefined;
    const property = { ID: ++state.lastPropertyId, Name: name, Datatype: datatype, NameSpace: nameSpace };
    state.properties.set(key, property);
    return { ...property };
  }

  /** By ID (all digits) or by Name, in any casing. */
  property(idOrName: string): ContactProperty | undefined {
    const found = /^\d+$/.test(idOrName)
      ? [...this.#state.properties.values()].find((p) => p.ID === Number(idOrName))
      : this.#state.properties.get(idOrName.toLowerCase());
    return found && { ...found };
  }

  properties(): ContactProperty[] {
    return [...this.#state.properties.values()].map((p) => ({ ...p }));
  }

  /**
   * What is wrong with these values, in the entries of Mailjet's `ErrorInfo.Properties`; empty when all
   * may be written. Only `static` properties can be written through contacts, so a `historic` one counts
   * as not defined here.
   */
  propertyProblems(values: Record<string, unknown>): Record<string, string>[] {
    const problems: Record<string, string>[] = [];
    for (const [name, value] of Object.entries(values)) {
      const property = this.#state.properties.get(name.toLowerCase());
      if (property?.NameSpace !== 'static') problems.push({ [name]: 'Property not defined' });
      else if (!valueFits(property.Datatype, value)) {
        problems.push({ [name]: 'Property type does not match definition' });
      }
    }
    return problems;
  }

  // Lists

  list(id: number): ContactsList | undefined {
    const list = this.#state.lists.get(id);
    return list && listView(list);
  }

  lists(): ContactsList[] {
    return [...this.#state.lists.values()].map(listView);
  }

  /** Undefined when a list of that name exists. */
  createList(name: string): ContactsList | undefined {
    const state = this.#state;
    const lower = name.toLowerCase();
    if ([...state.lists.values()].some((list) => list.name.toLowerCase() === lower)) return undefined;
    const id = Math.max(0, ...state.lists.keys()) + 1;
    const list: StoredList = { id, name, createdAt: timestamp(), members: new Map() };
    state.lists.set(id, list);
    return listView(list);
  }

  // Contacts

  /** By ID, or by email in any casing. */
  contact(idOrEmail: string | number): Contact | undefined {
    const stored = this.#find(idOrEmail);
    return stored && this.#contactView(stored);
  }

  contacts(): Contact[] {
    return [...this.#state.contacts.values()].map((c) => this.#contactView(c));
  }

  /** The contacts in a list, unsubscribed ones included (they are still in it); [] for an unknown list. */
  contactsOf(listId: number): Contact[] {
    const list = this.#state.lists.get(listId);
    if (!list) return [];
    return [...list.members.keys()].map((id) => this.#contactView(this.#byId(id)));
  }

  /**
   * Creates the contact if its email is new, then applies the write: `Name` and the exclusion flag when
   * given, and each property value (`null` removes it, unsent ones stay). The caller has validated it.
   */
  writeContact(write: ContactWrite): Contact {
    const state = this.#state;
    const now = timestamp();
    let contact = this.#find(write.Email);
    if (!contact) {
      contact = {
        id: ++state.lastContactId,
        email: write.Email,
        name: '',
        createdAt: now,
        lastUpdateAt: now,
        excluded: false,
        values: new Map(),
      };
      state.contacts.set(contact.id, contact);
      state.contactIdsByEmail.set(write.Email.toLowerCase(), contact.id);
    }
    if (write.Name !== undefined) contact.name = write.Name;
    if (write.IsExcludedFromCampaigns !== undefined) contact.excluded = write.IsExcludedFromCampaigns;
    for (const [name, value] of Object.entries(write.Properties ?? {})) {
      if (value === null) contact.values.delete(name.toLowerCase());
      else contact.values.set(name.toLowerCase(), value);
    }
    contact.lastUpdateAt = now;
    return this.#contactView(contact);
  }

  /**
   * Applies a list action as Mailjet documents it: `addforce` subscribes (clearing an unsubscription),
   * `addnoforce` adds but keeps an existing subscription status, `remove` takes the contact out of the
   * list, `unsub` keeps it in the list as unsubscribed.
   */
  applyListAction(contactId: number, listId: number, action: ListAction): void {
    const list = this.#state.lists.get(listId);
    if (!list || !this.#state.contacts.has(contactId)) {
      throw new RangeError(`No list ${listId} or contact ${contactId}`);
    }
    const member = list.members.get(contactId);
    const subscribed = () => ({
      id: member?.id ?? ++this.#state.lastRecipientId,
      unsubscribed: false,
      unsubscribedAt: '',
    });
    switch (action) {
      case 'addforce':
        list.members.set(contactId, subscribed());
        break;
      case 'addnoforce':
        if (!member) list.members.set(contactId, subscribed());
        break;
      case 'remove':
        list.members.delete(contactId);
        break;
      case 'unsub':
        if (member?.unsubscribed) break;
        list.members.set(contactId, { ...subscribed(), unsubscribed: true, unsubscribedAt: timestamp() });
        break;
    }
  }

  /** List memberships, optionally only one list's and/or one contact's, in list then join order. */
  recipients(filter: { listId?: number; contactId?: number } = {}): ListRecipient[] {
    const recipients: ListRecipient[] = [];
    for (const list of this.#state.lists.values()) {
      if (filter.listId !== undefined && list.id !== filter.listId) continue;
      for (const [contactId, member] of list.members) {
        if (filter.contactId !== undefined && contactId !== filter.contactId) continue;
        recipients.push({
          ID: member.id,
          ContactID: contactId,
          ListID: list.id,
          IsActive: true,
          IsUnsubscribed: member.unsubscribed,
          UnsubscribedAt: member.unsubscribedAt,
        });
      }
    }
    return recipients;
  }

  // Bulk jobs

  /**
   * Records a job `In Progress` and runs `work` later, as Mailjet runs bulk imports after answering.
   * With `injectedFailure` the job ends in `Error` without running, so nothing is stored.
   */
  submitJob(work: JobWork, injectedFailure = false): BulkJob {
    const state = this.#state;
    const stored: StoredJob = {
      job: {
        JobID: ++state.lastJobId,
        Status: 'In Progress',
        Count: 0,
        Error: '',
        ErrorFile: '',
        JobStart: timestamp(),
        JobEnd: '',
      },
      failures: [],
    };
    state.jobs.set(stored.job.JobID, stored);
    const run = () => {
      this.#pending.delete(stored.job.JobID);
      finish(stored, injectedFailure ? 'failed' : work());
      if (this.#pending.size === 0) this.#notifySettled();
    };
    const entry: { run: () => void; timer?: NodeJS.Timeout } = { run };
    if (this.#jobDelayMs !== 'manual') {
      // Not unref'd: a test awaiting jobsSettled() needs the timer to hold the process open. The app
      // cancels waiting jobs when it closes, so a stopped server leaves none behind.
      entry.timer = setTimeout(run, this.#jobDelayMs);
    }
    this.#pending.set(stored.job.JobID, entry);
    return { ...stored.job };
  }

  job(jobId: number): BulkJob | undefined {
    const stored = this.#state.jobs.get(jobId);
    return stored && { ...stored.job };
  }

  /** The contacts a job refused, with why; undefined for an unknown job. */
  jobFailures(jobId: number): JobFailure[] | undefined {
    return this.#state.jobs.get(jobId)?.failures.map((failure) => ({ ...failure }));
  }

  /** Runs every job still waiting, now. */
  runPendingJobs(): void {
    for (const entry of [...this.#pending.values()]) {
      clearTimeout(entry.timer);
      entry.run();
    }
  }

  /** Resolves once no job is waiting (at once when none is); with `'manual'` jobs, after runPendingJobs. */
  jobsSettled(): Promise<void> {
    if (this.#pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#settledWaiters.push(resolve));
  }

  /** Drops waiting jobs without running them, e.g. when the server closes. */
  cancelPendingJobs(): void {
    for (const entry of this.#pending.values()) clearTimeout(entry.timer);
    this.#pending.clear();
    this.#notifySettled();
  }

  // Requests

  recordRequest(record: Omit<ApiRequestRecord, 'at'>): void {
    const state = this.#state;
    state.requests.push({ at: new Date().toISOString(), ...record });
    if (state.requests.length > this.#maxRequests) state.requests.shift();
    state.requestCount += 1;
    increment(state.responsesByStatus, String(record.status));
    state.requestsByRoute[record.route] ??= {};
    increment(state.requestsByRoute[record.route] as Record<string, number>, String(record.status));
  }

  /** The newest `limit` API requests, oldest first. */
  requests(limit = 100): ApiRequestRecord[] {
    return limit <= 0 ? [] : this.#state.requests.slice(-limit).map((r) => ({ ...r }));
  }

  stats(): StoreStats {
    const state = this.#state;
    const jobs: Record<JobStatus, number> = { 'In Progress': 0, Completed: 0, Error: 0 };
    for (const { job } of state.jobs.values()) jobs[job.Status] += 1;
    return {
      requests: state.requestCount,
      responsesByStatus: { ...state.responsesByStatus },
      requestsByRoute: structuredClone(state.requestsByRoute),
      contacts: state.contacts.size,
      properties: state.properties.size,
      lists: state.lists.size,
      jobs,
    };
  }

  /**
   * Forgets contacts, properties, jobs (waiting ones are dropped) and requests; lists go back to the
   * ones configured at start, empty. IDs start again from 1, as in a new Mailjet account.
   */
  reset(): void {
    this.cancelPendingJobs();
    this.#state = emptyState();
    this.#createInitialLists();
  }

  #createInitialLists(): void {
    const now = timestamp();
    for (const { id, name } of this.#initialLists) {
      this.#state.lists.set(id, { id, name, createdAt: now, members: new Map() });
    }
  }

  #find(idOrEmail: string | number): StoredContact | undefined {
    const state = this.#state;
    if (typeof idOrEmail === 'number' || /^\d+$/.test(idOrEmail))
      return state.contacts.get(Number(idOrEmail));
    const id = state.contactIdsByEmail.get(idOrEmail.toLowerCase());
    return id === undefined ? undefined : state.contacts.get(id);
  }

  #byId(id: number): StoredContact {
    const contact = this.#state.contacts.get(id);
    if (!contact) throw new RangeError(`No contact ${id}`);
    return contact;
  }

  #contactView(contact: StoredContact): Contact {
    const state = this.#state;
    const properties: Record<string, unknown> = {};
    for (const [key, value] of contact.values) properties[state.properties.get(key)?.Name ?? key] = value;
    const lists: Membership[] = [];
    for (const list of state.lists.values()) {
      const member = list.members.get(contact.id);
      if (member) {
        lists.push({
          ListID: list.id,
          IsUnsubscribed: member.unsubscribed,
          UnsubscribedAt: member.unsubscribedAt,
        });
      }
    }
    return {
      ID: contact.id,
      Email: contact.email,
      Name: contact.name,
      CreatedAt: contact.createdAt,
      LastUpdateAt: contact.lastUpdateAt,
      IsExcludedFromCampaigns: contact.excluded,
      Properties: properties,
      Lists: lists,
    };
  }

  #notifySettled(): void {
    const waiters = this.#settledWaiters;
    this.#settledWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

/** Where a job's per-contact errors are served, as Mailjet's `ErrorFile` points to them. */
export function jobErrorFilePath(jobId: number): string {
  return `/v3/DATA/batchjob/${jobId}/JSONError/application:json/LAST`;
}

function finish(stored: StoredJob, outcome: 'failed' | { count: number; failures: JobFailure[] }): void {
  const { job } = stored;
  job.JobEnd = timestamp();
  if (outcome === 'failed') {
    job.Status = 'Error';
    job.Error = 'Internal error';
    return;
  }
  job.Count = outcome.count;
  stored.failures = outcome.failures;
  if (outcome.failures.length === 0) {
    job.Status = 'Completed';
    return;
  }
  job.Status = 'Error';
  job.Error = `${outcome.failures.length} of ${outcome.count} contacts were refused; the others were stored. See ErrorFile.`;
  job.ErrorFile = jobErrorFilePath(job.JobID);
}

function emptyState() {
  return {
    properties: new Map<string, ContactProperty>(),
    lists: new Map<number, StoredList>(),
    contacts: new Map<number, StoredContact>(),
    contactIdsByEmail: new Map<string, number>(),
    jobs: new Map<number, StoredJob>(),
    requests: [] as ApiRequestRecord[],
    requestCount: 0,
    responsesByStatus: {} as Record<string, number>,
    requestsByRoute: {} as Record<string, Record<string, number>>,
    lastPropertyId: 0,
    lastContactId: 0,
    lastRecipientId: 0,
    lastJobId: 0,
  };
}

function listView(list: StoredList): ContactsList {
  return {
    ID: list.id,
    Name: list.name,
    CreatedAt: list.createdAt,
    IsDeleted: false,
    SubscriberCount: [...list.members.values()].filter((m) => !m.unsubscribed).length,
  };
}

/** Mailjet writes times as RFC 3339 in UTC, to the second. */
export function timestamp(date = new Date()): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function increment(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}
