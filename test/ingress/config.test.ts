import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadTopicConfig } from '../../core/topics.ts';
import { checkBodyLimitFitsTopics, loadIngressConfig } from '../../ingress/config.ts';

const auth = { INGRESS_BASIC_AUTH_USER: 'mailjet', INGRESS_BASIC_AUTH_PASSWORD: 'a-long-random-secret' };

function configError(env: NodeJS.ProcessEnv): string {
  assert.throws(() => loadIngressConfig(env), /CONFIG|Invalid configuration/);
  try {
    loadIngressConfig(env);
  } catch (err) {
    return (err as Error).message;
  }
  return '';
}

test('defaults: port 8080, path /webhooks/mailjet, 8 MiB bodies, 10 s ack deadline', () => {
  const config = loadIngressConfig(auth);
  assert.equal(config.INGRESS_PORT, 8080);
  assert.equal(config.INGRESS_PATH, '/webhooks/mailjet');
  assert.equal(config.INGRESS_BODY_LIMIT_BYTES, 8 * 1024 * 1024);
  assert.equal(config.INGRESS_ACK_TIMEOUT_MS, 10_000);
  assert.equal(config.INGRESS_AUTH_DISABLED, false);
});

test('the ingress refuses to start without auth, and says how to set it', () => {
  const message = configError({});
  assert.match(message, /set INGRESS_BASIC_AUTH_USER and INGRESS_BASIC_AUTH_PASSWORD/);
  assert.match(message, /INGRESS_TOKEN/);
  assert.match(message, /INGRESS_AUTH_DISABLED=true/);
});

test('auth can be disabled explicitly, or given as a token alone', () => {
  assert.equal(loadIngressConfig({ INGRESS_AUTH_DISABLED: 'true' }).INGRESS_AUTH_DISABLED, true);
  assert.equal(
    loadIngressConfig({ INGRESS_TOKEN: 'token-0123456789abcdef' }).INGRESS_TOKEN,
    'token-0123456789abcdef',
  );
});

test('a user without a password is refused', () => {
  assert.match(configError({ INGRESS_BASIC_AUTH_USER: 'mailjet' }), /set both, or neither/);
});

test('short secrets are refused with the minimum named', () => {
  assert.match(
    configError({ INGRESS_BASIC_AUTH_USER: 'mailjet', INGRESS_BASIC_AUTH_PASSWORD: 'short' }),
    /INGRESS_BASIC_AUTH_PASSWORD: Expected string length greater or equal to 12/,
  );
  assert.match(
    configError({ INGRESS_TOKEN: 'short' }),
    /INGRESS_TOKEN: Expected string length greater or equal to 16/,
  );
});

test('a user with a colon is refused (it could not be told from the password)', () => {
  assert.match(
    configError({ ...auth, INGRESS_BASIC_AUTH_USER: 'a:b' }),
    /INGRESS_BASIC_AUTH_USER: Expected string to match/,
  );
});

test('the path must start with a slash', () => {
  assert.match(configError({ ...auth, INGRESS_PATH: 'webhooks' }), /INGRESS_PATH: Expected string to match/);
});

test('numbers are validated with their bounds', () => {
  assert.match(
    configError({ ...auth, INGRESS_ACK_TIMEOUT_MS: '5' }),
    /INGRESS_ACK_TIMEOUT_MS: Expected integer to be greater or equal to 100/,
  );
  assert.match(
    configError({ ...auth, INGRESS_PORT: 'http' }),
    /INGRESS_PORT: Expected integer \(got "http", for example INGRESS_PORT=8080\)/,
  );
});

// The body limit (32 MiB) was 32 times what the dead-letter topic took, so an invalid body near it could
// never be dead-lettered: 503 until Mailjet gave up on it.
test('the body limit must leave room in the dead-letter topic for a whole body and its headers', () => {
  const config = loadIngressConfig({ ...auth, INGRESS_BODY_LIMIT_BYTES: String(9 * 1024 * 1024) });
  assert.throws(
    () => checkBodyLimitFitsTopics(config, loadTopicConfig({})),
    /INGRESS_BODY_LIMIT_BYTES \(9437184\) \+ 65536 bytes of dead-letter headers must fit DEAD_LETTER_TOPIC_MAX_MESSAGE_BYTES \(9437184\)/,
  );
  checkBodyLimitFitsTopics(
    config,
    loadTopicConfig({ DEAD_LETTER_TOPIC_MAX_MESSAGE_BYTES: String(9 * 1024 * 1024 + 65536) }),
  );
  checkBodyLimitFitsTopics(loadIngressConfig(auth), loadTopicConfig({}));
});

test('INGRESS_TRUST_PROXY: no proxy believed by default; a wrong entry is named at start-up', () => {
  // Broke: X-Forwarded-For was always believed; there was no setting.
  assert.equal(loadIngressConfig(auth).INGRESS_TRUST_PROXY, 'false');
  assert.equal(
    loadIngressConfig({ ...auth, INGRESS_TRUST_PROXY: '10.0.0.0/8,loopback' }).INGRESS_TRUST_PROXY,
    '10.0.0.0/8,loopback',
  );
  assert.match(
    configError({ ...auth, INGRESS_TRUST_PROXY: '10.0.0.0/8,proxy.local' }),
    /INGRESS_TRUST_PROXY: "proxy.local" is not an IP address, a subnet/,
  );
});

test('INGRESS_MAX_BYTES_IN_FLIGHT: 16 MiB by default', () => {
  assert.equal(loadIngressConfig(auth).INGRESS_MAX_BYTES_IN_FLIGHT, 16 * 1024 * 1024);
});
