import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { test } from 'node:test';
import { SteadySender } from '../../integrity/steady-sender.ts';

test('a body never answered 200 is posted again until the run gives up, then counted unacked, its items not acked', async (t) => {
  let posts = 0;
  const server = createServer((_request, response) => {
    posts++;
    response.writeHead(503).end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
  let made = 0;
  const sender = new SteadySender({ bodiesPerSecond: 100, retryMs: [10, 20], requestTimeoutMs: 1000 }, () => {
    made++;
    return { url, headers: {}, text: '{}', ids: [`a${made}`, `b${made}`] };
  });
  sender.start(50);
  // Give up once every body was posted at least twice.
  while (posts < made * 2 || made === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  const report = await sender.finish(0);
  assert.equal(report.bodies, made);
  assert.equal(report.posted, made * 2, 'items made, two per body');
  assert.equal(report.acked.size, 0);
  assert.equal(report.unackedBodies, made);
  // Answers by status add up to the exchanges; a request in flight when the run gave up ends aborted.
  const counted = Object.values(report.answers).reduce((sum, count) => sum + count, 0);
  assert.equal(counted, report.exchanges.length);
  assert.deepEqual(
    Object.keys(report.answers).filter((answer) => answer !== '503' && answer !== 'AbortError'),
    [],
  );
  assert.ok(
    report.exchanges.some((exchange) => exchange.attempt >= 2),
    'posted again',
  );
});
