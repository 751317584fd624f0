/**
 * The one module that talks to Mailjet's REST API v3 (contact lists, contacts, contact properties).
 * Our own small client over fetch rather than node-mailjet: node-mailjet hard-codes `https://` (a local
 * server cannot be reached without patching a static), retries nothing on 429 or 5xx, and brings axios;
 * what we need is six calls with one retry policy.
 *
 * Policy, per answer:
 * - 2xx: done. 400 and 404: returned to the caller, who knows what they mean for its call.
 * - 401, 403: the key pair is wrong; MAILJET_AUTH_FAILED (not retriable), the process stops.
 * - 429 (an HTML page without Retry-After), 408, 5xx, timeouts, no connection: back off with full
 *   jitter, doubling from 1 s up to `maxDelayMs`, until Mailjet takes it or the caller aborts. The
 *   consumer does not commit meanwhile: back-pressure instead of buffering.
 * Every request first takes a token of a per-process bucket, so a batch never bursts past the rate.
 */
import { setTimeout as sleepMs } from 'node:timers/promises';
import { deadline } from '../core/deadline.ts';
import { ConnectorError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { answerExcerpt, fullJitterDelay } from '../core/saas-http.ts';
import { createTokenBucket } from '../core/token-bucket.ts';
import type { ContactUpdate, MailjetDatatype, PropertyValue } from './contact-mapping.ts';

export interface MailjetClientOptions {
  /** Scheme and host, e.g. https://api.mailjet.com or the local server's URL. */
  baseUrl: string;
  apiKey: string;
  apiSecret: string;
  logger: Logger;
  maxRequestsPerSecond?: number;
  requestTimeoutMs?: number;
  retry?: { initialDelayMs?: number; maxDelayMs?: number };
  onRequest?: (operation: string, status: number | 'error', seconds: number) => void;
  fetch?: typeof globalThis.fetch;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<unknown>;
  random?: () => number;
}

export interface MailjetProperty {
  id: number;
  name: string;
  datatype: MailjetDatatype;
}

export type ContactAction = 'addforce' | 'addnoforce' | 'remove' | 'unsub';

/** A refusal Mailjet explains (400, 404): the caller decides whether it dead-letters or stops. */
export interface MailjetRefusal {
  status: number;
  message: string;
}

export interface BulkJob {
  status: 'pending' | 'completed' | 'error';
  error?: string;
}

export interface MailjetClient {
  /** Every contact property of the account (all pages). */
  properties(signal?: AbortSignal): Promise<MailjetProperty[]>;
  /** Creates a static property; a refusal when Mailjet says no (e.g. it exists already). */
  createProperty(
    name: string,
    datatype: MailjetDatatype,
    signal?: AbortSignal,
  ): Promise<MailjetProperty | MailjetRefusal>;
  /** The list's name, or a refusal (404: no such list). */
  contactList(listId: number, signal?: AbortSignal): Promise<{ name: string } | MailjetRefusal>;
  manageContact(
    listId: number,
    action: ContactAction,
    contact: ContactUpdate,
    signal?: AbortSignal,
  ): Promise<undefined | MailjetRefusal>;
  /** Starts a bulk job; resolves with its id. */
  manageManyContacts(
    listId: number,
    action: ContactAction,
    contacts: ContactUpdate[],
    signal?: AbortSignal,
  ): Promise<number | MailjetRefusal>;
  bulkJob(listId: number, jobId: number, signal?: AbortSignal): Promise<BulkJob>;
}

type Answer = { status: number; body: unknown; text: string };

export function createMailjetClient(options: MailjetClientOptions): MailjetClient {
  const {
    logger,
    onRequest,
    requestTimeoutMs = 30_000,
    fetch: fetchFn = globalThis.fetch,
    sleep = (ms: number, signal?: AbortSignal) => sleepMs(ms, undefined, { signal }),
    random = Math.random,
  } = options;
  const { initialDelayMs = 1000, maxDelayMs = 30_000 } = options.retry ?? {};
  const base = `${options.baseUrl.replace(/\/+$/, '')}/v3/REST`;
  const headers = {
    authorization: `Basic ${Buffer.from(`${options.apiKey}:${options.apiSecret}`).toString('base64')}`,
    'content-type': 'application/json',
    accept: 'application/json',
    'user-agent': 'mailjet-connector',
  };
  const bucket = createTokenBucket(options.maxRequestsPerSecond ?? 10);
  const log = logger.child({ component: 'mailjet-client' });

  async function attempt(
    operation: string,
    method: string,
    path: string,
    body: unknown,
    signal: AbortSignal | undefined,
  ): Promise<Answer | { error: unknown }> {
    await bucket.take(1, signal);
    const timeout = deadline(requestTimeoutMs);
    const started = performance.now();
    try {
      const response = await fetchFn(`${base}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: signal ? AbortSignal.any([signal, timeout.signal]) : timeout.signal,
      });
      const text = await response.text();
      onRequest?.(operation, response.status, (performance.now() - started) / 1000);
      return { status: response.status, body: parseJson(text), text };
    } catch (err) {
      onRequest?.(operation, 'error', (performance.now() - started) / 1000);
      if (signal?.aborted) throw signal.reason;
      return {
        error: timeout.expired()
          ? new Error(`No answer within ${requestTimeoutMs} ms.`, { cause: err })
          : err,
      };
    } finally {
      timeout.release();
    }
  }

  /** Sends until Mailjet answers something other than "try later"; see the policy above. */
  async function call(
    operation: string,
    method: string,
    path: string,
    body?: unknown,
    signal?: AbortSignal,
  ): Promise<Answer> {
    for (let failures = 0; ; failures++) {
      signal?.throwIfAborted();
      const answer = await attempt(operation, method, path, body, signal);
      if (!('error' in answer)) {
        const { status } = answer;
        if (status === 401 || status === 403) {
          throw new ConnectorError(
            'MAILJET_AUTH_FAILED',
            `Mailjet (${base}) answered ${status} to ${operation}: ${errorMessageOf(answer)}`,
          );
        }
        if (status !== 429 && status !== 408 && status < 500) return answer;
      }
      const delayMs = fullJitterDelay(failures, { initialDelayMs, maxDelayMs }, random);
      log.warn(
        'error' in answer
          ? { err: answer.error, operation, delayMs }
          : { status: answer.status, operation, delayMs, answer: excerpt(answer.text) },
        'Mailjet did not take the request; retrying',
      );
      try {
        await sleep(delayMs, signal);
      } catch (err) {
        throw signal?.aborted ? signal.reason : err;
      }
    }
  }

  const refusal = (answer: Answer): MailjetRefusal => ({
    status: answer.status,
    message: errorMessageOf(answer),
  });

  return {
    async properties(signal) {
      const all: MailjetProperty[] = [];
      const limit = 1000;
      for (let offset = 0; ; offset += limit) {
        const answer = await call(
          'list-properties',
          'GET',
          `/contactmetadata?Limit=${limit}&Offset=${offset}`,
          undefined,
          signal,
        );
        if (answer.status >= 300) throw unexpected('list-properties', answer);
        const data = dataOf(answer);
        for (const item of data) all.push(propertyOf(item));
        if (data.length < limit) return all;
      }
    },
    async createProperty(name, datatype, signal) {
      const answer = await call(
        'create-property',
        'POST',
        '/contactmetadata',
        { Name: name, Datatype: datatype, NameSpace: 'static' },
        signal,
      );
      if (answer.status >= 300) return refusal(answer);
      const [item] = dataOf(answer);
      return propertyOf(item);
    },
    async contactList(listId, signal) {
      const answer = await call('get-list', 'GET', `/contactslist/${listId}`, undefined, signal);
      if (answer.status >= 300) return refusal(answer);
      const [item] = dataOf(answer);
      return { name: String((item as { Name?: unknown } | undefined)?.Name ?? '') };
    },
    async manageContact(listId, action, contact, signal) {
      const answer = await call(
        'managecontact',
        'POST',
        `/contactslist/${listId}/managecontact`,
        { Action: action, ...contactBody(contact) },
        signal,
      );
      return answer.status >= 300 ? refusal(answer) : undefined;
    },
    async manageManyContacts(listId, action, contacts, signal) {
      const answer = await call(
        'managemanycontacts',
        'POST',
        `/contactslist/${listId}/managemanycontacts`,
        { Action: action, Contacts: contacts.map(contactBody) },
        signal,
      );
      if (answer.status >= 300) return refusal(answer);
      const [item] = dataOf(answer);
      const jobId = (item as { JobID?: unknown } | undefined)?.JobID;
      if (typeof jobId !== 'number') throw unexpected('managemanycontacts', answer);
      return jobId;
    },
    async bulkJob(listId, jobId, signal) {
      const answer = await call(
        'bulk-job',
        'GET',
        `/contactslist/${listId}/managemanycontacts/${jobId}`,
        undefined,
        signal,
      );
      if (answer.status >= 300) throw unexpected('bulk-job', answer);
      const [item] = dataOf(answer) as { Status?: unknown; Error?: unknown }[];
      const status = String(item?.Status ?? '');
      if (status === 'Completed') return { status: 'completed' };
      // The guide lists Error and Abort as the ends of a failed job; everything else is still running.
      if (status === 'Error' || status === 'Abort') {
        return { status: 'error', error: String(item?.Error ?? '') || status };
      }
      return { status: 'pending' };
    },
  };
}

function contactBody(contact: ContactUpdate): {
  Email: string;
  Name?: string;
  Properties: Record<string, PropertyValue>;
} {
  return {
    Email: contact.email,
    ...(contact.name === undefined ? {} : { Name: contact.name }),
    Properties: contact.properties,
  };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function dataOf(answer: Answer): unknown[] {
  const data = (answer.body as { Data?: unknown } | undefined)?.Data;
  return Array.isArray(data) ? data : [];
}

function propertyOf(item: unknown): MailjetProperty {
  const { ID, Name, Datatype } = (item ?? {}) as { ID?: unknown; Name?: unknown; Datatype?: unknown };
  return { id: Number(ID), name: String(Name), datatype: String(Datatype) as MailjetDatatype };
}

/** Mailjet's error body: ErrorMessage, with ErrorInfo when it says which field or property. */
function errorMessageOf(answer: Answer): string {
  const body = answer.body as { ErrorMessage?: unknown; ErrorInfo?: unknown } | undefined;
  if (!body || typeof body !== 'object') return excerpt(answer.text);
  const message =
    typeof body.ErrorMessage === 'string' ? body.ErrorMessage : JSON.stringify(body.ErrorMessage);
  const info =
    body.ErrorInfo === undefined || body.ErrorInfo === ''
      ? ''
      : ` (${typeof body.ErrorInfo === 'string' ? body.ErrorInfo : JSON.stringify(body.ErrorInfo)})`;
  return `${message}${info}`;
}

function unexpected(operation: string, answer: Answer): ConnectorError {
  return new ConnectorError(
    'MAILJET_UNAVAILABLE',
    `Mailjet answered ${operation} with ${answer.status} and a body this client does not understand: ${excerpt(answer.text)}`,
  );
}

function excerpt(text: string): string {
  return answerExcerpt(text, 300);
}
