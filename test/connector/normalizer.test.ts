import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConnectorConfig, mappingOptionsOf } from '../../connector/config.ts';
import { createConnectorMetrics } from '../../connector/metrics.ts';
import { createNormalizerHandler } from '../../connector/normalizer.ts';
import { DEAD_LETTER_HEADERS } from '../../core/dead-letter.ts';
import type { IncomingRecord } from '../../core/kafka.ts';
import { silentLogger } from '../../core/logger.ts';
import {
  type MailjetEventNormalized,
  type MailjetEventRaw,
  mailjetEventNormalizedSchema,
  mailjetEventRawSchema,
} from '../../schemas/index.ts';
import { testRegistry, uniqueName } from '../helpers/stack.ts';

const topics = { raw: uniqueName('raw'), normalized: uniqueName('normalized'), dlq: uniqueName('dlq') };

async function setUp() {
  const registry = testRegistry();
  const rawSerializer = await registry.serializer(`${topics.raw}-value`, mailjetEventRawSchema);
  const real = await registry.serializer(`${topics.normalized}-value`, mailjetEventNormalizedSchema);
  const options = {
    decode: registry.decoder<MailjetEventRaw>(mailjetEventRawSchema),
    mapping: mappingOptionsOf(loadConnectorConfig({})),
    userIdOf: () => undefined,
    normalizedTopic: topics.normalized,
    deadLetterTopic: topics.dlq,
    metrics: createConnectorMetrics({ defaultMetrics: false }),
    logger: silentLogger(),
  };
  const records: IncomingRecord[] = ['a@example.com', 'unencodable@example.com', 'b@example.com'].map(
    (email, offset) => ({
      topic: topics.raw,
      partition: 0,
      offset: String(offset),
      timestamp: '1700000000000',
      key: Buffer.from(email),
      value: rawSerializer.encode({
        event: 'open',
        time: 1700000000,
        email,
        message_id: '1',
        message_guid: null,
        event_json: `{"event":"open","time":1700000000,"email":"${email}","MessageID":1}`,
        received_at: 1700000000000,
        request_id: 'test',
      } satisfies MailjetEventRaw),
      headers: {},
    }),
  );
  const batch = { topic: topics.raw, partition: 0, records, heartbeat: async () => {} };
  return { real, options, batch };
}

test('a record whose normalized value cannot be encoded is its own dead letter; the others are written', async () => {
  const { real, options, batch } = await setUp();
  // A value this schema cannot hold, as a mapping bug would make it: avsc refuses it when encoding.
  const normalize = createNormalizerHandler({
    ...options,
    encode: (value: MailjetEventNormalized) =>
      real.encode(value.email === 'unencodable@example.com' ? { ...value, message_id: undefined } : value),
  });

  const { output, outcome } = await normalize(batch);

  assert.deepEqual(outcome, { delivered: { open: 2 }, deadLettered: 1, skipped: 0 });
  assert.deepEqual(
    output.map((part) => [part.topic, part.records.length]),
    [
      [topics.normalized, 2],
      [topics.dlq, 1],
    ],
  );
  const written = output[0]?.records ?? [];
  assert.deepEqual(
    written.map((record) => record.key?.toString()),
    ['a@example.com', 'b@example.com'],
    'each keeps its raw record key, so a recipient stays on one partition',
  );
  const letter = output[1]?.records[0];
  assert.equal(letter?.headers?.[DEAD_LETTER_HEADERS.errorCode], 'UNMAPPABLE_EVENT');
  assert.equal(letter?.headers?.[DEAD_LETTER_HEADERS.originOffset], '1');
  assert.match(String(letter?.headers?.[DEAD_LETTER_HEADERS.errorMessage]), /invalid/i);
});

test('without an encoder (a dry run) a batch is mapped and counted, and nothing is to be written', async () => {
  const { options, batch } = await setUp();
  const { output, outcome } = await createNormalizerHandler(options)(batch);
  assert.deepEqual(outcome, { delivered: { open: 3 }, deadLettered: 0, skipped: 0 });
  assert.deepEqual(output, []);
});
