import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createAuthenticator, withoutToken } from '../../ingress/auth.ts';

const basic = (userPass: string) => `Basic ${Buffer.from(userPass).toString('base64')}`;
const check = createAuthenticator({
  basic: { user: 'mailjet', password: 's3cret-password' },
  token: 'token-0123456789abcdef',
});

test('the right Basic credentials or the right token pass', () => {
  assert.equal(check(basic('mailjet:s3cret-password'), undefined), 'ok');
  assert.equal(check(undefined, 'token-0123456789abcdef'), 'ok');
});

test('nothing at all is "missing"; anything wrong is "invalid"', () => {
  assert.equal(check(undefined, undefined), 'missing');
  assert.equal(check(basic('mailjet:wrong'), undefined), 'invalid');
  assert.equal(check(basic('someone:s3cret-password'), undefined), 'invalid');
  assert.equal(check(basic('mailjet:s3cret-password-and-more'), undefined), 'invalid');
  assert.equal(check('Bearer s3cret-password', undefined), 'invalid');
  assert.equal(check('Basic !!!not-base64', undefined), 'invalid');
  assert.equal(check(undefined, 'token-wrong'), 'invalid');
  assert.equal(check(undefined, ''), 'invalid');
});

test('a configured token does not make Basic credentials optional, nor the reverse', () => {
  const tokenOnly = createAuthenticator({ token: 'token-0123456789abcdef' });
  assert.equal(tokenOnly(basic('mailjet:s3cret-password'), undefined), 'invalid');
  const basicOnly = createAuthenticator({ basic: { user: 'mailjet', password: 's3cret-password' } });
  assert.equal(basicOnly(undefined, 'token-0123456789abcdef'), 'invalid');
});

test('with auth disabled every request passes', () => {
  assert.equal(createAuthenticator(undefined)(undefined, undefined), 'ok');
});

test('withoutToken hides the token in URLs written to logs', () => {
  assert.equal(withoutToken('/webhooks/mailjet?token=abc&x=1'), '/webhooks/mailjet?token=[redacted]&x=1');
  assert.equal(withoutToken('/webhooks/mailjet?x=1&token=abc'), '/webhooks/mailjet?x=1&token=[redacted]');
  assert.equal(withoutToken('/webhooks/mailjet'), '/webhooks/mailjet');
});

test("the Basic scheme's name is read in any case (RFC 7235); a repeated token is 'repeated', not a throw", () => {
  // Broke: "basic …" was refused, and a token array (`?token=a&token=b`) made the digest throw: 500.
  const credentials = Buffer.from('mailjet:s3cret-password').toString('base64');
  assert.equal(check(`basic ${credentials}`, undefined), 'ok');
  assert.equal(check(`BASIC  ${credentials}`, undefined), 'ok');
  assert.equal(check(undefined, ['token-0123456789abcdef', 'x']), 'repeated');
});

test('withoutToken hides every parameter the server reads as token, whatever its encoding', () => {
  // Broke: only a literal `token=` was hidden; `%74oken=` is the same parameter for the server.
  assert.equal(withoutToken('/w?%74oken=abc&x=1'), '/w?token=[redacted]&x=1');
  assert.equal(withoutToken('/w?x=1&tok%65n=abc&token=def'), '/w?x=1&token=[redacted]&token=[redacted]');
  assert.equal(withoutToken('/w?%74%6F%6B%65%6E=abc'), '/w?token=[redacted]');
  assert.equal(withoutToken('/w?tokens=abc&x=%zz'), '/w?tokens=abc&x=%zz', 'other parameters are kept');
  assert.equal(withoutToken('/w?%zztoken=abc'), '/w?%zztoken=abc', 'an undecodable name is not token');
});
