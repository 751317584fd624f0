import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { type TestContext, test } from 'node:test';
import type { RunRecords } from '../../../integrity/count.ts';
import type { HostileBody, PostedHostileBody } from '../../../integrity/hostile-bodies.ts';
import { digestOf } from '../../../integrity/read-back.ts';
import { checkHostile, postHostile } from '../../../integrity/scenarios/ingress-fuzz.ts';

/** An endpoint that answers 200 with what it received, or 413 before reading past `limit` bytes. */
async function endpoint(t: TestContext, limit: number) {
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    let length = 0;
    request.on('data', (chunk: Buffer) => {
      length += chunk.length;
      chunks.push(chunk);
      if (length > limit && !response.headersSent) {
        // As fastify does: the answer, then the connection closed with the body still coming.
        response.writeHead(413, { connection: 'close' }).end('{"error":"Payload Too Large"}');
        request.socket.destroySoon();
      }
    });
    request.on('end', () => {
      if (response.headersSent) return;
      const body = Buffer.concat(chunks);
      response
        .writeHead(200)
        .end(JSON.stringify({ digest: digestOf(body), chunked: !request.headers['content-length'] }));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  return `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
}

const hostile = (bytes: Buffer, chunked: boolean, status: 200 | 413 = 200): HostileBody => ({
  kind: 'test',
  bytes,
  headers: { 'content-type': 'application/json' },
  chunked,
  status,
  stored: 0,
  ingressDeadLetters: {},
  deadLetteredWhole: false,
  events: [],
});

test('a hostile body arrives byte for byte, chunked in uneven pieces or not', async (t) => {
  const url = await endpoint(t, 64 * 1024 * 1024);
  const bytes = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 31) % 251));
  for (const chunked of [true, false]) {
    const { answer, answerJson } = await postHostile(url, hostile(bytes, chunked));
    assert.equal(answer, 200);
    assert.deepEqual(answerJson, { digest: digestOf(bytes), chunked });
  }
});

test('a body refused before it is all sent gets its answer, not a broken pipe', async (t) => {
  const url = await endpoint(t, 64 * 1024);
  const bytes = Buffer.alloc(8 * 1024 * 1024, 0x20);
  for (const chunked of [true, false]) {
    assert.equal((await postHostile(url, hostile(bytes, chunked, 413))).answer, 413, `chunked: ${chunked}`);
  }
});

const records = (overrides: Partial<RunRecords>): RunRecords => ({
  posted: 0,
  acked: new Set(),
  raw: [],
  normalized: [],
  deadLetters: [],
  segment: [],
  ...overrides,
});

const posted = (body: Partial<HostileBody>, answer: number, answerJson?: object): PostedHostileBody => ({
  body: { ...hostile(Buffer.from('[]'), false), ...body },
  index: 0,
  answer,
  answerJson,
});

test('the fuzz check: each promise held is no failure, each broken one is named', () => {
  const events = [
    { messageId: '1', fate: 'delivered' as const },
    { messageId: '2', fate: 'connector-dead-letter' as const },
    { messageId: '3', fate: 'UNKNOWN_EVENT_TYPE' as const },
  ];
  const body = posted({ events, stored: 2, ingressDeadLetters: { UNKNOWN_EVENT_TYPE: 1 } }, 200, {
    stored: 2,
    deadLettered: 1,
  });
  const empty = Buffer.alloc(0);
  const whole = (index: number) => ({
    ...posted({ bytes: empty, deadLetteredWhole: true, ingressDeadLetters: { INVALID_JSON: 1 } }, 200, {
      stored: 0,
      deadLettered: 1,
    }),
    index,
  });
  const held = records({
    raw: ['1', '2'],
    segment: [{ messageId: 'a', mailjetMessageId: '1' }],
    deadLetters: [
      { mailjetMessageId: '2', code: 'UNMAPPABLE_EVENT', stage: 'connector', digest: 'x' },
      { mailjetMessageId: '3', code: 'UNKNOWN_EVENT_TYPE', stage: 'ingress', digest: 'y' },
      // Two empty bodies, each kept whole.
      { mailjetMessageId: undefined, code: 'INVALID_JSON', stage: 'ingress', digest: digestOf(empty) },
      { mailjetMessageId: undefined, code: 'INVALID_JSON', stage: 'ingress', digest: digestOf(empty) },
    ],
  });
  assert.deepEqual(checkHostile(held, { hostile: [body, whole(1), whole(2)] }), []);

  const broken = records({
    raw: ['1', '2', '2'],
    deadLetters: [{ mailjetMessageId: '3', code: 'INVALID_EVENT_FIELD', stage: 'ingress', digest: 'y' }],
    acked: new Set(['9']),
  });
  assert.deepEqual(
    checkHostile(broken, {
      hostile: [
        body,
        whole(1),
        { ...posted({ status: 415, events: [{ messageId: '4', fate: 'delivered' }] }, 503), index: 3 },
      ],
    }),
    [
      'event 1 of hostile body 0 (test) must be stored once and in Segment: raw 1, Segment 0, dead letters 0 + 0',
      'event 2 of hostile body 0 (test) must be stored once and dead-lettered once by the connector: raw 2, Segment 0, dead letters 0 + 0',
      // Event 3 is dead-lettered once by the ingress, under another code: the counts by code say so.
      'hostile body 3 (test) answered 503',
      'hostile body 1 (test), kept whole, is 0 times in the dead-letter topic, not 1',
      '0 ingress dead letters UNKNOWN_EVENT_TYPE, 1 expected',
      '0 ingress dead letters INVALID_JSON, 1 expected',
      '1 ingress dead letters INVALID_EVENT_FIELD, 0 expected',
      '1 acked valid events not in Segment: 9',
    ],
  );
});
