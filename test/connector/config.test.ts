import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConnectorConfig, mappingOptionsOf } from '../../connector/config.ts';

function configError(env: NodeJS.ProcessEnv): string {
  try {
    loadConnectorConfig(env);
  } catch (err) {
    return (err as Error).message;
  }
  return assert.fail('expected a configuration error');
}

test('defaults: Segment US endpoint, "Email Dropped" for blocked, dead-letter without identity', () => {
  const config = loadConnectorConfig({});
  assert.equal(config.SEGMENT_ENDPOINT, 'https://api.segment.io');
  assert.equal(config.SEGMENT_WRITE_KEY, undefined);
  assert.equal(config.CONNECTOR_GROUP_ID, 'mailjet-connector');
  assert.equal(
    config.SEGMENT_RETRY_MAX_DELAY_MS,
    10_000,
    'a partition resumes within 10 s of Segment coming back',
  );
  assert.deepEqual(mappingOptionsOf(config), {
    blockedEventName: 'Email Dropped',
    userIdFromCustomId: false,
    noIdentity: 'dead-letter',
  });
});

test('identity options reach the mapping', () => {
  const config = loadConnectorConfig({
    IDENTITY_FROM_CUSTOM_ID: 'true',
    IDENTITY_PAYLOAD_PATH: 'user.id',
    IDENTITY_FALLBACK: 'contact-id',
    SEGMENT_BLOCKED_EVENT_NAME: 'Email Bounced',
  });
  assert.deepEqual(mappingOptionsOf(config), {
    blockedEventName: 'Email Bounced',
    userIdFromCustomId: true,
    userIdPayloadPath: 'user.id',
    noIdentity: 'contact-id',
  });
});

test('a Payload path with empty segments is refused', () => {
  assert.match(
    configError({ IDENTITY_PAYLOAD_PATH: 'user..id' }),
    /IDENTITY_PAYLOAD_PATH: Expected string to match/,
  );
});

test('the fallback names its choices', () => {
  assert.match(
    configError({ IDENTITY_FALLBACK: 'drop' }),
    /IDENTITY_FALLBACK: .*for example IDENTITY_FALLBACK=contact-id/,
  );
});

test('the endpoint must be an http(s) URL', () => {
  assert.match(
    configError({ SEGMENT_ENDPOINT: 'api.segment.io' }),
    /SEGMENT_ENDPOINT: Expected string to match/,
  );
});

test('the session timeout: 30 s unless set, within what a broker accepts by default', () => {
  assert.equal(loadConnectorConfig({}).KAFKA_SESSION_TIMEOUT_MS, 30_000);
  assert.equal(loadConnectorConfig({ KAFKA_SESSION_TIMEOUT_MS: '10000' }).KAFKA_SESSION_TIMEOUT_MS, 10_000);
  assert.match(
    configError({ KAFKA_SESSION_TIMEOUT_MS: '1000' }),
    /KAFKA_SESSION_TIMEOUT_MS: Expected integer to be greater or equal to 6000 \(got 1000, for example KAFKA_SESSION_TIMEOUT_MS=10000\)/,
  );
  assert.match(
    configError({ KAFKA_SESSION_TIMEOUT_MS: '3600000' }),
    /KAFKA_SESSION_TIMEOUT_MS: Expected integer to be less or equal to 1800000/,
  );
});
