/**
 * Segment identify → Mailjet contact: pure functions, no I/O. A contact is keyed by email; its traits
 * become contact properties with names Mailjet keeps (lower-case snake_case) and a data type inferred
 * from the value the first time a property is seen. Mailjet types are `str`, `int`, `float`, `bool` and
 * `datetime`; a property, once created, keeps its type, so later values are fitted to it or refused.
 */
import { isRawJson, JsonTooDeepError, parseLosslessJson } from '../core/lossless-json.ts';
import type { SegmentIdentify } from '../schemas/index.ts';

export type MailjetDatatype = 'str' | 'int' | 'float' | 'bool' | 'datetime';
export type PropertyValue = string | number | boolean | null;

export interface ContactUpdate {
  /** As the call gave it (trimmed); contacts are matched case-insensitively by `contactKey`. */
  email: string;
  /** Mailjet's contact Name: `name` trait, else first and last name. */
  name?: string;
  /** Property name → value; null clears the property. */
  properties: Record<string, PropertyValue>;
}

export type ContactMapping =
  | { ok: true; update: ContactUpdate }
  | { ok: false; reason: 'no-email' }
  | { ok: false; reason: 'invalid'; message: string };

/** Traits that are the contact itself, not properties of it. */
const CONTACT_TRAITS = new Set(['email']);

/** Nested trait objects deeper than this are stored as JSON text instead of being flattened further. */
const MAX_FLATTEN_DEPTH = 3;

const ISO_DATETIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?$/;

/**
 * `firstName`, `first_name`, `First Name` and `first-name` all become `first_name`: Segment allows both
 * casings for reserved traits, and Mailjet stores property names in lower case, so names that differ
 * only in case or separators would collide there anyway.
 */
export function propertyName(path: readonly string[]): string {
  return path
    .map((part) =>
      part
        .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
        .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, '_')
        .replace(/^_+|_+$/g, ''),
    )
    .filter((part) => part !== '')
    .join('_');
}

/** The Mailjet type a property gets when this is the first value seen for it; undefined for null. */
export function inferDatatype(value: PropertyValue): MailjetDatatype | undefined {
  if (value === null) return undefined;
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float';
  return ISO_DATETIME.test(value) && !Number.isNaN(Date.parse(value)) ? 'datetime' : 'str';
}

/**
 * The value as Mailjet takes it for a property of `datatype`, or undefined when it does not fit.
 * Only lossless conversions: any scalar into `str` as its text, integers into `float`, ISO 8601 text
 * into `datetime` (as RFC 3339 in UTC). Text is never parsed into a number or a boolean.
 */
export function fitValue(value: PropertyValue, datatype: MailjetDatatype): PropertyValue | undefined {
  if (value === null) return null;
  switch (datatype) {
    case 'str':
      return typeof value === 'string' ? value : String(value);
    case 'int':
      return typeof value === 'number' && Number.isSafeInteger(value) ? value : undefined;
    case 'float':
      return typeof value === 'number' ? value : undefined;
    case 'bool':
      return typeof value === 'boolean' ? value : undefined;
    case 'datetime':
      if (typeof value !== 'string' || inferDatatype(value) !== 'datetime') return undefined;
      return `${new Date(value).toISOString().slice(0, 19)}Z`;
  }
}

/** The contact update an identify call asks for; calls without an email update no Mailjet contact. */
export function contactUpdateOf(identify: SegmentIdentify): ContactMapping {
  if (identify.email === null || identify.email === '') return { ok: false, reason: 'no-email' };
  let traits: unknown;
  try {
    // Lossless, as the intake read them: a trait above 2^53 keeps its digits (see propertyValueOf).
    traits = parseLosslessJson(identify.traits_json);
  } catch (err) {
    const message =
      err instanceof JsonTooDeepError
        ? `traits_json ${err.message}`
        : `traits_json is not JSON: ${(err as Error).message}`;
    return { ok: false, reason: 'invalid', message };
  }
  if (!isObject(traits))
    return { ok: false, reason: 'invalid', message: 'traits_json is not a JSON object.' };
  const properties: Record<string, PropertyValue> = {};
  flatten(traits, [], 0, properties);
  const update: ContactUpdate = { email: identify.email.trim(), properties };
  const name = contactName(traits);
  if (name !== undefined) update.name = name;
  return { ok: true, update };
}

function flatten(
  object: Record<string, unknown>,
  path: string[],
  depth: number,
  into: Record<string, PropertyValue>,
): void {
  for (const [key, value] of Object.entries(object)) {
    if (depth === 0 && CONTACT_TRAITS.has(key.toLowerCase())) continue;
    const keyPath = [...path, key];
    if (value === undefined) continue;
    if (isObject(value) && depth + 1 < MAX_FLATTEN_DEPTH) {
      flatten(value, keyPath, depth + 1, into);
      continue;
    }
    const name = propertyName(keyPath);
    if (name === '') continue;
    into[name] = propertyValueOf(value);
  }
}

function propertyValueOf(value: unknown): PropertyValue {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return value;
  if (isRawJson(value)) return exactNumber(value.rawJSON);
  // Arrays and objects past the flattening depth: kept whole, as JSON text (bounded: the traits nest
  // at most MAX_JSON_DEPTH levels, and numbers in them keep their digits).
  return JSON.stringify(value);
}

/**
 * A number whose text JavaScript would change. Mailjet's int and float hold what a JavaScript number
 * holds, so an integer above 2^53 (an id) or out of range goes as its exact text: a new property is
 * then typed `str`, and an existing `int` or `float` one refuses it (PROPERTY_TYPE_MISMATCH) instead of
 * storing a rounded id. A fraction goes as the nearest number, as any float would.
 */
function exactNumber(text: string): PropertyValue {
  const number = Number(text);
  if (Number.isSafeInteger(number) || (Number.isFinite(number) && !Number.isInteger(number))) return number;
  return text;
}

function contactName(traits: Record<string, unknown>): string | undefined {
  const text = (value: unknown) =>
    typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
  const name = text(traits.name);
  if (name) return name;
  const first = text(traits.firstName ?? traits.first_name);
  const last = text(traits.lastName ?? traits.last_name);
  const joined = [first, last].filter(Boolean).join(' ');
  return joined === '' ? undefined : joined;
}

/** Mailjet matches contacts by email regardless of case. */
export function contactKey(email: string): string {
  return email.trim().toLowerCase();
}

/**
 * Folds the updates of one batch into one per contact, in order: a later call's properties override an
 * earlier one's, as they would if sent one by one, but Mailjet gets one write per contact.
 */
export function mergeUpdates<T>(
  items: readonly { update: ContactUpdate; origin: T }[],
): { update: ContactUpdate; origins: T[] }[] {
  const merged = new Map<string, { update: ContactUpdate; origins: T[] }>();
  for (const { update, origin } of items) {
    const key = contactKey(update.email);
    const existing = merged.get(key);
    if (!existing) {
      merged.set(key, { update: { ...update, properties: { ...update.properties } }, origins: [origin] });
      continue;
    }
    Object.assign(existing.update.properties, update.properties);
    if (update.name !== undefined) existing.update.name = update.name;
    existing.update.email = update.email;
    existing.origins.push(origin);
  }
  return [...merged.values()];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !isRawJson(value);
}
