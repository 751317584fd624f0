import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { loadDestinationConfig } from '../../destination/config.ts';
import { readIdentifyBody } from '../../destination/identify-body.ts';
import {
  createIntakeAuthenticator,
  type IntakeAuthInput,
  intakeCredentials,
} from '../../destination/intake-auth.ts';

const WRITE_KEY = 'wk-0123456789abcdef';
const SECRET = 'shared-secret-0123456789';
const basic = (userPass: string) => `Basic ${Buffer.from(userPass).toString('base64')}`;
/** Segment's X-Signature: hex HMAC-SHA1 of the JSON-stringified body, with the shared secret. */
const sign = (text: string, secret = SECRET) => createHmac('sha1', secret).update(text).digest('hex');

/** What the app hands the authenticator for a body and headers. */
function input(text: string, headers: { authorization?: string; signature?: string } = {}): IntakeAuthInput {
  const body = Buffer.from(text);
  const read = readIdentifyBody(body);
  return {
    ...headers,
    body,
    ...(read.writeKey !== undefined ? { bodyWriteKey: read.writeKey } : {}),
    ...(read.firstCallJson !== undefined ? { firstCallJson: read.firstCallJson } : {}),
  };
}

const call = JSON.stringify({ type: 'identify', userId: 'u1', traits: { email: 'a@example.com' } });
const withKey = createIntakeAuthenticator({ writeKey: WRITE_KEY });
const withSecret = createIntakeAuthenticator({ sharedSecret: SECRET });

test("the write key passes as Segment's clients send it: Basic username, empty password, colon optional", () => {
  assert.equal(withKey(input(call, { authorization: basic(`${WRITE_KEY}:`) })), 'ok');
  assert.equal(withKey(input(call, { authorization: basic(WRITE_KEY) })), 'ok');
});

test('the write key passes in the body, of a single call or of a batch envelope', () => {
  assert.equal(withKey(input(JSON.stringify({ writeKey: WRITE_KEY, type: 'identify', userId: 'u' }))), 'ok');
  assert.equal(withKey(input(JSON.stringify({ writeKey: WRITE_KEY, batch: [] }))), 'ok');
});

test('a wrong write key, a password, another scheme or a wrong body key is "invalid"', () => {
  assert.equal(withKey(input(call, { authorization: basic('wk-wrong-key-000000:') })), 'invalid');
  assert.equal(withKey(input(call, { authorization: basic(`${WRITE_KEY}:a-password`) })), 'invalid');
  assert.equal(withKey(input(call, { authorization: basic(`${WRITE_KEY}-and-more:`) })), 'invalid');
  assert.equal(withKey(input(call, { authorization: `Bearer ${WRITE_KEY}` })), 'invalid');
  assert.equal(withKey(input(call, { authorization: 'Basic !!!not-base64' })), 'invalid');
  assert.equal(
    withKey(input(JSON.stringify({ writeKey: 'nope', type: 'identify', userId: 'u' }))),
    'invalid',
  );
  assert.equal(withKey(input(call, { signature: sign(call) })), 'invalid', 'no shared secret is configured');
});

test('no credentials at all is "missing"', () => {
  assert.equal(withKey(input(call)), 'missing');
  assert.equal(withSecret(input(call)), 'missing');
  assert.equal(withKey(input('not json')), 'missing');
});

test('X-Signature over a single call is the HMAC of the body', () => {
  assert.equal(withSecret(input(call, { signature: sign(call) })), 'ok');
  assert.equal(withSecret(input(call, { signature: sign(call).toUpperCase() })), 'ok', 'hex in any case');
  assert.equal(withSecret(input(call, { signature: sign(call, 'another-secret-0000') })), 'invalid');
  assert.equal(withSecret(input(call, { signature: sign(`${call} `) })), 'invalid');
  assert.equal(withSecret(input(call, { signature: '' })), 'invalid');
  assert.equal(withSecret(input(call, { authorization: basic(`${WRITE_KEY}:`) })), 'invalid');
});

test("a batch signed Segment's way (first call only) passes, and so does one signed whole", () => {
  const first = { type: 'identify', userId: 'u1', traits: { email: 'a@example.com', n: 1.5 } };
  const calls = [first, { type: 'track', userId: 'u1', event: 'Clicked' }];
  // As Segment computes it: JSON.stringify of the first event object.
  const segmentSignature = sign(JSON.stringify(first));
  const array = JSON.stringify(calls);
  assert.equal(withSecret(input(array, { signature: segmentSignature })), 'ok');
  assert.equal(withSecret(input(array, { signature: sign(array) })), 'ok');
  const envelope = JSON.stringify({ batch: calls });
  assert.equal(withSecret(input(envelope, { signature: segmentSignature })), 'ok');
  assert.equal(withSecret(input(array, { signature: sign(JSON.stringify(calls[1])) })), 'invalid');
});

test('the signature of invalid JSON is checked over its bytes, so it can reach the dead-letter topic', () => {
  assert.equal(withSecret(input('{"type":', { signature: sign('{"type":') })), 'ok');
});

test('with both configured, either passes', () => {
  const both = createIntakeAuthenticator({ writeKey: WRITE_KEY, sharedSecret: SECRET });
  assert.equal(both(input(call, { authorization: basic(`${WRITE_KEY}:`) })), 'ok');
  assert.equal(both(input(call, { signature: sign(call) })), 'ok');
  assert.equal(both(input(call, { authorization: basic('wrong:'), signature: sign(call) })), 'ok');
  assert.equal(both(input(call, { authorization: basic('wrong:'), signature: 'bad' })), 'invalid');
});

test('with auth disabled every request passes', () => {
  assert.equal(createIntakeAuthenticator(undefined)(input(call)), 'ok');
});

test('intakeCredentials takes what the config sets, nothing when auth is disabled', () => {
  assert.deepEqual(intakeCredentials(loadDestinationConfig({ DESTINATION_WRITE_KEY: WRITE_KEY })), {
    writeKey: WRITE_KEY,
  });
  assert.deepEqual(
    intakeCredentials(
      loadDestinationConfig({ DESTINATION_WRITE_KEY: WRITE_KEY, DESTINATION_SHARED_SECRET: SECRET }),
    ),
    { writeKey: WRITE_KEY, sharedSecret: SECRET },
  );
  assert.equal(
    intakeCredentials(
      loadDestinationConfig({ DESTINATION_AUTH_DISABLED: 'true', DESTINATION_WRITE_KEY: WRITE_KEY }),
    ),
    undefined,
  );
});
