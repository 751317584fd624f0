import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  countDestinationRun,
  type DestinationRecords,
  expectedContacts,
  type ListContact,
  type StoredIdentify,
  summarizeDestination,
} from '../../integrity/destination-count.ts';

let nextOffset = 0;
const stored = (
  messageId: string,
  email: string,
  traits: Record<string, unknown>,
  partition = 0,
): StoredIdentify => ({
  messageId,
  partition,
  offset: String(nextOffset++),
  email,
  traits: { email, ...traits },
});
const inList = (Email: string, Name: string, Properties: Record<string, unknown>): ListContact => ({
  Email,
  Name,
  Properties,
  unsubscribed: false,
});

/** Two contacts on two partitions: a's second call replaces its Name and plan, b's clears its plan. */
function run(overrides: Partial<DestinationRecords> = {}): DestinationRecords {
  nextOffset = 0;
  const identifies = [
    stored('1', 'a@example.com', { name: 'A', plan: 'free', score: 1 }),
    stored('2', 'b@example.com', { name: 'B', plan: 'team' }, 1),
    stored('3', 'a@example.com', { name: 'A2', plan: 'pro' }),
    stored('4', 'b@example.com', { plan: null, vip: true }, 1),
  ];
  return {
    posted: 4,
    acked: new Set(['1', '2', '3', '4']),
    identifies,
    deadLetters: [],
    contacts: [
      inList('a@example.com', 'A2', { name: 'A2', plan: 'pro', score: 1 }),
      inList('b@example.com', 'B', { name: 'B', vip: true }),
    ],
    mismatched: new Set(),
    ...overrides,
  };
}

test('a list that holds each contact as its calls left it, in topic order, is exact', () => {
  const figures = countDestinationRun(run());
  assert.equal(figures.lost, 0);
  assert.equal(figures.contacts_expected, 2);
  assert.equal(figures.contacts_in_list, 2);
  assert.equal(figures.contacts_missing + figures.contacts_extra + figures.contacts_stale, 0);
  assert.deepEqual(figures.examples, []);
});

test('the fold follows the offsets, not the order the records were read in; null clears a property', () => {
  const records = run();
  const expected = expectedContacts([...records.identifies].reverse(), () => false);
  assert.deepEqual(expected.get('a@example.com'), {
    name: 'A2',
    properties: { name: 'A2', plan: 'pro', score: 1 },
  });
  assert.deepEqual(expected.get('b@example.com'), { name: 'B', properties: { name: 'B', vip: true } });
});

test('a stale property, a property left that a call cleared, a wrong Name or an unsubscription is stale', () => {
  const base = run();
  const [a, b] = base.contacts as [ListContact, ListContact];
  for (const wrong of [
    { ...a, Properties: { ...a.Properties, plan: 'free' } },
    { ...a, Name: 'A' },
    { ...a, unsubscribed: true },
  ]) {
    const figures = countDestinationRun({ ...base, contacts: [wrong, b] });
    assert.equal(figures.contacts_stale, 1, JSON.stringify(wrong));
  }
  const figures = countDestinationRun({
    ...base,
    contacts: [a, { ...b, Properties: { ...b.Properties, plan: 'team' } }],
  });
  assert.equal(figures.contacts_stale, 1);
  assert.match(figures.examples[0] ?? '', /stale: b@example.com: plan "team", want undefined/);
});

test('a contact missing from the list loses its acked calls; one no call names is extra', () => {
  const base = run();
  const [a] = base.contacts as [ListContact];
  const figures = countDestinationRun({ ...base, contacts: [a, inList('c@example.com', '', {})] });
  assert.equal(figures.contacts_missing, 1);
  assert.equal(figures.contacts_extra, 1);
  assert.equal(figures.lost, 2, 'both acked calls of b');
});

test('an acked call in neither the identify topic nor a dead letter is lost; an intake dead letter accounts for it', () => {
  const base = run();
  const acked = new Set([...base.acked, '5']);
  assert.equal(countDestinationRun({ ...base, acked }).lost, 1);
  const letteredByIntake = countDestinationRun({
    ...base,
    acked,
    deadLetters: [{ code: 'IDENTIFY_INVALID', messageIds: ['5'] }],
  });
  assert.equal(letteredByIntake.lost, 0);
  assert.equal(letteredByIntake.dead_lettered_without_cause, 1, 'no call was made to be refused');
});

test('a dead-lettered mismatched call changes nothing; a call dead-lettered along with it is a failure', () => {
  nextOffset = 0;
  const identifies = [
    stored('1', 'a@example.com', { name: 'A', score: 1 }),
    stored('2', 'a@example.com', { name: 'A2', score: 'not a number' }),
    stored('3', 'a@example.com', { vip: true }),
  ];
  const contacts = [inList('a@example.com', 'A', { name: 'A', score: 1, vip: true })];
  const letter = (offset: string) => ({ code: 'PROPERTY_TYPE_MISMATCH', origin: { partition: 0, offset } });
  const base = {
    posted: 3,
    acked: new Set(['1', '2', '3']),
    identifies,
    contacts,
    mismatched: new Set(['2']),
  };
  const offsetOf = (i: number) => identifies[i]?.offset as string;
  const notLettered = countDestinationRun({ ...base, deadLetters: [] });
  assert.equal(notLettered.mismatched_not_dead_lettered, 1);
  const right = countDestinationRun({ ...base, deadLetters: [letter(offsetOf(1))] });
  assert.equal(right.contacts_stale, 0);
  assert.equal(right.dead_lettered_without_cause, 0);
  assert.equal(right.mismatched_not_dead_lettered, 0);
  assert.equal(right.lost, 0);
  const takenAlong = countDestinationRun({
    ...base,
    deadLetters: [letter(offsetOf(1)), letter(offsetOf(2))],
    contacts: [inList('a@example.com', 'A', { name: 'A', score: 1 })],
  });
  assert.equal(takenAlong.dead_lettered_without_cause, 1);
});

test('the summary takes the worst run: lost, contacts wrong, recovery', () => {
  const summary = summarizeDestination('mailjet-destination', [
    { lost: 0, contacts_missing: 0, contacts_extra: 0, contacts_stale: 0, recovery_s: 3 },
    { lost: 2, contacts_missing: 1, contacts_extra: 1, contacts_stale: 1, recovery_s: null },
    { lost: 0, contacts_missing: 0, contacts_extra: 0, contacts_stale: 0, recovery_s: 5 },
  ]);
  assert.deepEqual(summary, {
    scenario: 'mailjet-destination',
    runs: 3,
    max_lost: 2,
    max_contacts_wrong: 3,
    recovery_p50_s: 3,
    recovery_max_s: 5,
  });
});
