import { once } from 'node:events';
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { Value } from '@sinclair/typebox/value';
import { topicConfigSchema } from '../../core/topics.ts';
import { ingressConfigSchema } from '../../ingress/config.ts';
import type { RunRecords } from '../count.ts';
import {
  type HostileBody,
  hostileBodies,
  type IngressDeadLetterCode,
  type PostedHostileBody,
} from '../hostile-bodies.ts';
import { authorization } from '../pipeline.ts';
import { digestOf } from '../read-back.ts';
import type { Injected, Scenario } from '../scenario.ts';

export const ingressFuzz: Scenario = {
  name: 'ingress-fuzz',
  number: 10,
  description:
    'Hostile webhook bodies made by fast-check from the seed (mutated Mailjet events, truncated and invalid JSON, invalid UTF-8, deep nesting, wrong content types, bodies at and over the size limit) are posted between the valid ones. None may be answered 5xx or end the ingress; each answer must be the one docs/webhooks.md promises, every event of a body answered 200 must be in the raw topic or dead-lettered once, and nothing of a refused body stored.',
  async inject({ pipeline, random, loadMs, messageIdPrefix, quick }) {
    // The ingress runs with its defaults: the limits its answers depend on are theirs.
    const limits = {
      bodyLimitBytes: Value.Default(
        ingressConfigSchema.properties.INGRESS_BODY_LIMIT_BYTES,
        undefined,
      ) as number,
      maxRawRecordBytes: Value.Default(
        topicConfigSchema.properties.TOPIC_MAX_MESSAGE_BYTES,
        undefined,
      ) as number,
    };
    const seconds = Math.max(1, Math.floor((loadMs * 0.8) / 1000));
    const perSecond = Array.from({ length: seconds }, () => random.int(1, quick ? 4 : 8));
    const bodies = hostileBodies(
      perSecond.reduce((a, b) => a + b, 0),
      // A fixed event time: a seed posts the same bytes again (the events' age changes nothing here).
      { seed: random.int(0, 2 ** 31 - 1), messageIdPrefix, limits, now: 1_764_000_000 },
    );
    const posted: PostedHostileBody[] = [];
    const started = performance.now();
    for (const [second, count] of perSecond.entries()) {
      // One at a time: bodies at the size limit posted together would be shed by the bytes in flight
      // (503 by design); the sender's valid bodies go on meanwhile.
      for (let i = 0; i < count; i++) {
        const index = posted.length;
        const body = bodies[index] as HostileBody;
        posted.push({ body, index, ...(await postHostile(pipeline.webhookUrl, body)) });
      }
      await sleep(Math.max(0, started + (second + 1) * 1000 - performance.now()));
    }
    return { hostile: posted };
  },
  check(records, injected) {
    return checkHostile(records, injected);
  },
  figures({ hostile = [] }) {
    const answers: Record<string, number> = {};
    for (const { answer } of hostile) answers[answer] = (answers[answer] ?? 0) + 1;
    return {
      hostile_bodies: hostile.length,
      hostile_bytes: hostile.reduce((sum, { body }) => sum + body.bytes.length, 0),
      hostile_events: hostile.reduce((sum, { body }) => sum + body.events.length, 0),
      hostile_chunked: hostile.filter(({ body }) => body.chunked).length,
      hostile_answers: answers,
    };
  },
};

/**
 * POSTs the bytes with exactly the body's headers (fetch would add a Content-Type of its own), as a
 * careful client does: it waits a moment for an early answer before sending the body (what
 * `Expect: 100-continue` is for), sends it with backpressure, and stops as soon as the answer comes.
 * An intake refusing a body before reading it all (413) closes the connection: a client that went on
 * writing would meet the closed socket (EPIPE) before reading the answer that was sent.
 */
export async function postHostile(
  url: string,
  body: HostileBody,
): Promise<Omit<PostedHostileBody, 'body' | 'index'>> {
  const outgoing = request(url, {
    method: 'POST',
    headers: {
      ...body.headers,
      authorization,
      ...(body.chunked
        ? { 'transfer-encoding': 'chunked' }
        : { 'content-length': String(body.bytes.length) }),
    },
    timeout: 30_000,
  });
  let status: number | undefined;
  const answered = new Promise<Omit<PostedHostileBody, 'body' | 'index'>>((resolve) => {
    outgoing.on('response', (response) => {
      status = response.statusCode ?? 0;
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        let answerJson: PostedHostileBody['answerJson'];
        try {
          answerJson = JSON.parse(Buffer.concat(chunks).toString());
        } catch {
          answerJson = undefined;
        }
        resolve({ answer: status as number, answerJson });
      });
      // The connection closed after the status came: the status is the answer.
      response.on('error', () => resolve({ answer: status as number, answerJson: undefined }));
    });
    outgoing.on('timeout', () => outgoing.destroy(new Error('no answer within 30 s')));
    outgoing.on('error', (err) => {
      const code = (err as NodeJS.ErrnoException).code ?? err.message;
      if (status === undefined) resolve({ answer: code, answerJson: undefined });
    });
  });
  outgoing.flushHeaders();
  await Promise.race([answered, sleep(100)]);
  // In pieces of a few sizes (chunked, each its own chunk), so that one can end inside a UTF-8
  // character or a JSON token.
  let at = 0;
  let piece = body.chunked ? 1 : 64 * 1024;
  while (at < body.bytes.length && status === undefined && !outgoing.destroyed) {
    const more = outgoing.write(body.bytes.subarray(at, at + piece));
    at += piece;
    if (body.chunked) piece = (piece * 7) % 65_521;
    // once() rejects on the request's error, which `answered` reports.
    if (!more) await Promise.race([once(outgoing, 'drain').catch(() => {}), answered]);
  }
  if (status === undefined && !outgoing.destroyed) outgoing.end();
  const answer = await answered;
  outgoing.destroy();
  return answer;
}

/** What the scenario requires of the hostile bodies, from the records read back after the run. */
export function checkHostile(records: RunRecords, { hostile = [] }: Injected): string[] {
  const problems: string[] = [];
  const count = <T>(items: readonly T[]) => {
    const counts = new Map<T, number>();
    for (const item of items) counts.set(item, (counts.get(item) ?? 0) + 1);
    return counts;
  };
  const inRaw = count(records.raw);
  const inSegment = count(records.segment.map((event) => event.mailjetMessageId));
  const ingressLetters = records.deadLetters.filter((letter) => letter.stage === 'ingress');
  const laterLetters = count(
    records.deadLetters.filter((letter) => letter.stage !== 'ingress').map((l) => l.mailjetMessageId),
  );
  const ingressById = count(ingressLetters.map((letter) => letter.mailjetMessageId));
  const ingressByDigest = count(ingressLetters.map((letter) => letter.digest));
  const expectedByCode = new Map<IngressDeadLetterCode, number>();
  const wholeExpected = new Map<string, { expected: number; what: string }>();

  for (const { body, index, answer, answerJson } of hostile) {
    const what = `hostile body ${index} (${body.kind})`;
    if (typeof answer !== 'number') {
      problems.push(`${what} got no answer: ${answer}`);
      continue;
    }
    if (answer >= 500) problems.push(`${what} answered ${answer}`);
    else if (answer !== body.status) problems.push(`${what} answered ${answer}, not ${body.status}`);
    const accepted = answer === 200 && body.status === 200;
    if (accepted) {
      const deadLettered = Object.values(body.ingressDeadLetters).reduce((a, b) => a + b, 0);
      if (answerJson?.stored !== body.stored || answerJson?.deadLettered !== deadLettered) {
        problems.push(
          `${what} answered ${JSON.stringify(answerJson)}, not {"stored":${body.stored},"deadLettered":${deadLettered}}`,
        );
      }
      for (const [code, n] of Object.entries(body.ingressDeadLetters) as [IngressDeadLetterCode, number][]) {
        expectedByCode.set(code, (expectedByCode.get(code) ?? 0) + n);
      }
    }
    // Two bodies can be the same bytes (two empty ones): each kept whole is one letter of those bytes.
    // (A refused body's bytes are not looked for: one that is a bare `null` is also the dead letter
    // of a `null` element; the counts by code below find what a refused body left.)
    const digest = digestOf(body.bytes);
    if (accepted && body.deadLetteredWhole) {
      const seen = wholeExpected.get(digest);
      wholeExpected.set(digest, { expected: (seen?.expected ?? 0) + 1, what: seen?.what ?? what });
    }

    for (const { messageId, fate } of body.events) {
      const raw = inRaw.get(messageId) ?? 0;
      const segment = inSegment.get(messageId) ?? 0;
      const later = laterLetters.get(messageId) ?? 0;
      const atIngress = ingressById.get(messageId) ?? 0;
      const event = `event ${messageId} of ${what}`;
      const found = `raw ${raw}, Segment ${segment}, dead letters ${atIngress} + ${later}`;
      if (!accepted || fate === 'in-whole-body') {
        // Refused, or inside a body kept whole: the event itself is in no topic.
        if (raw + segment + later + atIngress > 0) problems.push(`${event} must be nowhere: ${found}`);
      } else if (fate === 'delivered') {
        if (raw !== 1 || segment === 0 || later + atIngress > 0)
          problems.push(`${event} must be stored once and in Segment: ${found}`);
      } else if (fate === 'connector-dead-letter') {
        if (raw !== 1 || later !== 1 || segment + atIngress > 0)
          problems.push(`${event} must be stored once and dead-lettered once by the connector: ${found}`);
      } else if (raw + segment + later > 0 || atIngress !== 1) {
        problems.push(`${event} must be dead-lettered once by the ingress (${fate}): ${found}`);
      }
    }
  }

  for (const [digest, { expected, what }] of wholeExpected) {
    const found = ingressByDigest.get(digest) ?? 0;
    if (found !== expected) {
      problems.push(`${what}, kept whole, is ${found} times in the dead-letter topic, not ${expected}`);
    }
  }
  // A refused body that left a dead letter, of any kind, makes one of these counts too large.
  const foundByCode = count(ingressLetters.map((letter) => letter.code));
  for (const code of new Set([...expectedByCode.keys(), ...foundByCode.keys()] as IngressDeadLetterCode[])) {
    const expected = expectedByCode.get(code) ?? 0;
    const found = foundByCode.get(code) ?? 0;
    if (found !== expected) problems.push(`${found} ingress dead letters ${code}, ${expected} expected`);
  }
  // The valid traffic kept flowing: every acked event of the sender reached Segment, none dead-lettered.
  const missing = [...records.acked].filter((id) => !inSegment.has(id));
  if (missing.length > 0)
    problems.push(`${missing.length} acked valid events not in Segment: ${missing.slice(0, 5).join(', ')}`);
  return problems;
}
