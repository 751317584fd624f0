import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AUDIENCE_KEY,
  identifyMessageIdOf,
  identifySender,
  MISMATCHED_TRAIT,
} from '../../integrity/identify-sender.ts';
import { seededRandom } from '../../integrity/seeded-random.ts';

/** An intake that answers 503 to the first post of every body, then 200; it keeps what it got. */
async function flakyIntake(t: TestContext) {
  const posts: { path: string; authorization: string; body: string }[] = [];
  const seen = new Set<string>();
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => {
      body += chunk;
    });
    request.on('end', () => {
      posts.push({ path: request.url ?? '', authorization: request.headers.authorization ?? '', body });
      const first = !seen.has(body);
      seen.add(body);
      response.writeHead(first ? 503 : 200).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, posts };
}

function sender(url: string, seed: number, mismatched = new Set<number>()) {
  return identifySender({
    url,
    writeKey: 'wk',
    random: seededRandom(seed),
    bodiesPerSecond: 200,
    maxCallsPerBody: 4,
    contacts: 5,
    messageIdPrefix: 'p',
    mismatched,
    retryMs: [1, 5],
    requestTimeoutMs: 5000,
  });
}

/** The identify calls of the posts the intake answered 200, by messageId (retries interleave them). */
function ackedCalls(posts: { path: string; body: string }[]): Record<string, unknown>[] {
  const answered = new Set<string>();
  const calls: Record<string, unknown>[] = [];
  for (const { path, body } of posts) {
    if (!answered.has(body)) {
      answered.add(body);
      continue;
    }
    const parsed = JSON.parse(body) as { batch?: Record<string, unknown>[] };
    calls.push(...(path === '/v1/batch' ? (parsed.batch ?? []) : [parsed as Record<string, unknown>]));
  }
  return calls.sort((a, b) => String(a.messageId).localeCompare(String(b.messageId)));
}

test('the identify sender posts again what was not answered 200, and counts a call acked only after its 200', async (t) => {
  const intake = await flakyIntake(t);
  const identifies = sender(intake.url, 7, new Set([1, 2, 3]));
  identifies.start();
  await sleep(100);
  const report = await identifies.finish(5000);
  assert.ok(report.bodies > 1);
  assert.equal(report.unackedBodies, 0);
  assert.equal(report.acked.size, report.posted);
  assert.equal(report.answers[503], report.bodies);
  assert.equal(report.answers[200], report.bodies);
  assert.ok(
    intake.posts.every((post) => post.authorization === `Basic ${Buffer.from('wk:').toString('base64')}`),
  );
  assert.ok(intake.posts.some((post) => post.path === '/v1/identify'));
  assert.ok(intake.posts.some((post) => post.path === '/v1/batch'));

  const calls = ackedCalls(intake.posts);
  assert.deepEqual(
    calls.map((call) => call.messageId),
    Array.from({ length: report.posted }, (_, i) => identifyMessageIdOf('p', i)),
  );
  for (const [index, call] of calls.entries()) {
    const traits = call.traits as Record<string, unknown>;
    assert.match(String(traits.email), /^contact-[1-5]@example\.com$/);
    if (AUDIENCE_KEY in traits) {
      // An Engage audience call: its one trait, and the personas context Segment sends with it.
      assert.equal(typeof traits[AUDIENCE_KEY], 'boolean');
      assert.equal(
        (call.context as { personas: { computation_key: string } }).personas.computation_key,
        AUDIENCE_KEY,
      );
      continue;
    }
    assert.equal(typeof traits[MISMATCHED_TRAIT], [1, 2, 3].includes(index) ? 'string' : 'number');
    assert.match(String(traits.last_seen), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  }
});

test('the same seed makes the same calls', async (t) => {
  const intake = await flakyIntake(t);
  const traitsOf = async (seed: number) => {
    intake.posts.length = 0;
    const identifies = sender(intake.url, seed);
    identifies.start();
    await sleep(50);
    await identifies.finish(5000);
    return ackedCalls(intake.posts)
      .slice(0, 5)
      .map((call) => {
        const { name: _name, ...traits } = call.traits as Record<string, unknown>;
        return traits;
      });
  };
  assert.deepEqual(await traitsOf(11), await traitsOf(11));
  assert.notDeepEqual(await traitsOf(11), await traitsOf(12));
});
