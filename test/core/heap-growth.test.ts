import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultHeapGrowingPercent, limitHeapGrowth } from '../../core/heap-growth.ts';

test('sets the V8 heap growing factor when the command line did not', () => {
  const set: string[] = [];
  limitHeapGrowth({ execArgv: ['--max-semi-space-size=8'], setFlags: (flags) => set.push(flags) });
  assert.deepEqual(set, [`--heap-growing-percent=${defaultHeapGrowingPercent}`]);
});

test('leaves a growing factor given on the command line, in either spelling', () => {
  for (const arg of ['--heap-growing-percent=200', '--heap_growing_percent=10', '--heap-growing-percent']) {
    const set: string[] = [];
    limitHeapGrowth({ execArgv: [arg], setFlags: (flags) => set.push(flags) });
    assert.deepEqual(set, [], arg);
  }
});

test('a flag with a longer name is not mistaken for it', () => {
  const set: string[] = [];
  limitHeapGrowth({ execArgv: ['--heap-growing-percentage=5'], setFlags: (flags) => set.push(flags) });
  assert.equal(set.length, 1);
});
