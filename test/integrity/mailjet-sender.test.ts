import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { mailjetSender, messageIdOf } from '../../integrity/mailjet-sender.ts';
import { seededRandom } from '../../integrity/seeded-random.ts';

/** A webhook endpoint that answers 503 to the first post of every body, then 200; it keeps what it got. */
async function flakyEndpoint(t: TestContext) {
  const bodies: string[] = [];
  const seen = new Set<string>();
  const server = createServer((request, response) => {
    let text = '';
    request.on('data', (chunk) => {
      text += chunk;
    });
    request.on('end', () => {
      bodies.push(text);
      const first = !seen.has(text);
      seen.add(text);
      response.writeHead(first ? 503 : 200).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/`, bodies };
}

function sender(url: string, seed: number) {
  return mailjetSender({
    url,
    authorization: 'Basic x',
    random: seededRandom(seed),
    bodiesPerSecond: 200,
    maxEventsPerBody: 4,
    messageIdPrefix: '42',
    retryMs: [1, 5],
    requestTimeoutMs: 5000,
  });
}

test('the sender posts again what was not answered 200, and counts an event acked only after its 200', async (t) => {
  const endpoint = await flakyEndpoint(t);
  const mailjet = sender(endpoint.url, 7);
  mailjet.start();
  await sleep(100);
  const report = await mailjet.finish(5000);
  assert.ok(report.bodies > 1);
  assert.equal(report.unackedBodies, 0);
  assert.equal(report.acked.size, report.posted, 'every event acked once its body got its 200');
  assert.equal(report.answers[503], report.bodies);
  assert.equal(report.answers[200], report.bodies);
  assert.deepEqual(
    report.exchanges.filter((e) => e.attempt === 2).map((e) => e.answer),
    Array(report.bodies).fill(200),
  );
  // Single events are objects, grouped ones arrays; MessageIDs are JSON numbers with every digit.
  assert.ok(endpoint.bodies.some((body) => body.startsWith('{')));
  assert.ok(endpoint.bodies.every((body) => body.startsWith('{') || body.startsWith('[')));
  const ids = endpoint.bodies.flatMap((body) => [...body.matchAll(/"MessageID":(\d+)/g)].map((m) => m[1]));
  assert.deepEqual(
    new Set(ids),
    new Set(Array.from({ length: report.posted }, (_, i) => messageIdOf('42', i))),
  );
});
