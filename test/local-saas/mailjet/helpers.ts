import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import type { TestContext } from 'node:test';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildMailjetApp } from '../../../local-saas/mailjet/app.ts';
import { FaultInjector, type FaultInjectorOptions } from '../../../local-saas/mailjet/faults.ts';
import { MailjetStore, type StoreOptions } from '../../../local-saas/mailjet/store.ts';

export const apiKey = 'mj_test_public_key';
export const apiSecret = 'mj_test_secret_key';
export const credentials = [
  { apiKey, apiSecret },
  { apiKey: 'mj_subaccount_key', apiSecret: 'mj_subaccount_secret' },
];

export function basicAuth(key: string, secret: string): string {
  return `Basic ${Buffer.from(`${key}:${secret}`).toString('base64')}`;
}

export interface TestMailjet {
  app: FastifyInstance;
  store: MailjetStore;
  faults: FaultInjector;
  /** Sends a JSON body (if any) with our key pair, unless headers say otherwise. */
  call(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH',
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<LightMyRequestResponse>;
  /** Defines static properties through the API, as a user would. */
  define(properties: Record<string, string>): Promise<void>;
}

/** A Mailjet app that never listens, closed when the test ends. Jobs wait for runPendingJobs() by default. */
export function testMailjet(
  t: TestContext,
  options: { store?: StoreOptions; faults?: FaultInjectorOptions; storeInstance?: MailjetStore } = {},
): TestMailjet {
  const store = options.storeInstance ?? new MailjetStore({ jobDelayMs: 'manual', ...options.store });
  const faults = new FaultInjector(options.faults);
  const app = buildMailjetApp({ credentials, store, faults });
  t.after(() => app.close());
  const call: TestMailjet['call'] = (method, path, body, headers = {}) =>
    app.inject({
      method,
      url: path,
      headers: {
        'content-type': 'application/json',
        authorization: basicAuth(apiKey, apiSecret),
        ...headers,
      },
      ...(body === undefined ? {} : { payload: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
  const define = async (properties: Record<string, string>) => {
    for (const [Name, Datatype] of Object.entries(properties)) {
      const res = await call('POST', '/v3/REST/contactmetadata', { Name, Datatype });
      assert.equal(res.statusCode, 201, res.body);
    }
  };
  return { app, store, faults, call, define };
}
