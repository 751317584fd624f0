import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { defaultCacheDir, projectDir } from '../../stack/maven-artifacts.ts';

test('the download cache is the project’s .cache folder', () => {
  assert.equal(defaultCacheDir, join(projectDir(import.meta.dirname), '.cache'));
  assert.equal(defaultCacheDir, join(import.meta.dirname, '..', '..', '.cache'));
});

// The build in dist/ looked for the cache in dist/.cache and downloaded the stack again.
test('the sources and their build in dist/ find the same project folder', () => {
  const root = mkdtempSync(join(tmpdir(), 'project-dir-'));
  writeFileSync(join(root, 'package.json'), '{}');
  mkdirSync(join(root, 'stack'));
  mkdirSync(join(root, 'dist', 'stack'), { recursive: true });
  assert.equal(projectDir(join(root, 'stack')), root);
  assert.equal(projectDir(join(root, 'dist', 'stack')), root);
});
