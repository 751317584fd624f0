/**
 * The Mailjet destination run's arithmetic, with no I/O: what the identify sender saw answered 200, the
 * identify and dead-letter topics and the local Mailjet list read back, in; the figures of one run out.
 *
 * What the list must hold follows from the identify topic, the order the destination documents: one
 * contact's calls share a key (its email), so they are in one partition, in order, and the worker
 * applies them as if one by one (each call's traits a PATCH of the contact: later values win, null
 * clears). A call the worker dead-lettered changed nothing. So each contact must hold exactly the fold
 * of its calls that were not dead-lettered; a contact in the list that no such call names is extra.
 */
import { recoveryOf } from './count.ts';

/** An identify record as the intake stored it, reduced to what the count needs. */
export interface StoredIdentify {
  messageId: string;
  partition: number;
  offset: string;
  email: string | null;
  /** The call's traits, parsed. */
  traits: Record<string, unknown>;
}

/** A dead letter of the destination: the intake's (no origin) or the worker's (the record it refused). */
export interface IdentifyDeadLetter {
  code: string;
  /** The worker's: where the refused record is in the identify topic. */
  origin?: { partition: number; offset: string };
  /** The intake's: the messageIds of the calls in the refused value, when it could be read. */
  messageIds?: string[];
}

/** A contact of the local Mailjet list. */
export interface ListContact {
  Email: string;
  Name: string;
  Properties: Record<string, unknown>;
  /** Unsubscribed from the list (the worker's `addnoforce` must never do that). */
  unsubscribed: boolean;
}

export interface DestinationRecords {
  posted: number;
  acked: ReadonlySet<string>;
  identifies: readonly StoredIdentify[];
  deadLetters: readonly IdentifyDeadLetter[];
  contacts: readonly ListContact[];
  /** Calls made to be refused (their traits do not fit the property types). */
  mismatched: ReadonlySet<string>;
}

export interface DestinationFigures {
  posted: number;
  acked: number;
  stored_total: number;
  stored_distinct: number;
  /** Identify records beyond one per messageId: a call stored twice (the sender retried an answer it lost). */
  duplicates: number;
  /** Identify records the worker dead-lettered, and the intake's dead letters. */
  dead_lettered: number;
  /** Contacts the list must hold, and those it holds. */
  contacts_expected: number;
  contacts_in_list: number;
  /** Expected contacts not in the list; contacts in it that no call asked for. */
  contacts_missing: number;
  contacts_extra: number;
  /** Contacts in the list whose Name or properties are not those of their last calls, or unsubscribed. */
  contacts_stale: number;
  /** Acked calls neither in the identify topic nor dead-lettered, or whose contact is not in the list. */
  lost: number;
  /** Dead letters that are not of a mismatched call (refused for its own values). */
  dead_lettered_without_cause: number;
  /** Acked mismatched calls that were not dead-lettered. */
  mismatched_not_dead_lettered: number;
  /** A few examples of each problem, to start the search with. */
  examples: string[];
}

const EXAMPLES = 5;

export function contactKeyOf(email: string): string {
  return email.trim().toLowerCase();
}

/** What the list must hold: contact key → expected Name and properties. */
export function expectedContacts(
  identifies: readonly StoredIdentify[],
  deadLettered: (record: StoredIdentify) => boolean,
): Map<string, { name: string; properties: Record<string, unknown> }> {
  const ordered = [...identifies].sort(
    (a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)),
  );
  const expected = new Map<string, { name: string; properties: Record<string, unknown> }>();
  for (const record of ordered) {
    if (record.email === null || record.email === '' || deadLettered(record)) continue;
    const key = contactKeyOf(record.email);
    const contact = expected.get(key) ?? { name: '', properties: {} };
    expected.set(key, contact);
    for (const [name, value] of Object.entries(record.traits)) {
      if (name === 'email') continue;
      if (value === null) delete contact.properties[name];
      else contact.properties[name] = value;
    }
    if (typeof record.traits.name === 'string') contact.name = record.traits.name;
  }
  return expected;
}

export function countDestinationRun(records: DestinationRecords): DestinationFigures {
  const examples: string[] = [];
  const example = (text: string) => {
    if (examples.length < EXAMPLES * 4) examples.push(text);
  };
  const at = (partition: number, offset: string) => `${partition}:${offset}`;
  const workerLetters = new Set<string>();
  const intakeLettered = new Set<string>();
  for (const letter of records.deadLetters) {
    if (letter.origin) workerLetters.add(at(letter.origin.partition, letter.origin.offset));
    for (const id of letter.messageIds ?? []) intakeLettered.add(id);
  }
  const isLettered = (record: StoredIdentify) => workerLetters.has(at(record.partition, record.offset));
  const expected = expectedContacts(records.identifies, isLettered);
  const inList = new Map(records.contacts.map((contact) => [contactKeyOf(contact.Email), contact]));

  const stored = new Map<string, StoredIdentify[]>();
  for (const record of records.identifies) {
    const copies = stored.get(record.messageId) ?? [];
    stored.set(record.messageId, copies);
    copies.push(record);
  }

  let lost = 0;
  for (const id of records.acked) {
    const copies = stored.get(id);
    if (!copies) {
      if (intakeLettered.has(id)) continue;
      lost++;
      example(`lost: acked call ${id} is neither in the identify topic nor dead-lettered`);
      continue;
    }
    // Every copy dead-lettered: it is in the dead-letter topic, with its reason.
    const kept = copies.filter((copy) => !isLettered(copy));
    if (kept.length === 0) continue;
    const email = kept[0]?.email;
    if (email && !inList.has(contactKeyOf(email))) {
      lost++;
      example(`lost: acked call ${id} for ${email}, which is not in the list`);
    }
  }

  let missing = 0;
  let stale = 0;
  for (const [key, want] of expected) {
    const have = inList.get(key);
    if (!have) {
      missing++;
      example(`missing: ${key}`);
      continue;
    }
    const differences = contactDifferences(want, have);
    if (differences.length > 0) {
      stale++;
      example(`stale: ${key}: ${differences.join('; ')}`);
    }
  }
  let extra = 0;
  for (const key of inList.keys()) {
    if (!expected.has(key)) {
      extra++;
      example(`extra: ${key}`);
    }
  }

  // As if the calls were sent one by one: the worker dead-letters a call whose values do not fit, and
  // only that call (not its contact's other calls of the same batch).
  const byPosition = new Map(
    records.identifies.map((record) => [at(record.partition, record.offset), record]),
  );
  let withoutCause = 0;
  for (const letter of records.deadLetters) {
    const record = letter.origin && byPosition.get(at(letter.origin.partition, letter.origin.offset));
    const caused =
      record !== undefined &&
      letter.code === 'PROPERTY_TYPE_MISMATCH' &&
      records.mismatched.has(record.messageId);
    if (!caused) {
      withoutCause++;
      example(`dead-lettered without cause: ${letter.code} ${record?.messageId ?? 'intake'}`);
    }
  }
  let mismatchedKept = 0;
  for (const id of records.mismatched) {
    if (!records.acked.has(id)) continue;
    if ((stored.get(id) ?? []).some((copy) => !isLettered(copy))) {
      mismatchedKept++;
      example(`mismatched call ${id} was not dead-lettered`);
    }
  }

  return {
    posted: records.posted,
    acked: records.acked.size,
    stored_total: records.identifies.length,
    stored_distinct: stored.size,
    duplicates: records.identifies.length - stored.size,
    dead_lettered: records.deadLetters.length,
    contacts_expected: expected.size,
    contacts_in_list: records.contacts.length,
    contacts_missing: missing,
    contacts_extra: extra,
    contacts_stale: stale,
    lost,
    dead_lettered_without_cause: withoutCause,
    mismatched_not_dead_lettered: mismatchedKept,
    examples,
  };
}

/** How a contact in the list differs from what its calls ask for; empty when it holds exactly that. */
function contactDifferences(
  want: { name: string; properties: Record<string, unknown> },
  have: ListContact,
): string[] {
  const differences: string[] = [];
  if (have.Name !== want.name)
    differences.push(`Name ${JSON.stringify(have.Name)}, want ${JSON.stringify(want.name)}`);
  if (have.unsubscribed) differences.push('unsubscribed');
  // Mailjet names properties case-insensitively; the worker creates them in lower case.
  const properties = new Map(
    Object.entries(have.Properties).map(([name, value]) => [name.toLowerCase(), value]),
  );
  for (const name of new Set([...Object.keys(want.properties), ...properties.keys()])) {
    const wanted = want.properties[name];
    const held = properties.get(name);
    if (wanted !== held) differences.push(`${name} ${JSON.stringify(held)}, want ${JSON.stringify(wanted)}`);
  }
  return differences;
}

/** One destination scenario's runs, summed up. */
export interface DestinationSummary {
  scenario: string;
  runs: number;
  max_lost: number;
  /** The most contacts missing, extra or stale in one run. */
  max_contacts_wrong: number;
  recovery_p50_s: number | null;
  recovery_max_s: number | null;
}

export function summarizeDestination(
  scenario: string,
  runs: readonly (Pick<
    DestinationFigures,
    'lost' | 'contacts_missing' | 'contacts_extra' | 'contacts_stale'
  > & { recovery_s: number | null })[],
): DestinationSummary {
  return {
    scenario,
    runs: runs.length,
    max_lost: Math.max(0, ...runs.map((run) => run.lost)),
    max_contacts_wrong: Math.max(
      0,
      ...runs.map((run) => run.contacts_missing + run.contacts_extra + run.contacts_stale),
    ),
    ...recoveryOf(runs),
  };
}
