import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startLocalSegment } from '../../../local-saas/segment/server.ts';
import { basicAuth, trackEvent, writeKey } from './helpers.ts';

test('startLocalSegment listens on loopback and a real HTTP client can send a batch and read the stats', async (t) => {
  const segment = await startLocalSegment({ writeKeys: [writeKey] });
  t.after(() => segment.stop());
  assert.match(segment.url, /^http:\/\/127\.0\.0\.1:\d+$/);

  const res = await fetch(`${segment.url}/v1/batch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: basicAuth(writeKey) },
    body: JSON.stringify({ batch: [trackEvent()], sentAt: new Date().toISOString() }),
  });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { success: true });
  assert.equal(segment.recorder.stats().eventsReceived, 1);

  const stats = (await (await fetch(`${segment.url}/_local/stats`)).json()) as { eventsReceived: number };
  assert.equal(stats.eventsReceived, 1);
});

test('faults set on the returned injector apply to the running server', async (t) => {
  const segment = await startLocalSegment({ writeKeys: [writeKey] });
  t.after(() => segment.stop());
  segment.faults.set({ rateLimitNext: { count: 1, retryAfterSeconds: 2 } });
  const res = await fetch(`${segment.url}/v1/batch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: basicAuth(writeKey) },
    body: JSON.stringify({ batch: [trackEvent()] }),
  });
  assert.equal(res.status, 429);
  assert.equal(res.headers.get('retry-after'), '2');
  await res.arrayBuffer();
});

test('a port already in use fails with PORT_TAKEN; stop() may be called twice', async () => {
  const first = await startLocalSegment({ writeKeys: [writeKey] });
  try {
    const port = Number(new URL(first.url).port);
    await assert.rejects(startLocalSegment({ writeKeys: [writeKey], port }), {
      code: 'PORT_TAKEN',
      message: new RegExp(`Port 127\\.0\\.0\\.1:${port} \\(local Segment server\\) is already in use`),
    });
  } finally {
    await first.stop();
    await first.stop();
  }
});
