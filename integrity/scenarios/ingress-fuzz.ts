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
      { seed: random.int(0, 2 ** 31 - 1), messageIdPrefix, limits, now: Math.floor(Date.now() / 1000) },
    );
    const posted: PostedHostileBody[] = [];
    const started = performance.now();
    for (const [second, count] of perSecond.entries()) {
      // One at a time: bodies at the size limit posted together would be shed by the bytes in flight
      // (503 by design); the sender's valid bodies go on meanwhile.
      for (let i = 0; i < count; i++) {
        const index = posted.length;
        const body = bodies[index] as HostileBody;
        posted.push({ body, index, ...(await post(pipeline.webhookUrl, body)) });
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

/** POSTs the bytes with exactly the body's headers (fetch would add a Content-Type of its own). */
function post(url: string, body: HostileBody): Promise<Omit<PostedHostileBody, 'body' | 'index'>> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (answer: Omit<PostedHostileBody, 'body' | 'index'>) => {
      if (!settled) resolve(answer);
      settled = true;
    };
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
    outgoing.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        let answerJson: PostedHostileBody['answerJson'];
        try {
          answerJson = JSON.parse(Buffer.concat(chunks).toString());
        } catch {
          answerJson = undefined;
        }
        done({ answer: response.statusCode ?? 'no status', answerJson });
      });
      response.on('error', (err) =>
        done({ answer: (err as NodeJS.ErrnoException).code ?? err.name, answerJson: undefined }),
      );
    });
    outgoing.on('timeout', () => outgoing.destroy(new Error('no answer within 30 s')));
    // A body over the limit is answered 413 before it is read: the connection may close while it is
    // still being written, and that error comes after the answer, which counts.
    outgoing.on('error', (err) =>
      done({ answer: (err as NodeJS.ErrnoException).code ?? err.message, answerJson: undefined }),
    );
    if (!body.chunked) {
      outgoing.end(body.bytes);
      return;
    }
    // In pieces of a few sizes, so that a piece can end inside a UTF-8 character or a JSON token.
    for (let at = 0, piece = 1; at < body.bytes.length; at += piece, piece = (piece * 7) % 65_521) {
      outgoing.write(body.bytes.subarray(at, at + piece));
    }
    outgoing.end();
  });
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
  const refusedDigests = new Map<string, string>();

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
    const digest = digestOf(body.bytes);
    if (accepted && body.deadLetteredWhole) {
      const seen = wholeExpected.get(digest);
      wholeExpected.set(digest, { expected: (seen?.expected ?? 0) + 1, what: seen?.what ?? what });
    } else if (!accepted) refusedDigests.set(digest, what);

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
  for (const [digest, what] of refusedDigests) {
    if (!wholeExpected.has(digest) && ingressByDigest.has(digest))
      problems.push(`${what} was refused but is in the dead-letter topic`);
  }
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
