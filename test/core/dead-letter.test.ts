import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DEAD_LETTER_HEADERS,
  deadLetterRecord,
  logDeadLetters,
  MAX_DEAD_LETTER_MESSAGE_CHARS,
  quoteForReason,
} from '../../core/dead-letter.ts';

test('quoteForReason quotes a value as JSON, cut with an ellipsis and the original length past the limit', () => {
  assert.equal(quoteForReason('typofix'), '"typofix"');
  assert.equal(quoteForReason(undefined), 'nothing');
  assert.equal(quoteForReason(1.5), '1.5');
  assert.equal(quoteForReason({ a: [1] }), '{"a":[1]}');
  assert.equal(quoteForReason('x'.repeat(300_000), 10), '"xxxxxxxxxx…" (300000 characters)');
  assert.equal(quoteForReason([1, 2, 3, 4, 5, 6], 5), '[1,2,… (13 characters)');
  assert.equal(
    quoteForReason('a"b', 2),
    '"a\\"…" (3 characters)',
    'cut before quoting: never half an escape',
  );
});

test("a dead letter's reason header is capped; its value keeps every byte", () => {
  // What broke: a reason quoting a 300 KB value became a 300 KB dlq.error.message header.
  const value = Buffer.from(`{"event":"${'x'.repeat(300_000)}"}`);
  const reason = `the body: unknown event type "${'x'.repeat(300_000)}"`;
  const record = deadLetterRecord({
    stage: 'ingress',
    code: 'UNKNOWN_EVENT_TYPE',
    message: reason,
    value,
    key: null,
    failedAt: new Date(0),
  });
  const message = record.headers?.[DEAD_LETTER_HEADERS.errorMessage]?.toString() ?? '';
  assert.ok(Buffer.byteLength(message) < 1024, `a bounded header, got ${Buffer.byteLength(message)} bytes`);
  assert.match(message, /^the body: unknown event type "x+…/);
  assert.ok(message.endsWith(`… (${reason.length} characters)`), message);
  assert.equal(record.value, value);
});

// An event with a MessageID of 2 MB went to the dead-letter topic as EVENT_TOO_LARGE with a reason quoting
// the MessageID whole: its header was capped, but the log line held all 2 MB.
test('a logged dead-letter reason is capped like its header', () => {
  const lines: string[] = [];
  const log = { warn: (_fields: object, message: string) => lines.push(message) };
  logDeadLetters(log, [
    { code: 'EVENT_TOO_LARGE', reason: `the open event (MessageID ${'9'.repeat(2_000_000)})` },
  ]);
  assert.equal(lines.length, 1);
  assert.ok(
    (lines[0] as string).length < MAX_DEAD_LETTER_MESSAGE_CHARS + 100,
    `a log line of ${(lines[0] as string).length} characters`,
  );
  assert.match(
    lines[0] as string,
    /^dead-lettered: the open event \(MessageID 9{10}9*… \(2000027 characters\)$/,
  );
});
