/**
 * JSON parsed without losing number digits: Mailjet's MessageID and Segment's numeric ids exceed 2^53,
 * and JavaScript numbers would round them. Both intakes read bodies with it, the connector reads the
 * stored event JSON with it.
 */
import { isUtf8 } from 'node:buffer';

/**
 * A JSON value parsed without losing number digits: integers beyond 2^53 (every MessageID) and any
 * number whose text would not survive a round trip stay `JSON.rawJSON` values, which JSON.stringify
 * writes back verbatim.
 */
export type LosslessJson = unknown;

/** JSON.parse source text access (ES2026, in Node since 21); TypeScript's lib does not declare it yet. */
const RawJson = JSON as JSON & {
  rawJSON(text: string): unknown;
  isRawJSON(value: unknown): value is { rawJSON: string };
};

/**
 * How deep an event or an identify call may nest objects and arrays. No Mailjet event nests more than
 * three levels and Segment traits rarely more than five, so 64 refuses nothing real, while it bounds
 * every recursive walk of what was read: V8's JSON.stringify recurses once per level when the value
 * holds a JSON.rawJSON number (every MessageID), and overflows the stack at a few thousand levels.
 * Both intakes dead-letter what nests deeper (JSON_TOO_DEEP); not a setting, since nothing legitimate
 * needs more.
 */
export const MAX_JSON_DEPTH = 64;

/** A text nests objects and arrays deeper than allowed; thrown before any of it is parsed. */
export class JsonTooDeepError extends Error {
  override readonly name = 'JsonTooDeepError';
  readonly maxDepth: number;

  constructor(maxDepth: number) {
    super(`nests deeper than ${maxDepth} levels of objects and arrays`);
    this.maxDepth = maxDepth;
  }
}

/**
 * A value that parseLosslessJsonBounded did not parse because it nests past the limit: the text as
 * received. JSON.stringify refuses it (the text would be lost); stringifyLosslessJson writes it back.
 */
export class TooDeepJson {
  readonly text: string;
  readonly maxDepth: number;

  constructor(text: string, maxDepth: number) {
    this.text = text;
    this.maxDepth = maxDepth;
  }

  toJSON(): string {
    if (cutTexts === undefined) throw new JsonTooDeepError(this.maxDepth);
    cutTexts.texts.push(this.text);
    return `\u0000${cutTexts.mark}${cutTexts.texts.length - 1}`;
  }
}

/**
 * JSON.parse that keeps the exact text of numbers JavaScript would round (MessageID > 2^53), for texts
 * nesting at most `maxDepth` levels: a deeper one throws JsonTooDeepError, found before anything is
 * parsed, so no walk of the result (this one's, JSON.stringify's) can overflow the stack.
 *
 * A reviver keeps the digits too (parseLosslessJsonWithReviver, the reference) but costs a call per
 * value, six times the parse itself. So: one scan of the text finds the number tokens that must stay
 * text, replaces each with a marker string, plain JSON.parse reads the result, and a walk turns the
 * markers back into JSON.rawJSON values. A marker is a string starting with U+0000, which a JSON string
 * can only hold through a `\u0000` escape: a text holding one takes the reference way, so a marker is
 * never mistaken for data. Invalid text takes it too, for the reference's error message. The same scan
 * counts the brackets outside strings: that is the depth.
 */
export function parseLosslessJson(
  text: string,
  { maxDepth = MAX_JSON_DEPTH }: { maxDepth?: number } = {},
): LosslessJson {
  return parseScanned(text, scan(text, maxDepth, 'refuse'));
}

/**
 * parseLosslessJson for a body whose parts are judged one by one: a value starting past `maxDepth`
 * levels is not parsed but kept as a TooDeepJson holding its text, so the rest of the body is still
 * read, and `depth` says how deep the text went (exceedsDepth finds which part did). The text inside a
 * cut value is only scanned for brackets and strings, never checked as JSON: whatever holds it is
 * refused anyway. Never throws JsonTooDeepError, whatever the depth.
 */
export function parseLosslessJsonBounded(
  text: string,
  maxDepth: number,
): { value: LosslessJson; depth: number } {
  const scanned = scan(text, maxDepth, 'cut');
  return { value: parseScanned(text, scanned), depth: scanned.depth };
}

/** A request body read by readJsonBody, or why it cannot be read at all. */
export type JsonBody =
  | { ok: true; value: LosslessJson; mayBeTooDeep: boolean }
  | { ok: false; reason: string };

/**
 * Parses a request body whose items (webhook events, identify calls) may nest MAX_JSON_DEPTH levels
 * inside `envelopeLevels` levels of envelope (a grouped body's array; a batch object and its array).
 * Only a body reaching past the limit can hold an item that does: `mayBeTooDeep` says whether each item
 * must be measured (exceedsDepth). A body that is not JSON is refused whole with the reason.
 */
export function readJsonBody(body: Buffer, envelopeLevels: number): JsonBody {
  // RFC 8259 §8.1: JSON exchanged between systems is UTF-8. Decoding other bytes would replace them
  // with U+FFFD and store a text nobody sent; refused, the body is kept whole as received.
  if (!isUtf8(body)) {
    return { ok: false, reason: 'Invalid JSON: the body is not UTF-8 (RFC 8259 requires it)' };
  }
  try {
    const { value, depth } = parseLosslessJsonBounded(body.toString('utf8'), MAX_JSON_DEPTH + envelopeLevels);
    return { ok: true, value, mayBeTooDeep: depth > MAX_JSON_DEPTH };
  } catch (err) {
    const detail = body.length === 0 ? 'the body is empty' : (err as Error).message;
    return { ok: false, reason: `Invalid JSON: ${detail}` };
  }
}

/** Why an input was refused for nesting, in the same words wherever a body is read. */
export function tooDeepReason(where: string): string {
  return `${where}: nests deeper than ${MAX_JSON_DEPTH} levels of objects and arrays`;
}

/** Whether `value` nests deeper than `maxDepth` levels or holds a TooDeepJson. Iterative. */
export function exceedsDepth(value: unknown, maxDepth: number): boolean {
  const stack: { value: unknown; depth: number }[] = [{ value, depth: 0 }];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    if (item.value instanceof TooDeepJson) return true;
    if (typeof item.value !== 'object' || item.value === null || RawJson.isRawJSON(item.value)) continue;
    const depth = item.depth + 1;
    if (depth > maxDepth) return true;
    const children = Array.isArray(item.value) ? item.value : Object.values(item.value);
    for (const child of children) {
      if (typeof child === 'object' && child !== null) stack.push({ value: child, depth });
    }
  }
  return false;
}

/**
 * The TooDeepJson texts of the stringifyLosslessJson call under way (JSON.stringify is synchronous),
 * and what follows U+0000 in their markers.
 */
let cutTexts: { texts: string[]; mark: string } | undefined;

/**
 * JSON.stringify that writes a TooDeepJson back as the text received: what a dead letter of a part
 * that nests too deep holds. Bounded: whatever was parsed nests at most the limit it was parsed with.
 */
export function stringifyLosslessJson(value: LosslessJson): string {
  const texts: string[] = [];
  // A marker is written as the string `\u0000<mark><n>`: no string of the value may be written so. Only
  // a text with a `\u0000` escape gives strings holding U+0000; then the mark is a `~<n>~` none holds.
  const strings = stringsOf(value);
  const mark = strings.includes('\u0000') ? absentMark(strings) : '';
  cutTexts = { texts, mark };
  let json: string;
  try {
    json = JSON.stringify(value) ?? 'null';
  } finally {
    cutTexts = undefined;
  }
  if (texts.length === 0) return json;
  return json.replace(new RegExp(`"\\\\u0000${mark}(\\d+)"`, 'g'), (_, n) => texts[Number(n)] as string);
}

/** Every key and string of a value, one a line (no `~<n>~` spans two); TooDeepJson texts left out. */
function stringsOf(value: unknown): string {
  const strings: string[] = [];
  const stack: unknown[] = [value];
  for (let item = stack.pop(); item !== undefined || stack.length > 0; item = stack.pop()) {
    if (typeof item === 'string') strings.push(item);
    else if (typeof item !== 'object' || item === null || item instanceof TooDeepJson) continue;
    else if (RawJson.isRawJSON(item)) continue;
    else if (Array.isArray(item)) for (const element of item) stack.push(element);
    else
      for (const [key, field] of Object.entries(item)) {
        strings.push(key);
        stack.push(field);
      }
  }
  return strings.join('\n');
}

interface Scanned {
  /** The text with numbers and cut values replaced by markers; undefined when nothing was replaced. */
  marked: string | undefined;
  /** The number texts, the marker `\u0000<n>` standing for numbers[n]. */
  numbers: string[];
  /** The texts of values past the limit, the marker `\u0000~<n>` standing for cuts[n]. */
  cuts: string[];
  maxDepth: number;
  /** The deepest level of objects and arrays the text reaches. */
  depth: number;
  /** A `\u0000` escape: markers could be mistaken for data, so the reference reads the text. */
  hasNul: boolean;
  /** What follows `\u0000` in a cut's marker: `~`, or with a `\u0000` escape a `~<n>~` the text lacks. */
  cutMark: string;
}

/**
 * One pass over the text: number tokens JavaScript would change, the depth, and (`cut`) the values
 * starting past `maxDepth`, each replaced by a marker; `refuse` throws at the first level too many.
 */
function scan(text: string, maxDepth: number, past: 'cut' | 'refuse'): Scanned {
  const hasNul = text.includes('\\u0000');
  const cutMark = hasNul ? absentMark(text) : '~';
  const numbers: string[] = [];
  const cuts: string[] = [];
  let marked = '';
  let copied = 0;
  let depth = 0;
  let deepest = 0;
  let cutStart = -1;
  const length = text.length;
  let i = 0;
  while (i < length) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      // Strings are skipped whole: a number or a bracket inside one is text.
      let end = text.indexOf('"', i + 1);
      while (end !== -1 && isEscaped(text, end)) end = text.indexOf('"', end + 1);
      if (end === -1) break; // unterminated: JSON.parse will say so
      i = end + 1;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      i++;
      if (++depth > deepest) deepest = depth;
      if (depth <= maxDepth || cutStart !== -1) continue;
      if (past === 'refuse') throw new JsonTooDeepError(maxDepth);
      cutStart = i - 1;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      i++;
      if (--depth !== maxDepth || cutStart === -1) continue;
      cuts.push(text.slice(cutStart, i));
      marked += `${text.slice(copied, cutStart)}"\\u0000${cutMark}${cuts.length - 1}"`;
      copied = i;
      cutStart = -1;
    } else if ((c === MINUS || isDigit(c)) && cutStart === -1 && !hasNul) {
      const start = i;
      const end = numberTokenEnd(text, i);
      if (end === start) {
        i++; // a lone '-': not a number, JSON.parse will refuse it
        continue;
      }
      i = end;
      if (keepsItsValue(text, start, end)) continue;
      numbers.push(text.slice(start, end));
      marked += `${text.slice(copied, start)}"\\u0000${numbers.length - 1}"`;
      copied = end;
    } else {
      i++;
    }
  }
  return {
    marked: copied === 0 ? undefined : marked + text.slice(copied),
    numbers,
    cuts,
    maxDepth,
    depth: deepest,
    hasNul,
    cutMark,
  };
}

/**
 * `~<n>~` for the first n the text does not contain: no string of the text can then be written as a
 * cut's marker, so a string whose source text is one is a marker (parseCutWithReviver).
 */
function absentMark(text: string): string {
  let n = 0;
  while (text.includes(`~${n}~`)) n++;
  return `~${n}~`;
}

function parseScanned(text: string, scanned: Scanned): LosslessJson {
  const { numbers, cuts } = scanned;
  if (scanned.hasNul) {
    // As deep as the text, or with cuts as deep as the limit: within the reference's recursion.
    return cuts.length > 0 ? parseCutWithReviver(text, scanned) : parseLosslessJsonWithReviver(text);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(scanned.marked ?? text);
  } catch (err) {
    // The marked text is invalid only when the original is: the reference throws its own message. With
    // cuts the original is too deep for the reference's recursion, but JSON.parse alone is iterative.
    if (cuts.length === 0) return parseLosslessJsonWithReviver(text);
    JSON.parse(text);
    throw err;
  }
  if (scanned.marked === undefined) return parsed;
  const markers: Markers = { numbers, cuts, maxDepth: scanned.maxDepth, found: 0 };
  const result = restore(parsed, markers);
  // Every marker was found as a value. One that was not (a number where a key belongs: invalid JSON)
  // or that a later duplicate key replaced leaves the count short. With cuts, the reference cannot read
  // the text (its recursion), but JSON.parse alone can: valid text lost markers to duplicate keys only,
  // and the result holds what JSON.parse keeps, each key's last value. Without, the reference decides.
  if (markers.found === numbers.length + cuts.length) return result;
  if (cuts.length > 0) {
    JSON.parse(text); // throws when the text is invalid
    return result;
  }
  return parseLosslessJsonWithReviver(text);
}

/** The same result, one reviver call per value: the reference the fast way is tested against. */
export function parseLosslessJsonWithReviver(text: string): LosslessJson {
  return JSON.parse(text, (_key, value, context?: { source?: string }) => keepDigits(value, context?.source));
}

/** The reviver's rule for a number: JSON.rawJSON of its source text when JavaScript would change it. */
function keepDigits(value: unknown, source: string | undefined): unknown {
  if (typeof value !== 'number' || source === undefined) return value;
  // Unsafe integers are kept as text even when String() happens to print the same digits (it prints
  // the shortest text that maps to the rounded double), so no code ever computes with them.
  const unsafe = Number.isInteger(value) && !Number.isSafeInteger(value);
  return unsafe || String(value) !== source ? RawJson.rawJSON(source) : value;
}

/**
 * A text holding a `\u0000` escape with values past the limit: the marked text (cuts replaced, numbers
 * not) read by the reference, which tells a cut's marker from data by its source text, which no string
 * of the original text can have (absentMark). Bounded: the marked text nests at most the limit.
 */
function parseCutWithReviver(text: string, { marked, cuts, maxDepth, cutMark }: Scanned): LosslessJson {
  const marker = `"\\u0000${cutMark}`;
  try {
    return JSON.parse(marked as string, (_key, value, context?: { source?: string }) => {
      const source = context?.source;
      if (typeof value !== 'string') return keepDigits(value, source);
      if (source === undefined || !source.startsWith(marker)) return value;
      return new TooDeepJson(cuts[Number(source.slice(marker.length, -1))] as string, maxDepth);
    });
  } catch (err) {
    JSON.parse(text); // the original's own error, when it is the invalid one
    throw err;
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const TILDE = 0x7e;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

const isDigit = (c: number) => c >= ZERO && c <= 0x39;

/** Whether the quote at `at` is escaped: preceded by an odd number of backslashes. */
function isEscaped(text: string, at: number): boolean {
  let backslashes = 0;
  while (text.charCodeAt(at - 1 - backslashes) === BACKSLASH) backslashes++;
  return backslashes % 2 === 1;
}

/**
 * The end of the JSON number token at `start` (RFC 8259: -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?), or
 * `start` when there is none. A token JSON.parse would refuse (01, 1., 1e) ends early: what follows
 * then makes the marked text invalid as well.
 */
function numberTokenEnd(text: string, start: number): number {
  let i = start;
  if (text.charCodeAt(i) === MINUS) i++;
  const first = text.charCodeAt(i);
  if (first === ZERO) i++;
  else if (isDigit(first)) while (isDigit(text.charCodeAt(++i)));
  else return start;
  if (text.charCodeAt(i) === DOT && isDigit(text.charCodeAt(i + 1))) {
    i += 2;
    while (isDigit(text.charCodeAt(i))) i++;
  }
  const e = text.charCodeAt(i);
  if (e === 0x65 || e === 0x45) {
    let j = i + 1;
    const sign = text.charCodeAt(j);
    if (sign === PLUS || sign === MINUS) j++;
    if (isDigit(text.charCodeAt(j))) {
      while (isDigit(text.charCodeAt(++j)));
      i = j;
    }
  }
  return i;
}

/**
 * Whether JSON.parse's number is exact: the reviver's rule (a safe value that String() prints as the
 * same text). Integers of up to 15 digits always are, but -0; they are most numbers, so they skip
 * the conversion.
 */
function keepsItsValue(text: string, start: number, end: number): boolean {
  const negative = text.charCodeAt(start) === MINUS;
  let i = negative ? start + 1 : start;
  if (end - i <= 15) {
    while (i < end && isDigit(text.charCodeAt(i))) i++;
    if (i === end) return !(negative && end - start === 2 && text.charCodeAt(end - 1) === ZERO);
  }
  const source = text.slice(start, end);
  const value = Number(source);
  const unsafe = Number.isInteger(value) && !Number.isSafeInteger(value);
  return !unsafe && String(value) === source;
}

interface Markers {
  numbers: string[];
  cuts: string[];
  maxDepth: number;
  found: number;
}

/** `value` with its markers turned into JSON.rawJSON and TooDeepJson values, in place. Iterative. */
function restore(value: unknown, markers: Markers): unknown {
  if (typeof value === 'string') return isMarker(value) ? revive(value, markers) : value;
  const total = markers.numbers.length + markers.cuts.length;
  const stack: unknown[] = [value];
  for (let container = stack.pop(); container !== undefined; container = stack.pop()) {
    if (markers.found === total) break;
    if (typeof container !== 'object' || container === null) continue;
    if (Array.isArray(container)) {
      for (let i = 0; i < container.length; i++) {
        const element: unknown = container[i];
        if (typeof element === 'string') {
          if (isMarker(element)) container[i] = revive(element, markers);
        } else if (typeof element === 'object' && element !== null) stack.push(element);
      }
      continue;
    }
    const fields = container as Record<string, unknown>;
    for (const key in fields) {
      const field = fields[key];
      if (typeof field === 'string') {
        if (isMarker(field)) fields[key] = revive(field, markers);
      } else if (typeof field === 'object' && field !== null) stack.push(field);
    }
  }
  return value;
}

const isMarker = (value: string) => value.charCodeAt(0) === 0;

function revive(marker: string, markers: Markers): unknown {
  markers.found++;
  if (marker.charCodeAt(1) === TILDE) {
    return new TooDeepJson(markers.cuts[Number(marker.slice(2))] as string, markers.maxDepth);
  }
  return RawJson.rawJSON(markers.numbers[Number(marker.slice(1))] as string);
}

/**
 * Whether a parsed value is a JSON object: not null, not an array, not a number kept as text (a
 * JSON.rawJSON value, an object to `typeof`) and not a value past the limit kept as text (TooDeepJson).
 */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    !RawJson.isRawJSON(value) &&
    !(value instanceof TooDeepJson)
  );
}

/** Whether `value` is a number kept as text (a JSON.rawJSON value): an object, but not a JSON object. */
export function isRawJson(value: unknown): value is { rawJSON: string } {
  return RawJson.isRawJSON(value);
}

/** The exact text of a JSON number or string field: `19421777835146490`, never `19421777835146488`. */
export function exactText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (RawJson.isRawJSON(value)) return value.rawJSON;
  return undefined;
}
