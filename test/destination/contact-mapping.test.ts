import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  contactKey,
  contactUpdateOf,
  fitValue,
  inferDatatype,
  mergeUpdates,
  propertyName,
} from '../../destination/contact-mapping.ts';
import type { SegmentIdentify } from '../../schemas/index.ts';

function identify(traits: unknown, email: string | null = 'ada@example.com'): SegmentIdentify {
  return {
    message_id: 'm-1',
    user_id: 'u-1',
    anonymous_id: null,
    email,
    traits_json: JSON.stringify(traits),
    audience_key: null,
    call_json: '{}',
    timestamp: 0,
    received_at: 0,
    request_id: 'r-1',
  };
}

describe('propertyName', () => {
  it('turns camelCase, spaces and dashes into lower-case snake_case', () => {
    assert.equal(propertyName(['firstName']), 'first_name');
    assert.equal(propertyName(['first_name']), 'first_name');
    assert.equal(propertyName(['First Name']), 'first_name');
    assert.equal(propertyName(['first-name']), 'first_name');
    assert.equal(propertyName(['planID']), 'plan_id');
    assert.equal(propertyName(['HTTPStatus']), 'http_status');
    assert.equal(propertyName(['order_completed_last_30days']), 'order_completed_last_30days');
  });

  it('joins nested paths with underscores and drops empty parts', () => {
    assert.equal(propertyName(['address', 'postalCode']), 'address_postal_code');
    assert.equal(propertyName(['__', 'city']), 'city');
    assert.equal(propertyName(['!!']), '');
  });
});

describe('inferDatatype', () => {
  it('gives each JSON scalar its Mailjet type', () => {
    assert.equal(inferDatatype(true), 'bool');
    assert.equal(inferDatatype(42), 'int');
    assert.equal(inferDatatype(4.2), 'float');
    assert.equal(inferDatatype('pro'), 'str');
    assert.equal(inferDatatype('2024-02-29T10:00:00Z'), 'datetime');
    assert.equal(inferDatatype('2024-02-29T10:00:00.123+02:00'), 'datetime');
    assert.equal(inferDatatype(null), undefined);
  });

  it('does not take a date-looking text that is no date for a datetime', () => {
    assert.equal(inferDatatype('2024-13-45T99:00:00Z'), 'str');
    assert.equal(inferDatatype('2024-02-29'), 'str');
  });
});

describe('fitValue', () => {
  it('converts only without loss', () => {
    assert.equal(fitValue(42, 'str'), '42');
    assert.equal(fitValue(true, 'str'), 'true');
    assert.equal(fitValue(42, 'float'), 42);
    assert.equal(fitValue(4.2, 'int'), undefined);
    assert.equal(fitValue('42', 'int'), undefined);
    assert.equal(fitValue('true', 'bool'), undefined);
    assert.equal(fitValue(false, 'bool'), false);
    assert.equal(fitValue('2024-02-29T12:00:00+02:00', 'datetime'), '2024-02-29T10:00:00Z');
    assert.equal(fitValue('soon', 'datetime'), undefined);
  });

  it('lets null clear a property of any type', () => {
    for (const type of ['str', 'int', 'float', 'bool', 'datetime'] as const)
      assert.equal(fitValue(null, type), null);
  });
});

describe('contactUpdateOf', () => {
  it('makes every trait but email a property, named and flattened', () => {
    const result = contactUpdateOf(
      identify({
        email: 'ada@example.com',
        firstName: 'Ada',
        lastName: 'Lovelace',
        logins: 5,
        plan: 'pro',
        address: { city: 'London', geo: { lat: 51.5 } },
        tags: ['a', 'b'],
        order_completed_last_30days: true,
        createdAt: '2024-02-29T10:00:00Z',
        cleared: null,
      }),
    );
    assert.equal(result.ok, true);
    if (!result.ok) return;
    assert.deepEqual(result.update, {
      email: 'ada@example.com',
      name: 'Ada Lovelace',
      properties: {
        first_name: 'Ada',
        last_name: 'Lovelace',
        logins: 5,
        plan: 'pro',
        address_city: 'London',
        address_geo_lat: 51.5,
        tags: '["a","b"]',
        order_completed_last_30days: true,
        created_at: '2024-02-29T10:00:00Z',
        cleared: null,
      },
    });
  });

  it('keeps objects nested deeper than three levels as JSON text', () => {
    const result = contactUpdateOf(identify({ a: { b: { c: { d: 1 } } } }));
    assert.ok(result.ok);
    assert.deepEqual(result.update.properties, { a_b_c: '{"d":1}' });
  });

  it('keeps the exact digits of integers above 2^53 as text, which Mailjet stores as a str property', () => {
    // What broke: traits_json was read with JSON.parse, so 19421777835146490 reached Mailjet rounded (or not at all).
    const traits =
      '{"email":"ada@example.com","big":19421777835146490,"deep":{"id":-12345678901234567890},"huge":1e400,"ratio":1.50,"small":7}';
    const result = contactUpdateOf({ ...identify({}), traits_json: traits });
    assert.ok(result.ok);
    assert.deepEqual(result.update.properties, {
      big: '19421777835146490',
      deep_id: '-12345678901234567890',
      huge: '1e400',
      ratio: 1.5,
      small: 7,
    });
    assert.equal(inferDatatype('19421777835146490'), 'str');
    assert.equal(
      fitValue('19421777835146490', 'int'),
      undefined,
      'an int property cannot hold it: refused, not rounded',
    );
    assert.equal(fitValue('19421777835146490', 'float'), undefined);
    const nested = { ...identify({}), traits_json: '{"a":{"b":{"c":{"id":19421777835146490}}}}' };
    const kept = contactUpdateOf(nested);
    assert.ok(kept.ok);
    assert.deepEqual(kept.update.properties, { a_b_c: '{"id":19421777835146490}' });
  });

  it('refuses traits nested past the limit instead of overflowing the stack', () => {
    // Guards the fix above: with exact digits kept, traits 6,000 deep would overflow JSON.stringify in the worker.
    const traits = `{"big":19421777835146490,"x":${'['.repeat(6000)}${']'.repeat(6000)}}`;
    const result = contactUpdateOf({ ...identify({}), traits_json: traits });
    assert.equal(result.ok, false);
    assert.match(
      !result.ok && result.reason === 'invalid' ? result.message : '',
      /^traits_json nests deeper than 64 levels/,
    );
  });

  it('takes the name trait over first and last names', () => {
    const result = contactUpdateOf(identify({ name: ' Ada L. ', first_name: 'Ada' }));
    assert.ok(result.ok);
    assert.equal(result.update.name, 'Ada L.');
  });

  it('skips a call without an email, and says why a call cannot be read', () => {
    assert.deepEqual(contactUpdateOf(identify({ plan: 'pro' }, null)), { ok: false, reason: 'no-email' });
    const broken = { ...identify({}), traits_json: '[1]' };
    assert.deepEqual(contactUpdateOf(broken), {
      ok: false,
      reason: 'invalid',
      message: 'traits_json is not a JSON object.',
    });
  });
});

describe('mergeUpdates', () => {
  it('folds one batch into one update per contact, later values winning, in first-seen order', () => {
    const merged = mergeUpdates([
      { update: { email: 'Ada@example.com', properties: { plan: 'free', logins: 1 } }, origin: 1 },
      { update: { email: 'bob@example.com', properties: { plan: 'pro' } }, origin: 2 },
      { update: { email: 'ada@example.com', name: 'Ada', properties: { plan: 'pro' } }, origin: 3 },
    ]);
    assert.deepEqual(merged, [
      {
        update: { email: 'ada@example.com', name: 'Ada', properties: { plan: 'pro', logins: 1 } },
        origins: [1, 3],
      },
      { update: { email: 'bob@example.com', properties: { plan: 'pro' } }, origins: [2] },
    ]);
  });

  it('matches contacts case-insensitively', () => {
    assert.equal(contactKey(' Ada@Example.COM '), 'ada@example.com');
  });
});
