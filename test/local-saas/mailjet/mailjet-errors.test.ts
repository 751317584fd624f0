import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  alreadyExists,
  invalidField,
  invalidProperties,
  methodNotAllowed,
  notFound,
  unauthorized,
  unexpected,
} from '../../../local-saas/mailjet/mailjet-errors.ts';

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

test('bodies have Mailjet’s keys; only 401 and 5xx carry an ErrorIdentifier, a fresh UUID each time', () => {
  assert.deepEqual(notFound().body, { ErrorInfo: '', ErrorMessage: 'Object not found', StatusCode: 404 });
  assert.deepEqual(methodNotAllowed().body, {
    ErrorInfo: '',
    ErrorMessage: 'Method not allowed',
    StatusCode: 405,
  });
  const first = unexpected(503).body;
  assert.match(first.ErrorIdentifier ?? '', uuid);
  assert.equal(first.StatusCode, 503);
  assert.equal(first.ErrorMessage, 'An Unexpected Error occurred during API request');
  assert.notEqual(unexpected().body.ErrorIdentifier, first.ErrorIdentifier);
  assert.match(unauthorized().body.ErrorIdentifier ?? '', uuid);
  assert.match(String(unauthorized().body.ErrorMessage), /^API key authentication\/authorization failure\./);
});

test('field and property errors say "Object properties invalid" and name what is wrong', () => {
  assert.deepEqual(invalidField('Name', 'MJ04 Value must have at least length 1').body, {
    ErrorInfo: 'MJ08 Property Name is invalid: MJ04 Value must have at least length 1',
    ErrorMessage: 'Object properties invalid',
    StatusCode: 400,
  });
  assert.deepEqual(invalidProperties([{ age: 'Property not defined' }]).body.ErrorInfo, {
    Properties: [{ age: 'Property not defined' }],
  });
  assert.equal(
    alreadyExists('Contact', 'a@b.co', 'Email').body.ErrorMessage,
    'MJ18 A Contact resource with value "a@b.co" for Email already exists.',
  );
});
