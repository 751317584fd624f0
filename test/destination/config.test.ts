import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadDestinationConfig } from '../../destination/config.ts';

const auth = { DESTINATION_WRITE_KEY: 'wk-0123456789abcdef' };

test('intake limits: 4 MiB bodies, 16 MiB of bodies in flight, no proxy believed', () => {
  // Broke: 16 MiB bodies were parsed before credentials were checked, with no bound on their sum, and
  // X-Forwarded-For was believed from anyone.
  const config = loadDestinationConfig(auth);
  assert.equal(config.DESTINATION_BODY_LIMIT_BYTES, 4 * 1024 * 1024);
  assert.equal(config.DESTINATION_MAX_BYTES_IN_FLIGHT, 16 * 1024 * 1024);
  assert.equal(config.DESTINATION_TRUST_PROXY, 'false');
});

test('DESTINATION_TRUST_PROXY: a wrong entry is named at start-up', () => {
  assert.equal(
    loadDestinationConfig({ ...auth, DESTINATION_TRUST_PROXY: 'true' }).DESTINATION_TRUST_PROXY,
    'true',
  );
  assert.throws(
    () => loadDestinationConfig({ ...auth, DESTINATION_TRUST_PROXY: '10.0.0.1, 3' }),
    /DESTINATION_TRUST_PROXY: "3" is not an IP address, a subnet/,
  );
});

test('the worker takes the session timeout of its consumer group like the connector', () => {
  assert.equal(loadDestinationConfig(auth).KAFKA_SESSION_TIMEOUT_MS, 30_000);
  assert.equal(
    loadDestinationConfig({ ...auth, KAFKA_SESSION_TIMEOUT_MS: '8000' }).KAFKA_SESSION_TIMEOUT_MS,
    8000,
  );
});
