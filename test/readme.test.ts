import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { configTable } from '../bin/configuration.ts';
import { errorCatalogue } from '../core/errors.ts';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

test('the configuration table in README.md is the one the schemas produce', () => {
  const match = /<!-- config-table:start -->\n([\s\S]*?)\n<!-- config-table:end -->/.exec(readme);
  assert.ok(match, 'README.md has the config-table markers');
  assert.equal(match[1], configTable(), 'regenerate it with ./mailjet-connector config');
});

test('every error code is documented with its hint', () => {
  for (const [code, { hint, retriable }] of Object.entries(errorCatalogue)) {
    assert.ok(
      readme.includes(`| \`${code}\` | ${retriable ? 'yes' : 'no'} | ${hint} |`),
      `${code} in README.md`,
    );
  }
});

test('the quick start is two commands, and CI runs the second', () => {
  const match = /## Quick start\n\n```\n([^`]*)```/.exec(readme);
  assert.ok(match?.[1]);
  const lines = match[1].trim().split('\n');
  assert.equal(lines.length, 2);
  const ci = readFileSync(new URL('../.ci/run', import.meta.url), 'utf8');
  assert.ok(ci.trimEnd().endsWith(lines[1] ?? '(missing)'), '.ci/run ends with the test command');
});
