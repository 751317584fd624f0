import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findJava, parseMajor } from '../../stack/java.ts';

test('parseMajor reads both the modern and the 1.x version scheme', () => {
  assert.equal(parseMajor('openjdk version "17.0.15" 2025-04-15'), 17);
  assert.equal(parseMajor('openjdk version "25.0.3" 2026-04-21 LTS'), 25);
  assert.equal(parseMajor('java version "1.8.0_392"'), 8);
  assert.equal(parseMajor('no java here'), undefined);
});

test('findJava names the version it needs and what it found when nothing fits', async () => {
  await assert.rejects(findJava(999, 'A future program'), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'JAVA_MISSING');
    assert.match(err.message, /A future program needs Java 999 or newer; found only Java \d+/);
    assert.match(err.message, /What to do: Install a JDK/);
    return true;
  });
});
