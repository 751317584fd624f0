/**
 * Inspection and control of the local Mailjet server, mounted under `/_local`: Mailjet's own paths all
 * start with `/v3/`, so nothing here can shadow them. These routes are not authenticated: the server is
 * for demos and tests on one machine, listens on loopback by default, and holds no real data.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { type FaultInjector, parseFaultSettings } from './faults.ts';
import type { MailjetStore } from './store.ts';

export interface AdminOptions {
  store: MailjetStore;
  faults: FaultInjector;
}

const limitQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 100_000, default: 100 }),
});

const contactsQuery = Type.Object({
  list: Type.Optional(Type.Integer({ minimum: 1, description: 'Only the contacts in this list.' })),
});

export async function adminRoutes(admin: FastifyInstance, { store, faults }: AdminOptions): Promise<void> {
  admin.get('/stats', async () => store.stats());

  admin.get('/contacts', { schema: { querystring: contactsQuery } }, async (request, reply) => {
    const { list } = request.query as { list?: number };
    if (list === undefined) return { contacts: store.contacts() };
    if (!store.list(list)) {
      return reply.code(404).send({ ErrorInfo: '', ErrorMessage: `No list ${list}`, StatusCode: 404 });
    }
    return { contacts: store.contactsOf(list) };
  });

  admin.get('/properties', async () => ({ properties: store.properties() }));

  admin.get('/lists', async () => ({ lists: store.lists() }));

  admin.get('/requests', { schema: { querystring: limitQuery } }, async (request) => {
    const { limit } = request.query as { limit: number };
    return { requests: store.requests(limit) };
  });

  /**
   * Forgets contacts, properties, jobs and requests, and empties the lists, which go back to those
   * configured at start. Key pairs and faults stay (DELETE /_local/faults clears those): they are the
   * setup of a test run, not what it produced.
   */
  admin.post('/reset', async () => {
    store.reset();
    return store.stats();
  });

  admin.get('/faults', async () => faults.state());

  // Validated by hand rather than by a route schema: fastify's validator drops unknown properties
  // silently, and a typo such as "latency" must be an error here, not a fault that never happens.
  admin.post('/faults', async (request, reply) => {
    try {
      return faults.set(parseFaultSettings(request.body ?? {}));
    } catch (err) {
      return reply
        .code(400)
        .send({ ErrorInfo: 'invalid_faults', ErrorMessage: (err as Error).message, StatusCode: 400 });
    }
  });

  admin.delete('/faults', async () => {
    faults.clear();
    return faults.state();
  });
}
