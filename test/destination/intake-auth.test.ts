import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { loadDestinationConfig } from '../../destination/config.ts';
import {
  type AuthResult,
  createIntakeAuthenticator,
  type IntakeAuthenticator,
  type IntakeAuthHeaders,
  intakeCredentials,
  topLevelWriteKey,
} from '../../destination/intake-auth.ts';

const WRITE_KEY = 'wk-0123456789abcdef';
const SECRET = 'shared-secret-0123456789';
const basic = (userPass: string) => `Basic ${Buffer.from(userPass).toString('base64')}`;
/** Segment's X-Signature: hex HMAC-SHA1 of the body, with the shared secret. */
const sign = (text: string, secret = SECRET) => createHmac('sha1', secret).update(text).digest('hex');

/** What the app decides for a body and headers: from the headers, then (if they cannot tell) the body. */
function authenticate(
  authenticator: IntakeAuthenticator,
  text: string,
  headers: IntakeAuthHeaders = {},
): AuthResult {
  const first = authenticator.beforeBody(headers);
  return first === 'body' ? authenticator.withBody(headers, Buffer.from(text)) : first;
}

const call = JSON.stringify({ type: 'identify', userId: 'u1', traits: { email: 'a@example.com' } });
const withKey = createIntakeAuthenticator({ writeKey: WRITE_KEY });
const withSecret = createIntakeAuthenticator({ sharedSecret: SECRET });

test("the write key passes as Segment's clients send it, before the body is read: Basic username, empty password, colon optional", () => {
  assert.equal(withKey.beforeBody({ authorization: basic(`${WRITE_KEY}:`) }), 'ok');
  assert.equal(withKey.beforeBody({ authorization: basic(WRITE_KEY) }), 'ok');
  assert.equal(
    withKey.beforeBody({ authorization: `basic ${Buffer.from(WRITE_KEY).toString('base64')}` }),
    'ok',
  );
});

test('the write key passes at the top level of the body, of a single call or of a batch envelope', () => {
  assert.equal(withKey.beforeBody({}), 'body', 'without headers only the body can tell');
  assert.equal(
    authenticate(withKey, JSON.stringify({ writeKey: WRITE_KEY, type: 'identify', userId: 'u' })),
    'ok',
  );
  assert.equal(authenticate(withKey, JSON.stringify({ batch: [], writeKey: WRITE_KEY })), 'ok');
  assert.equal(
    authenticate(withKey, `{ "batch" : [ {"a":"}"} ] , "write\\u004bey" : "${WRITE_KEY}" }`),
    'ok',
  );
});

test('a wrong header credential is refused before the body is read; a wrong body key after', () => {
  assert.equal(withKey.beforeBody({ authorization: basic('wk-wrong-key-000000:') }), 'invalid');
  assert.equal(withKey.beforeBody({ authorization: basic(`${WRITE_KEY}:a-password`) }), 'invalid');
  assert.equal(withKey.beforeBody({ authorization: basic(`${WRITE_KEY}-and-more:`) }), 'invalid');
  assert.equal(withKey.beforeBody({ authorization: `Bearer ${WRITE_KEY}` }), 'invalid');
  assert.equal(withKey.beforeBody({ authorization: 'Basic !!!not-base64' }), 'invalid');
  assert.equal(withKey.beforeBody({ signature: sign(call) }), 'invalid', 'no shared secret is configured');
  assert.equal(
    authenticate(withKey, JSON.stringify({ writeKey: 'nope', type: 'identify', userId: 'u' })),
    'invalid',
  );
});

test('no credentials at all is "missing"', () => {
  assert.equal(authenticate(withKey, call), 'missing');
  assert.equal(withSecret.beforeBody({}), 'missing', 'with only a shared secret, before the body is read');
  assert.equal(authenticate(withKey, 'not json'), 'missing');
  assert.equal(authenticate(withKey, JSON.stringify([{ writeKey: WRITE_KEY }])), 'missing', 'not top level');
  assert.equal(authenticate(withKey, JSON.stringify({ batch: [{ writeKey: WRITE_KEY }] })), 'missing');
});

test('X-Signature is the HMAC of the whole body, in any case of hex', () => {
  assert.equal(withSecret.beforeBody({ signature: sign(call) }), 'body');
  assert.equal(authenticate(withSecret, call, { signature: sign(call) }), 'ok');
  assert.equal(authenticate(withSecret, call, { signature: sign(call).toUpperCase() }), 'ok');
  assert.equal(authenticate(withSecret, call, { signature: sign(call, 'another-secret-0000') }), 'invalid');
  assert.equal(authenticate(withSecret, call, { signature: sign(`${call} `) }), 'invalid');
  assert.equal(authenticate(withSecret, call, { signature: '' }), 'invalid');
  assert.equal(authenticate(withSecret, call, { authorization: basic(`${WRITE_KEY}:`) }), 'invalid');
});

test('a batch passes only when signed whole: a signature over its first call does not cover the others', () => {
  // Broke: a batch signed over its first call passed, so one captured signature let anyone append calls.
  const first = { type: 'identify', userId: 'u1', traits: { email: 'a@example.com', n: 1.5 } };
  const calls = [first, { type: 'identify', userId: 'attacker', traits: { email: 'a@example.com' } }];
  const array = JSON.stringify(calls);
  assert.equal(authenticate(withSecret, array, { signature: sign(array) }), 'ok');
  assert.equal(authenticate(withSecret, array, { signature: sign(JSON.stringify(first)) }), 'invalid');
  const envelope = JSON.stringify({ batch: calls });
  assert.equal(authenticate(withSecret, envelope, { signature: sign(JSON.stringify(first)) }), 'invalid');
  assert.equal(authenticate(withSecret, envelope, { signature: sign(envelope) }), 'ok');
});

test('the signature of invalid JSON is checked over its bytes, so it can reach the dead-letter topic', () => {
  assert.equal(authenticate(withSecret, '{"type":', { signature: sign('{"type":') }), 'ok');
});

test('with both configured, either passes', () => {
  const both = createIntakeAuthenticator({ writeKey: WRITE_KEY, sharedSecret: SECRET });
  assert.equal(authenticate(both, call, { authorization: basic(`${WRITE_KEY}:`) }), 'ok');
  assert.equal(authenticate(both, call, { signature: sign(call) }), 'ok');
  assert.equal(authenticate(both, call, { authorization: basic('wrong:'), signature: sign(call) }), 'ok');
  assert.equal(authenticate(both, call, { authorization: basic('wrong:'), signature: 'bad' }), 'invalid');
});

test('with auth disabled every request passes', () => {
  assert.equal(authenticate(createIntakeAuthenticator(undefined), call), 'ok');
});

test('topLevelWriteKey reads the key without parsing, whatever the depth or the strings around it', () => {
  assert.equal(topLevelWriteKey(Buffer.from('{"writeKey":"k"}')), 'k');
  assert.equal(topLevelWriteKey(Buffer.from('{"a":"\\"writeKey\\"","writeKey":"k2"}')), 'k2');
  assert.equal(topLevelWriteKey(Buffer.from('{"a":{"writeKey":"no"},"b":[{"writeKey":"no"}]}')), undefined);
  assert.equal(topLevelWriteKey(Buffer.from('{"writeKey":{"x":"no"}}')), undefined);
  assert.equal(topLevelWriteKey(Buffer.from('{"writeKey":12,"x":"no"}')), undefined);
  assert.equal(topLevelWriteKey(Buffer.from('{"x":"writeKey","y":"no"}')), undefined, 'a value, not a key');
  assert.equal(topLevelWriteKey(Buffer.from(`${'['.repeat(100_000)}"writeKey"`)), undefined);
  assert.equal(
    topLevelWriteKey(Buffer.from('{"writeKey":"k","batch":[[[[[[[[')),
    'k',
    'read before the rest',
  );
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
