import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { generatedSections, replaceSection } from '../bin/update-readme.ts';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

test('the configuration table and the error catalogue in README.md are the ones the code produces', () => {
  for (const [name, content] of Object.entries(generatedSections())) {
    assert.equal(replaceSection(readme, name, content), readme, `${name} is stale: run npm run docs`);
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

test('every topic the project writes is documented', () => {
  for (const topic of [
    'mailjet.events.raw',
    'mailjet.events.dlq',
    'mailjet.events.normalized',
    'mailjet.identities',
  ])
    assert.ok(readme.includes(`\`${topic}\``), topic);
});
