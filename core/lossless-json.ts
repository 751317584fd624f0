/**
 * JSON parsed without losing number digits: Mailjet's MessageID and Segment's numeric ids exceed 2^53,
 * and JavaScript numbers would round them. Both intakes read bodies with it, the connector reads the
 * stored event JSON with it.
 */

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
 * JSON.parse that keeps the exact text of numbers JavaScript would round (MessageID > 2^53).
 *
 * A reviver keeps them too (parseLosslessJsonWithReviver, the reference) but costs a call per value,
 * six times the parse itself. So: one scan of the text finds the number tokens that must stay text,
 * replaces each with a marker string, plain JSON.parse reads the result, and a walk turns the markers
 * back into JSON.rawJSON values. A marker is a string starting with U+0000, which a JSON string can only
 * hold through a `\u0000` escape: a text holding one takes the reference way, so a marker is never
 * mistaken for data. Invalid text takes it too, for the reference's error message.
 */
export function parseLosslessJson(text: string): LosslessJson {
  if (text.includes('\\u0000')) return parseLosslessJsonWithReviver(text);
  const sources: string[] = [];
  let marked = '';
  let copied = 0;
  const length = text.length;
  let i = 0;
  while (i < length) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      // Strings are skipped whole: a number inside one is text, not a number.
      let end = text.indexOf('"', i + 1);
      while (end !== -1 && isEscaped(text, end)) end = text.indexOf('"', end + 1);
      if (end === -1) break; // unterminated: JSON.parse will say so
      i = end + 1;
    } else if (c === MINUS || isDigit(c)) {
      const start = i;
      const end = numberTokenEnd(text, i);
      if (end === start) {
        i++; // a lone '-': not a number, JSON.parse will refuse it
        continue;
      }
      i = end;
      if (keepsItsValue(text, start, end)) continue;
      sources.push(text.slice(start, end));
      marked += `${text.slice(copied, start)}"\\u0000${sources.length - 1}"`;
      copied = end;
    } else {
      i++;
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(sources.length === 0 ? text : marked + text.slice(copied));
  } catch {
    // The marked text is invalid exactly when the original is: the reference throws its own message.
    return parseLosslessJsonWithReviver(text);
  }
  if (sources.length === 0) return parsed;
  const markers: Markers = { sources, found: 0 };
  const result = restore(parsed, markers);
  // Every marker was found as a value. One that was not (a number where a key belongs: invalid JSON)
  // or that a later duplicate key replaced leaves the count short; the reference decides those texts.
  return markers.found === sources.length ? result : parseLosslessJsonWithReviver(text);
}

/** The same result, one reviver call per value: the reference the fast way is tested against. */
export function parseLosslessJsonWithReviver(text: string): LosslessJson {
  return JSON.parse(text, (_key, value, context?: { source?: string }) => {
    if (typeof value !== 'number' || context?.source === undefined) return value;
    // Unsafe integers are kept as text even when String() happens to print the same digits (it prints
    // the shortest text that maps to the rounded double), so no code ever computes with them.
    const unsafe = Number.isInteger(value) && !Number.isSafeInteger(value);
    return unsafe || String(value) !== context.source ? RawJson.rawJSON(context.source) : value;
  });
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;

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
  /** The number texts, the marker `\u0000<n>` standing for sources[n]. */
  sources: string[];
  found: number;
}

/** `value` with its markers turned into JSON.rawJSON values, in place for objects and arrays. */
function restore(value: unknown, markers: Markers): unknown {
  if (typeof value === 'string') {
    if (value.charCodeAt(0) !== 0) return value;
    markers.found++;
    return RawJson.rawJSON(markers.sources[Number(value.slice(1))] as string);
  }
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length && markers.found < markers.sources.length; i++) {
      const element: unknown = value[i];
      if (typeof element === 'object' ? element !== null : typeof element === 'string')
        value[i] = restore(element, markers);
    }
    return value;
  }
  const fields = value as Record<string, unknown>;
  for (const key in fields) {
    if (markers.found === markers.sources.length) break;
    const field = fields[key];
    if (typeof field === 'object' ? field !== null : typeof field === 'string')
      fields[key] = restore(field, markers);
  }
  return value;
}

/** The exact text of a JSON number or string field: `19421777835146490`, never `19421777835146488`. */
export function exactText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (RawJson.isRawJSON(value)) return value.rawJSON;
  return undefined;
}
