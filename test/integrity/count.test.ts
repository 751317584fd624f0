import assert from 'node:assert/strict';
import { test } from 'node:test';
import { countRun, normalizedDuplicatesWithin, type RunRecords, summarize } from '../../integrity/count.ts';

const delivered = (mailjetMessageId: string, messageId = `mj-${mailjetMessageId}`) => ({
  messageId,
  mailjetMessageId,
});

function run(overrides: Partial<RunRecords>): RunRecords {
  return {
    posted: 3,
    acked: new Set(['1', '2', '3']),
    raw: ['1', '2', '3'],
    normalized: ['1', '2', '3'].map((id) => delivered(id)),
    deadLetters: [],
    segment: ['1', '2', '3'].map((id) => delivered(id)),
    ...overrides,
  };
}

test('a run where every acked event reached Segment and the normalized topic loses nothing', () => {
  const figures = countRun(run({}));
  assert.equal(figures.lost, 0);
  assert.equal(figures.acked, 3);
  assert.equal(figures.stored_distinct, 3);
  assert.equal(figures.delivered_distinct, 3);
  assert.equal(figures.normalized_distinct, 3);
  assert.equal(figures.segment_effective_duplicates, 0);
  assert.equal(figures.normalized_duplicates, 0);
});

test('an acked event missing from Segment, or from the normalized topic, is lost', () => {
  const figures = countRun(
    run({
      segment: [delivered('1'), delivered('2')],
      normalized: [delivered('1'), delivered('3')],
    }),
  );
  assert.equal(figures.lost, 2);
  assert.deepEqual(figures.lost_examples.sort(), ['2', '3']);
});

test('an acked event in the dead-letter topic is dead-lettered, not lost', () => {
  const figures = countRun(
    run({
      segment: [delivered('1'), delivered('2')],
      normalized: [delivered('1'), delivered('2')],
      deadLetters: [{ mailjetMessageId: '3', code: 'SEGMENT_EVENT_REFUSED' }],
    }),
  );
  assert.equal(figures.lost, 0);
  assert.equal(figures.dead_lettered, 1);
});

test('an event posted but never acked is not lost: Mailjet still holds it', () => {
  const figures = countRun(run({ posted: 4 }));
  assert.equal(figures.posted, 4);
  assert.equal(figures.lost, 0);
});

test('one Mailjet event under two messageIds is a duplicate Segment cannot remove; under one it is not', () => {
  const figures = countRun(
    run({
      segment: [delivered('1'), delivered('1'), delivered('2'), delivered('2', 'other-id'), delivered('3')],
    }),
  );
  assert.equal(figures.delivered_total, 5);
  assert.equal(figures.delivered_distinct, 4);
  assert.equal(figures.segment_effective_duplicates, 1);
});

test('normalized records beyond one per Mailjet event are duplicates; stored twice is counted apart', () => {
  const figures = countRun(
    run({
      raw: ['1', '1', '2', '3'],
      normalized: [delivered('1'), delivered('1'), delivered('2'), delivered('3')],
    }),
  );
  assert.equal(figures.stored_total, 4);
  assert.equal(figures.stored_distinct, 3);
  assert.equal(figures.normalized_total, 4);
  assert.equal(figures.normalized_duplicates, 1);
  assert.equal(figures.normalized_beyond_raw, 0, 'one normalized record per raw record');
  assert.equal(figures.lost, 0);
});

test('a raw record normalized twice is beyond its raw records: what an exactly-once normalizer never writes', () => {
  const figures = countRun(
    run({ normalized: [delivered('1'), delivered('2'), delivered('2'), delivered('3'), delivered('3')] }),
  );
  assert.equal(figures.normalized_duplicates, 2);
  assert.equal(figures.normalized_beyond_raw, 2);
});

test('dead letters without a readable event are counted by code, apart from dead-lettered events', () => {
  const figures = countRun(
    run({
      deadLetters: [
        { mailjetMessageId: undefined, code: 'SCHEMA_UNKNOWN' },
        { mailjetMessageId: undefined, code: 'SCHEMA_UNKNOWN' },
        { mailjetMessageId: undefined, code: 'NOT_AVRO' },
      ],
    }),
  );
  assert.equal(figures.dead_lettered, 0);
  assert.deepEqual(figures.dead_lettered_unreadable, { SCHEMA_UNKNOWN: 2, NOT_AVRO: 1 });
});

test('a scenario summary keeps the worst run and the median and longest recovery', () => {
  const summary = summarize('connector-kill', [
    { lost: 0, segment_effective_duplicates: 0, normalized_duplicates: 2, recovery_s: 3 },
    { lost: 1, segment_effective_duplicates: 0, normalized_duplicates: 0, recovery_s: 1 },
    { lost: 0, segment_effective_duplicates: 0, normalized_duplicates: 0, recovery_s: null },
  ]);
  assert.deepEqual(summary, {
    scenario: 'connector-kill',
    runs: 3,
    max_lost: 1,
    max_segment_effective_duplicates: 0,
    max_normalized_duplicates: 2,
    recovery_p50_s: 1,
    recovery_max_s: 3,
  });
});

test('normalized duplicates within a window: the later copies beyond the raw ones, where they landed', () => {
  const at = (mailjetMessageId: string, offset: number, partition = 0) => ({
    ...delivered(mailjetMessageId),
    at: { partition, offset: BigInt(offset) },
  });
  const window = {
    from: new Map([
      [0, 10n],
      [1, 5n],
    ]),
    to: new Map([
      [0, 20n],
      [1, 8n],
    ]),
  };
  const records = {
    // '4' was stored twice by the ingress (a sender's retry): its two normalized records are no duplicate.
    raw: ['1', '2', '3', '4', '4', '5'],
    normalized: [
      at('1', 3), // once: no duplicate
      at('2', 4),
      at('2', 12), // a second copy inside the window
      at('3', 2),
      at('3', 6), // a second copy before the window
      at('4', 11),
      at('4', 13),
      at('5', 5, 1),
      at('5', 9, 1), // past the window's end on its partition
    ],
  };
  assert.deepEqual(normalizedDuplicatesWithin(records, window), { count: 1, examples: ['2'] });
  // The same copy of '5' inside a wider window of partition 1.
  assert.equal(
    normalizedDuplicatesWithin(records, {
      from: window.from,
      to: new Map([
        [0, 20n],
        [1, 10n],
      ]),
    }).count,
    2,
  );
});
