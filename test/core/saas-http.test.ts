import assert from 'node:assert/strict';
import { test } from 'node:test';
import { answerExcerpt, fullJitterDelay } from '../../core/saas-http.ts';

test('full jitter: uniform below a cap that doubles per failure up to the maximum', () => {
  const delays = { initialDelayMs: 500, maxDelayMs: 10_000 };
  const caps = [0, 1, 2, 3, 4, 5, 100].map((failures) => fullJitterDelay(failures, delays, () => 0.999_999));
  assert.deepEqual(caps, [499, 999, 1999, 3999, 7999, 9999, 9999]);
  assert.equal(
    fullJitterDelay(3, delays, () => 0),
    0,
  );
  assert.equal(
    fullJitterDelay(1, delays, () => 0.5),
    500,
  );
});

test('an answer excerpt is trimmed, cut with an ellipsis, and never empty', () => {
  assert.equal(answerExcerpt('  {"ok":false}\n', 100), '{"ok":false}');
  assert.equal(answerExcerpt('abcdef', 3), 'abc…');
  assert.equal(answerExcerpt('   ', 100), '(empty answer)');
});
