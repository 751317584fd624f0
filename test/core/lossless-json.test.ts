import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import {
  exceedsDepth,
  parseLosslessJson,
  parseLosslessJsonBounded,
  parseLosslessJsonWithReviver,
  stringifyLosslessJson,
} from '../../core/lossless-json.ts';
import { groupedBody, mailjetSamples } from '../fixtures/mailjet-events.ts';

const isRawJson = (JSON as JSON & { isRawJSON(value: unknown): value is { rawJSON: string } }).isRawJSON;

/**
 * What a parse produced, in a form where every difference shows: JSON.stringify alone writes
 * 9007199254740992 the same whether it was kept as text or became a number.
 */
function outcome(
  parse: (text: string) => unknown,
  text: string,
): { json?: string; shape?: string; error?: string } {
  let value: unknown;
  try {
    value = parse(text);
  } catch (err) {
    assert.ok(err instanceof SyntaxError, `only SyntaxError is thrown, got ${err}`);
    return { error: err.message };
  }
  const shape = JSON.stringify(value, (_key, field: unknown) => {
    if (isRawJson(field)) return { '#raw': field.rawJSON };
    if (typeof field === 'number') return { '#number': Object.is(field, -0) ? '-0' : String(field) };
    return field;
  });
  return { json: JSON.stringify(value), shape };
}

/** The fast parser against the reviver reference, and how often the fast one fell back to it. */
function compare(t: TestContext, text: string): { fellBack: boolean } {
  const expected = outcome(parseLosslessJsonWithReviver, text);
  const parse = t.mock.method(JSON, 'parse');
  const actual = outcome(parseLosslessJson, text);
  const fellBack = parse.mock.calls.some((call) => call.arguments.length > 1);
  parse.mock.restore();
  assert.deepEqual(actual, expected, `same outcome for ${JSON.stringify(text)}`);
  return { fellBack };
}

/** mulberry32: a tiny seeded PRNG, so the generated documents are the same on every run. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const TRICKY_NUMBERS = [
  '0',
  '-0',
  '0.0',
  '-0.0',
  '1.50',
  '1.5',
  '0.1',
  '1e400',
  '-1e400',
  '1e-400',
  '1E2',
  '1e+2',
  '1e-7',
  '1e21',
  '1e20',
  '5e-324',
  '2.2250738585072014e-308',
  '9007199254740991',
  '-9007199254740991',
  '9007199254740992',
  '9007199254740993',
  '-9007199254740993',
  '19421777835146490',
  '123456789012345678901',
  '100000000000000000000000',
  '999999999999999',
  '1000000000000000',
  '0.30000000000000004',
  '123.456e-7',
  '-12.5E+3',
];

const STRING_PIECES = [
  'plain',
  '12345678901234567890',
  '-0',
  '1.50',
  '\\"',
  '\\\\',
  '\\\\\\"',
  '\\/',
  '\\n',
  '\\t',
  '\\u00e9',
  '\\uD83D\\uDE00',
  'é€😀',
  ',:[]{}',
  ' ',
  'MessageID',
];

/** A random JSON document as text, numbers written as tokens so their exact text is on trial. */
function generateDocument(random: () => number): string {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const space = () => (random() < 0.2 ? pick([' ', '\n', '\t ', '\r\n  ']) : '');
  const randomNumber = () => {
    const digits = Array.from({ length: 1 + Math.floor(random() * 24) }, (_, i) =>
      i === 0 ? String(1 + Math.floor(random() * 9)) : String(Math.floor(random() * 10)),
    ).join('');
    const sign = random() < 0.3 ? '-' : '';
    const fraction = random() < 0.3 ? `.${Math.floor(random() * 1000)}${random() < 0.3 ? '0' : ''}` : '';
    const exponent =
      random() < 0.2 ? `${pick(['e', 'E'])}${pick(['', '+', '-'])}${Math.floor(random() * 400)}` : '';
    return `${sign}${random() < 0.1 ? '0' : digits}${fraction}${exponent}`;
  };
  const string = () =>
    `"${Array.from({ length: Math.floor(random() * 4) }, () => pick(STRING_PIECES)).join('')}"`;
  const value = (depth: number): string => {
    const kind = random();
    if (kind < 0.25) return pick(TRICKY_NUMBERS);
    if (kind < 0.4) return randomNumber();
    if (kind < 0.6) return string();
    if (kind < 0.67) return pick(['true', 'false', 'null']);
    if (depth > 3) return randomNumber();
    const size = Math.floor(random() * 5);
    if (kind < 0.8) {
      const elements = Array.from({ length: size }, () => `${space()}${value(depth + 1)}${space()}`);
      return `[${elements.join(',')}]`;
    }
    // Keys differ within an object: a duplicate key is an edge case of its own, tested above.
    const keys = ['"event"', '"MessageID"', '"time"', '"a"', '"__proto__"', '"1"', '"\\u00e9"'];
    const fields = Array.from({ length: size }, (_, n) => {
      const key = keys.splice(Math.floor(random() * keys.length), 1)[0] ?? `"k${n}"`;
      return `${space()}${key}${space()}:${space()}${value(depth + 1)}`;
    });
    return `{${fields.join(',')}}`;
  };
  return `${space()}${value(0)}${space()}`;
}

/** Ways to break a document, each a kind of invalid JSON a webhook could carry. */
function breakDocument(text: string, random: () => number): string {
  const at = Math.floor(random() * (text.length + 1));
  switch (Math.floor(random() * 6)) {
    case 0:
      return text.slice(0, at);
    case 1:
      return `{12345678901234567890${text.length > 0 ? ':' : ''}${text}}`;
    case 2:
      return `${text.slice(0, at)}${['01', '1.', '-', '.5', '+1', '1e', '--1'][Math.floor(random() * 7)]}${text.slice(at)}`;
    case 3:
      return `${text.slice(0, at)},${text.slice(at)}`;
    case 4:
      return `${text.slice(0, at)}"${text.slice(at)}`;
    default:
      return `${text.slice(0, at)}\u0001${text.slice(at)}`;
  }
}

test('every Mailjet sample parses as with the reviver, without falling back to it', (t) => {
  const bodies = [...Object.values(mailjetSamples), groupedBody(), `[${groupedBody()},${groupedBody()}]`];
  for (const body of bodies) assert.equal(compare(t, body).fellBack, false, body);
});

test('numbers that JavaScript would change keep their text; the others become numbers', () => {
  const parsed = parseLosslessJson(
    '[19421777835146490, 9007199254740992, -0, 1.50, 1e400, 1E2, 0.1, -12, 9007199254740991, "1.50"]',
  ) as unknown[];
  assert.deepEqual(
    parsed.map((value) => (isRawJson(value) ? `raw ${value.rawJSON}` : value)),
    [
      'raw 19421777835146490',
      'raw 9007199254740992',
      'raw -0',
      'raw 1.50',
      'raw 1e400',
      'raw 1E2',
      0.1,
      -12,
      9007199254740991,
      '1.50',
    ],
  );
});

test('edge cases parse, or fail, exactly as with the reviver', (t) => {
  const cases = [
    '12345678901234567890',
    '  -0  ',
    '"12345678901234567890"',
    '{"a":12345678901234567890,"a":1}',
    '{"a":1,"a":12345678901234567890}',
    '{"__proto__":12345678901234567890,"b":{"__proto__":[1.50]}}',
    '["\\u0000", 12345678901234567890]',
    '{"\\u00001":12345678901234567890}',
    '"\\\\u0000"',
    '{"a":"\\\\"} 12345678901234567890',
    '{"a":"x\\\\\\"12345678901234567890"}',
    '[[[[[[1.50]]]]], {"x":{"y":{"z":[-0.0]}}}]',
    '{"é€😀":"\\u00e9","n":1.10}',
    '',
    ' ',
    '{12345678901234567890:1}',
    '{"a":1,12345678901234567890:1}',
    '{"a" 12345678901234567890}',
    '[12345678901234567890',
    '[1.50,]',
    '[01]',
    '[012345678901234567890]',
    '[-]',
    '[1.]',
    '[.5]',
    '[1e]',
    '[+1]',
    '[NaN, Infinity]',
    '"unterminated 12345678901234567890',
    '[1.50] x',
    '[1.50]]',
    '{"a":12345678901234567890}}',
    '12345678901234567890 12345678901234567890',
  ];
  for (const text of cases) compare(t, text);
});

test('500 generated documents and 500 broken ones parse, or fail, exactly as with the reviver', (t) => {
  const random = prng(20_260_526);
  let fastWay = 0;
  let withNul = 0;
  for (let i = 0; i < 500; i++) {
    const text = generateDocument(random);
    const { fellBack } = compare(t, text);
    if (fellBack)
      assert.ok(text.includes('\\u0000'), `only a \\u0000 escape sends valid JSON to the reviver: ${text}`);
    else fastWay++;
    compare(t, breakDocument(text, random));
    const nul = `[${text},"\\u0000${i}"]`;
    assert.equal(compare(t, nul).fellBack, true, 'a text holding \\u0000 goes to the reviver');
    withNul++;
  }
  t.diagnostic(
    `generated: ${fastWay} of 500 valid documents parsed the fast way, ${withNul} with \\u0000 by the reviver`,
  );
  assert.equal(fastWay, 500);
});

/** `depth` nested arrays around nothing: `[[…]]`. */
const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

test('deep input never overflows the stack: past the limit it is refused with JsonTooDeepError', () => {
  // What broke: the restore walk (and the reviver) recursed once per level: a RangeError at a few thousand.
  for (const depth of [65, 6000, 1_000_000]) {
    for (const text of [
      `{"x":${nested(depth - 1)},"MessageID":19421777835146490}`,
      `["\\u0000",${nested(depth - 1)}]`,
      `{"x":${nested(depth - 1)}`,
    ]) {
      assert.throws(
        () => parseLosslessJson(text),
        (err: Error) => err.name === 'JsonTooDeepError' && /deeper than 64 levels/.test(err.message),
        `${depth} levels`,
      );
    }
  }
  const limit = parseLosslessJson(`{"x":${nested(63)},"MessageID":19421777835146490}`) as {
    MessageID: unknown;
  };
  assert.ok(
    isRawJson(limit.MessageID) && limit.MessageID.rawJSON === '19421777835146490',
    'exact digits at the limit',
  );
  assert.throws(() => parseLosslessJson('[[[1]]]', { maxDepth: 2 }), { name: 'JsonTooDeepError' });
  assert.deepEqual(parseLosslessJson('[[[1]]]', { maxDepth: 3 }), [[[1]]]);
});

test('parseLosslessJsonBounded keeps values past the limit as the text received, and measures the depth', () => {
  const deep = `{"MessageID":19421777835146491,"x":[[${nested(6000)}]],"y":"]"}`;
  const text = `[{"MessageID":19421777835146490},${deep},[1.50],[[[[-0]]],[[[[[1]]]]]]]`;
  const { value, depth } = parseLosslessJsonBounded(text, 3);
  assert.equal(depth, 6004);
  const [first, second, third] = value as [Record<string, unknown>, Record<string, unknown>, unknown[]];
  assert.ok(isRawJson(first.MessageID) && first.MessageID.rawJSON === '19421777835146490');
  assert.ok(isRawJson(second.MessageID) && second.MessageID.rawJSON === '19421777835146491');
  assert.equal(second.y, ']');
  assert.ok(isRawJson(third[0]) && third[0].rawJSON === '1.50');
  assert.equal(stringifyLosslessJson(value), text, 'every cut written back where it was');
  assert.equal((value as unknown[]).length, 4);
  assert.equal(exceedsDepth(first, 2), false);
  assert.equal(exceedsDepth(second, 2), true, 'a cut value is deeper than any limit');
  assert.equal(exceedsDepth([[1]], 1), true);
  assert.equal(exceedsDepth([[1]], 2), false);
  assert.equal(stringifyLosslessJson(second), deep, 'written back as received');
  assert.throws(() => JSON.stringify(second), { name: 'JsonTooDeepError' }, 'never written half');
  assert.equal(parseLosslessJsonBounded(text, 10_000).depth, 6004);
  assert.deepEqual(parseLosslessJsonBounded('{"a":[1]}', 3), { value: { a: [1] }, depth: 2 });
  // Invalid text is refused as JSON.parse refuses it, even when a cut hides where.
  assert.throws(() => parseLosslessJsonBounded(`[${nested(10)}`, 3), SyntaxError);
  // A \u0000 escape beside a cut value, and strings that spell the cut's marker: all read as data.
  const nul = `["\\u0000","\\u0000~0","\\u0000~0~0",12345678901234567890,${nested(10)}]`;
  const read = parseLosslessJsonBounded(nul, 3);
  assert.equal(read.depth, 11);
  const [a, b, c, big, cut] = read.value as unknown[];
  assert.deepEqual([a, b, c], ['\u0000', '\u0000~0', '\u0000~0~0']);
  assert.ok(isRawJson(big) && big.rawJSON === '12345678901234567890');
  assert.equal(exceedsDepth(cut, 2), true);
  assert.equal(stringifyLosslessJson(read.value), nul);
  assert.throws(() => parseLosslessJsonBounded(`["\\u0000",${nested(10)}`, 3), SyntaxError);
});

test('a duplicate key beside a cut value: the last value of the key, as JSON.parse keeps it', () => {
  // What broke (ingress fuzz): a number replaced by a later duplicate key left the marker count short,
  // and with a cut value that threw JsonTooDeepError: the whole webhook body went to the dead-letter
  // topic, its valid events with it.
  const text = `[{"":-0,"":-31103259077873111983911,"a":1,"a":{"b":1e400}},${nested(10)}]`;
  const { value, depth } = parseLosslessJsonBounded(text, 3);
  assert.equal(depth, 11);
  const [first, second] = value as [Record<string, unknown>, unknown];
  assert.deepEqual(Object.keys(first), ['', 'a']);
  assert.ok(isRawJson(first['']) && first[''].rawJSON === '-31103259077873111983911');
  const { b } = first.a as { b: unknown };
  assert.ok(isRawJson(b) && b.rawJSON === '1e400');
  assert.equal(exceedsDepth(second, 2), true);
  assert.equal(stringifyLosslessJson(second), nested(10));
  // Still refused: a number where a key belongs, which the marked text would hide.
  assert.throws(() => parseLosslessJsonBounded(`[{1:2},${nested(10)}]`, 3), SyntaxError);
});

test('500 generated documents cut at any depth are written back to the same values, their depth exact', () => {
  const random = prng(20_261_203);
  for (let i = 0; i < 500; i++) {
    const text = generateDocument(random);
    const reference = parseLosslessJsonWithReviver(text);
    const expected = outcome(parseLosslessJsonWithReviver, text);
    for (const cut of [1, 2, 3]) {
      const { value, depth } = parseLosslessJsonBounded(text, cut);
      assert.equal(exceedsDepth(reference, depth), false, text);
      if (depth > 0) assert.equal(exceedsDepth(reference, depth - 1), true, text);
      assert.equal(exceedsDepth(value, cut), depth > cut, text);
      const written = stringifyLosslessJson(value);
      assert.deepEqual(outcome(parseLosslessJsonWithReviver, written), expected, `${text} cut at ${cut}`);
    }
  }
});

test('the same documents beside a \\u0000 escape and strings spelling markers: cut and written back alike', () => {
  // A \u0000 escape sends the text to the reference; cuts must still be told from strings that spell
  // their markers, in the parse and when written back.
  const random = prng(20_261_204);
  for (let i = 0; i < 300; i++) {
    const text = `[${generateDocument(random)},"\\u0000","\\u0000~0~0","\\u00000",{"\\u0000~1~":[[[]]]}]`;
    const expected = outcome(parseLosslessJsonWithReviver, text);
    for (const cut of [1, 2, 3]) {
      const { value, depth } = parseLosslessJsonBounded(text, cut);
      assert.equal(exceedsDepth(value, cut), depth > cut, text);
      const written = stringifyLosslessJson(value);
      assert.deepEqual(outcome(parseLosslessJsonWithReviver, written), expected, `${text} cut at ${cut}`);
    }
  }
});
