/**
 * Writes contact updates into the configured Mailjet list: creates the properties Mailjet does not know
 * yet (once, with the type of the first value seen), fits every value to its property's type, then
 * upserts each contact with `managecontact`, or many at once with a `managemanycontacts` job. A contact
 * Mailjet refuses (or whose value cannot fit a property) comes back as rejected with the reason, for the
 * dead-letter topic; anything that may pass on a retry throws, so the caller commits nothing.
 */
import { setTimeout as sleepMs } from 'node:timers/promises';
import { quoteForReason } from '../core/dead-letter.ts';
import { ConnectorError, type ErrorCode, isRetriable } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { fullJitterDelay } from '../core/saas-http.ts';
import {
  type ContactUpdate,
  fitValue,
  inferDatatype,
  type MailjetDatatype,
  mergeUpdates,
  type PropertyValue,
} from './contact-mapping.ts';
import type { ContactAction, MailjetClient, MailjetProperty, MailjetRefusal } from './mailjet-client.ts';

/**
 * Contacts per bulk job. Mailjet documents no limit; 5,000 is what another Mailjet destination settled
 * on by trial (RudderStack's), and what the local Mailjet server enforces.
 */
export const MAX_CONTACTS_PER_JOB = 5000;

const FIRST_POLL_MS = 50;

export interface Rejection<T> {
  item: T;
  code: Extract<ErrorCode, 'MAILJET_REJECTED' | 'PROPERTY_TYPE_MISMATCH'>;
  message: string;
}

export interface WriteReport<T> {
  upserted: T[];
  rejected: Rejection<T>[];
}

export interface ContactWriter {
  /**
   * Checks the list and reads the account's properties, waiting as long as Mailjet fails in a way a
   * retry may fix (until `signal` aborts); fails with a clear error when the list is missing.
   */
  start(signal?: AbortSignal): Promise<void>;
  /**
   * Writes identify calls in their order (several may be of one contact): each call's values are fitted
   * on their own, so a call that does not fit is rejected alone; the calls of one contact that fit are
   * then one write, later values winning, as if they were sent one by one. Every call comes back as
   * upserted or rejected.
   */
  write<T extends { update: ContactUpdate }>(items: T[], signal?: AbortSignal): Promise<WriteReport<T>>;
  /** Properties known to exist in Mailjet (read at start, created since). */
  knownProperties(): number;
}

export interface ContactWriterOptions {
  client: MailjetClient;
  listId: number;
  action: ContactAction;
  /** From this many contacts in one write, a bulk job is used instead of one request per contact. */
  bulkMinContacts: number;
  /** Longest interval between two polls of a bulk job. */
  jobPollMs: number;
  /** Backoff of `start` after an answer flagged retriable (the client waits out 429s, 5xx and timeouts). */
  retry?: { initialDelayMs?: number; maxDelayMs?: number };
  logger: Logger;
  onPropertyCreated?: (datatype: MailjetDatatype) => void;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<unknown>;
}

export function createContactWriter(options: ContactWriterOptions): ContactWriter {
  const { client, listId, action, logger } = options;
  const sleep = options.sleep ?? ((ms: number, signal?: AbortSignal) => sleepMs(ms, undefined, { signal }));
  const log = logger.child({ component: 'contact-writer', listId });
  /** By lower-case name: Mailjet matches property names regardless of case. */
  const catalogue = new Map<string, MailjetProperty>();
  const remember = (property: MailjetProperty) => catalogue.set(property.name.toLowerCase(), property);
  /**
   * Names Mailjet refused to create (a 400 other than "exists"), with its answer. A contact naming one
   * is dead-lettered instead of retried: a retry gets the same answer, and the partition would stall.
   */
  const refusedNames = new Map<string, string>();
  // Batches of several partitions run at once and often name the same new property: one at a time
  // here, so a property is created once instead of once per batch (the others got 400 "exists").
  let propertyWork: Promise<unknown> = Promise.resolve();
  const ensurePropertiesInTurn = (updates: ContactUpdate[], signal?: AbortSignal): Promise<void> => {
    const turn = propertyWork.then(() => ensureProperties(updates, signal));
    propertyWork = turn.catch(() => {});
    return turn;
  };

  /** Creates every property the updates name that Mailjet does not have; typed by its first non-null value. */
  async function ensureProperties(updates: ContactUpdate[], signal?: AbortSignal): Promise<void> {
    const wanted = new Map<string, MailjetDatatype>();
    for (const update of updates) {
      for (const [name, value] of Object.entries(update.properties)) {
        const key = name.toLowerCase();
        if (catalogue.has(key) || wanted.has(key) || refusedNames.has(key)) continue;
        const datatype = inferDatatype(value);
        if (datatype) wanted.set(key, datatype);
      }
    }
    for (const [name, datatype] of wanted) {
      const created = await client.createProperty(name, datatype, signal);
      if ('id' in created) {
        remember(created);
        options.onPropertyCreated?.(datatype);
        log.info({ property: name, datatype }, 'contact property created');
        continue;
      }
      // Most likely another instance created it a moment ago: read the catalogue again.
      log.info({ property: name, answer: created.message }, 'property not created; reading properties again');
      for (const property of await client.properties(signal)) remember(property);
      if (!catalogue.has(name)) {
        const message = `Mailjet refused to create the contact property "${name}" (${datatype}): ${refusalText(created)}`;
        log.warn({ property: name, answer: created.message }, message);
        refusedNames.set(name, message);
      }
    }
  }

  /** The update with each value fitted to its property's type and named as Mailjet names it; or why not. */
  function fit(update: ContactUpdate): ContactUpdate | Omit<Rejection<never>, 'item'> {
    const properties: Record<string, PropertyValue> = {};
    const misfits: string[] = [];
    for (const [name, value] of Object.entries(update.properties)) {
      const refused = refusedNames.get(name.toLowerCase());
      if (refused !== undefined) return { code: 'MAILJET_REJECTED', message: refused };
      const property = catalogue.get(name.toLowerCase());
      // Only null values name an unknown property: there is nothing to clear.
      if (!property) continue;
      const fitted = fitValue(value, property.datatype);
      if (fitted === undefined)
        misfits.push(`${property.name} is ${property.datatype}, got ${quoteForReason(value)}`);
      else properties[property.name] = fitted;
    }
    if (misfits.length > 0) {
      return {
        code: 'PROPERTY_TYPE_MISMATCH',
        message: `Values do not fit the Mailjet property types: ${misfits.join('; ')}.`,
      };
    }
    return { ...update, properties };
  }

  async function upsertOneByOne<T extends { update: ContactUpdate }>(
    contacts: ContactWrite<T>[],
    report: WriteReport<T>,
    signal?: AbortSignal,
  ): Promise<void> {
    for (const { calls, contact } of contacts) {
      const refused = await client.manageContact(listId, action, contact, signal);
      if (refused?.status === 404) throw listMissing(listId, refused);
      if (!refused) report.upserted.push(...calls);
      else {
        const message = refusalText(refused);
        for (const item of calls) report.rejected.push({ item, code: 'MAILJET_REJECTED', message });
      }
    }
  }

  /**
   * One job for many contacts. A job that fails says little about which contact failed, so its
   * contacts are sent again one by one: upserts are idempotent, and each refusal then has its reason.
   */
  async function upsertInBulk<T extends { update: ContactUpdate }>(
    items: ContactWrite<T>[],
    report: WriteReport<T>,
    signal?: AbortSignal,
  ): Promise<void> {
    const jobId = await client.manageManyContacts(
      listId,
      action,
      items.map(({ contact }) => contact),
      signal,
    );
    if (typeof jobId === 'number') {
      // A small job is done in well under a second: polling at once and every second would make each
      // batch wait a whole interval. Start soon after the job and back off to the longest interval.
      for (
        let pollMs = Math.min(FIRST_POLL_MS, options.jobPollMs);
        ;
        pollMs = Math.min(pollMs * 2, options.jobPollMs)
      ) {
        await sleep(pollMs, signal);
        const job = await client.bulkJob(listId, jobId, signal);
        if (job.status === 'completed') {
          for (const { calls } of items) report.upserted.push(...calls);
          return;
        }
        if (job.status === 'error') {
          log.warn(
            { jobId, error: job.error, contacts: items.length },
            'bulk job failed; sending its contacts one by one',
          );
          break;
        }
      }
    } else if (jobId.status === 404) {
      throw listMissing(listId, jobId);
    } else {
      log.warn(
        { answer: jobId.message, contacts: items.length },
        'bulk request refused; sending its contacts one by one',
      );
    }
    await upsertOneByOne(items, report, signal);
  }

  async function readListAndProperties(signal?: AbortSignal): Promise<void> {
    const list = await client.contactList(listId, signal);
    if ('status' in list) {
      if (list.status === 404) throw listMissing(listId, list);
      throw new ConnectorError(
        'MAILJET_UNAVAILABLE',
        `Mailjet answered ${list.status} to reading contact list ${listId}: ${list.message}`,
      );
    }
    for (const property of await client.properties(signal)) remember(property);
    log.info({ list: list.name, properties: catalogue.size }, 'Mailjet list and properties read');
  }

  return {
    async start(signal) {
      // What the retriable flag says, a start-up does too: it waits, as a running worker would retry the
      // batch, instead of exiting into an orchestrator's restart loop.
      const delays = { initialDelayMs: 1000, maxDelayMs: 30_000, ...options.retry };
      for (let failures = 0; ; failures++) {
        try {
          return await readListAndProperties(signal);
        } catch (err) {
          if (!isRetriable(err) || signal?.aborted) throw err;
          const delayMs = fullJitterDelay(failures, delays);
          log.warn({ err, delayMs }, 'start-up: Mailjet did not answer as expected; reading the list again');
          await sleep(delayMs, signal);
        }
      }
    },
    async write(items, signal) {
      const report: WriteReport<(typeof items)[number]> = { upserted: [], rejected: [] };
      if (items.length === 0) return report;
      await ensurePropertiesInTurn(
        items.map(({ update }) => update),
        signal,
      );
      // Fitted call by call, before they are folded: folded first, a call that does not fit would take
      // its contact's other calls with it, and one whose value a later call replaces would pass unseen.
      const fitting: { update: ContactUpdate; origin: (typeof items)[number] }[] = [];
      for (const item of items) {
        const contact = fit(item.update);
        if ('code' in contact) report.rejected.push({ item, ...contact });
        else fitting.push({ update: contact, origin: item });
      }
      const ready = mergeUpdates(fitting).map(({ update, origins }) => ({ calls: origins, contact: update }));
      if (ready.length < options.bulkMinContacts) await upsertOneByOne(ready, report, signal);
      else {
        for (let start = 0; start < ready.length; start += MAX_CONTACTS_PER_JOB) {
          await upsertInBulk(ready.slice(start, start + MAX_CONTACTS_PER_JOB), report, signal);
        }
      }
      return report;
    },
    knownProperties: () => catalogue.size,
  };
}

/** One contact's write: the calls folded into it, all upserted or all rejected with it. */
interface ContactWrite<T> {
  calls: T[];
  contact: ContactUpdate;
}

function refusalText(refusal: MailjetRefusal): string {
  return `Mailjet answered ${refusal.status}: ${refusal.message}`;
}

/** The list vanished (or never was): every contact would fail the same way, so the worker stops. */
function listMissing(listId: number, refusal: MailjetRefusal): ConnectorError {
  return new ConnectorError(
    'MAILJET_LIST_NOT_FOUND',
    `Mailjet has no contact list ${listId}: ${refusal.message}`,
  );
}
