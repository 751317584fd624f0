/**
 * Inspection and control of the local Segment server, mounted under `/_local`: Segment's own paths all
 * start with `/v1/`, so nothing here can shadow them. These routes are not authenticated: the server
 * is for demos and tests on one machine, listens on loopback by default, and holds no real data.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { type FaultInjector, parseFaultSettings } from './faults.ts';
import type { SegmentRecorder } from './recorder.ts';

export interface AdminOptions {
  recorder: SegmentRecorder;
  faults: FaultInjector;
}

const limitQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 100_000, default: 100 }),
});

export async function adminRoutes(admin: FastifyInstance, { recorder, faults }: AdminOptions): Promise<void> {
  admin.get('/stats', async () => recorder.stats());

  admin.get('/events', { schema: { querystring: limitQuery } }, async (request) => {
    const { limit } = request.query as { limit: number };
    return { events: recorder.events(limit) };
  });

  admin.get('/rejections', { schema: { querystring: limitQuery } }, async (request) => {
    const { limit } = request.query as { limit: number };
    return { rejections: recorder.rejections(limit) };
  });

  /** Forgets every event and figure; faults stay as they are (DELETE /_local/faults clears those). */
  admin.post('/reset', async () => {
    recorder.clear();
    return recorder.stats();
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
        .send({ success: false, code: 'invalid_faults', message: (err as Error).message });
    }
  });

  admin.delete('/faults', async () => {
    faults.clear();
    return faults.state();
  });
}
