import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startBanner } from '../../bin/start-banner.ts';

test("start's URLs are one block after a blank line and a heading, closed by a rule, lines as given", () => {
  const lines = ['Webhook URL: http://127.0.0.1:8080/webhooks/mailjet', 'Kafka bootstrap: 127.0.0.1:9092'];
  const printed = startBanner(lines).split('\n');
  assert.equal(printed[0], '', 'a blank line ends whatever the log wrote before');
  assert.match(printed[1] ?? '', /^── mailjet-connector is running ─+$/);
  assert.deepEqual(printed.slice(2, 4), lines);
  assert.match(printed[4] ?? '', /^─+$/);
  assert.equal(printed[5], 'Press Ctrl-C to stop.');
  assert.deepEqual(printed.slice(6), ['', ''], 'a blank line after it too');
  assert.equal(printed[1]?.length, printed[4]?.length);
});
