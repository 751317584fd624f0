import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type Datatype,
  isDatatype,
  isNameSpace,
  valueFits,
} from '../../../local-saas/mailjet/property-types.ts';

test('each datatype takes values of its own JSON type only, and null always (it clears)', () => {
  const cases: [Datatype, unknown[], unknown[]][] = [
    ['str', ['', 'Paris'], [3, true, {}, []]],
    ['int', [0, -4, 30], [1.5, '30', Number.NaN, 2 ** 60, true]],
    ['float', [1.5, 2, -0.25], ['1.5', Number.POSITIVE_INFINITY, false]],
    ['bool', [true, false], ['true', 'false', 1, 0]],
    [
      'datetime',
      ['2018-01-01T00:00:00', '2026-11-24T05:00:00Z', '2026-11-24T05:00:00.123+02:00', 1_764_000_000, 0],
      ['2026-11-24', '2026-13-45T00:00:00Z', 'yesterday', -1, 1.5, true],
    ],
  ];
  for (const [datatype, fits, misfits] of cases) {
    assert.ok(valueFits(datatype, null), `${datatype} null`);
    for (const value of fits) assert.ok(valueFits(datatype, value), `${datatype} ${JSON.stringify(value)}`);
    for (const value of misfits) {
      assert.ok(!valueFits(datatype, value), `${datatype} must refuse ${JSON.stringify(value)}`);
    }
  }
});

test('datatype and namespace names are Mailjet’s, in lower case', () => {
  assert.ok(isDatatype('datetime'));
  assert.ok(!isDatatype('string'));
  assert.ok(!isDatatype('Int'));
  assert.ok(isNameSpace('historic'));
  assert.ok(!isNameSpace('dynamic'));
});
