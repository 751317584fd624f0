import assert from 'node:assert/strict';
import { test } from 'node:test';
import { countRun, type RunRecords, summarize } from '../../integrity/count.ts';

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
  assert.equal(figures.lost, 0);
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
