import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultMappingOptions, mapMailjetEvent, segmentTrackOf } from '../../connector/segment-mapping.ts';
import { rawEventValue } from '../../ingress/event-publisher.ts';
import { readWebhookBody } from '../../ingress/webhook-body.ts';
import { type HostileBody, hostileBodies, hostileMessageId } from '../../integrity/hostile-bodies.ts';

// Smaller than the defaults, the body limit still above the raw topic's (as in the defaults), so that
// thousands of bodies fit in memory.
const limits = { bodyLimitBytes: 1536 * 1024, maxRawRecordBytes: 1024 * 1024 };
const make = (seed: number, count: number) =>
  hostileBodies(count, { seed, messageIdPrefix: '42', limits, now: 1_700_000_000 });

test('a seed makes the same hostile bodies, MessageIDs in the hostile range only', () => {
  const bodies = make(7, 200);
  assert.deepEqual(
    make(7, 200).map((b) => [b.kind, b.bytes.toString('base64')]),
    bodies.map((b) => [b.kind, b.bytes.toString('base64')]),
  );
  assert.notDeepEqual(
    make(8, 200).map((b) => b.bytes.toString('base64')),
    bodies.map((b) => b.bytes.toString('base64')),
  );
  const ids = bodies.flatMap((b) => b.events.map((e) => e.messageId));
  assert.deepEqual(
    ids,
    ids.map((_, i) => hostileMessageId('42', i)),
    'numbered in order, each once',
  );
  assert.ok(ids.every((id) => /^428\d{8}$/.test(id)));
});

test('what each hostile body promises is what the ingress reads in it', () => {
  // The lane's oracle, held against the ingress's reading of the body (the HTTP and Kafka parts are
  // the lane's to check): the events stored, and the dead letters by code.
  const bodies = make(11, 1500).filter((b) => b.status === 200);
  const mismatches: string[] = [];
  for (const [index, body] of bodies.entries()) {
    const read = readWebhookBody(body.bytes);
    const large = read.accepted.filter((e) => Buffer.byteLength(e.json) > limits.maxRawRecordBytes);
    const codes: Record<string, number> = {};
    for (const { code } of read.rejected) codes[code] = (codes[code] ?? 0) + 1;
    if (large.length > 0) codes.EVENT_TOO_LARGE = large.length;
    const got = { stored: read.accepted.length - large.length, codes };
    const expected = { stored: body.stored, codes: body.ingressDeadLetters };
    if (!equalOutcome(got, expected)) mismatches.push(describe(index, body, got, expected));
  }
  assert.deepEqual(mismatches.slice(0, 5), []);
  assert.ok(bodies.length > 1000, 'most hostile bodies are answered 200');
});

type Outcome = { stored: number; codes: Record<string, number | undefined> };

function equalOutcome(a: Outcome, b: Outcome): boolean {
  const sorted = (o: Outcome) => JSON.stringify([o.stored, Object.entries(o.codes).sort()]);
  return sorted(a) === sorted(b);
}

function describe(index: number, body: HostileBody, got: Outcome, expected: Outcome): string {
  return `${index} ${body.kind}: read ${JSON.stringify(got)}, promised ${JSON.stringify(expected)}: ${body.bytes.subarray(0, 200).toString()}`;
}

test('each stored hostile event promised to Segment is mapped under its MessageID, the others are not', () => {
  // The connector's half of the oracle: the mapping with the lane's settings (the defaults), and
  // Segment's 32 KiB per event, past which the sink dead-letters it.
  const mismatches: string[] = [];
  let stored = 0;
  for (const body of make(13, 1500)) {
    if (body.status !== 200) continue;
    const fates = new Map(body.events.map((e) => [e.messageId, e.fate]));
    for (const event of readWebhookBody(body.bytes).accepted) {
      if (Buffer.byteLength(event.json) > limits.maxRawRecordBytes) continue;
      stored++;
      const raw = rawEventValue(event, { requestId: 'fuzz', receivedAt: 1_700_000_000_000 });
      const normalized = mapMailjetEvent(raw, defaultMappingOptions, {});
      const result = normalized.ok ? segmentTrackOf(normalized.normalized) : normalized;
      const fits = result.ok && Buffer.byteLength(JSON.stringify(result.track)) <= 32 * 1024;
      const fate = fates.get(event.messageId ?? '');
      const mappedAs = result.ok ? result.track.properties.message_id : undefined;
      if ((fits ? 'delivered' : 'connector-dead-letter') !== fate || (fits && mappedAs !== event.messageId)) {
        mismatches.push(
          `${event.messageId} (${body.kind}): promised ${fate}, ${result.ok ? `mapped, fits ${fits}` : result.message}`,
        );
      }
    }
  }
  assert.deepEqual(mismatches.slice(0, 5), []);
  assert.ok(stored > 500, `${stored} events stored`);
});
