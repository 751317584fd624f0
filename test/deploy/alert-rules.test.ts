/**
 * The alert rules (deploy/helm/mailjet-connector/files/alerts.yaml), checked and unit-tested with the
 * real promtool, built from Prometheus's Go module into the ignored `.cache/` on first use.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { goTool, PROMTOOL } from '../../stack/go-tools.ts';

const run = promisify(execFile);
const files = fileURLToPath(new URL('../../deploy/helm/mailjet-connector/files/', import.meta.url));

async function promtool(args: string[]): Promise<string> {
  const { stdout, stderr } = await run(await goTool(PROMTOOL), args, { cwd: files });
  return stdout + stderr;
}

test('promtool checks the rules and runs their unit tests: each alert fires on its data, and only there', async () => {
  assert.match(await promtool(['check', 'rules', 'alerts.yaml']), /SUCCESS: \d+ rules found/);
  assert.match(await promtool(['test', 'rules', 'alerts.test.yaml']), /SUCCESS/);
});

test('every alert has a unit test in which it fires', () => {
  const rules = parse(readFileSync(`${files}/alerts.yaml`, 'utf8')) as {
    groups: { rules: { alert: string }[] }[];
  };
  const tests = parse(readFileSync(`${files}/alerts.test.yaml`, 'utf8')) as {
    tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[];
  };
  const firing = new Set(
    tests.tests.flatMap((group) =>
      group.alert_rule_test.filter((c) => c.exp_alerts.length > 0).map((c) => c.alertname),
    ),
  );
  for (const { alert } of rules.groups.flatMap((group) => group.rules))
    assert.ok(firing.has(alert), `${alert} has a test where it fires`);
});
