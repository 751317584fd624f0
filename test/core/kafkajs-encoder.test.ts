import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
// Loads kafkajs the way the kafkajs client does (KAFKA_CLIENT=kafkajs, transitional): through
// core/kafka-kafkajs.ts, which installs the encoder first.
import '../../core/kafka-kafkajs.ts';

const require = createRequire(import.meta.url);
const Encoder = require('kafkajs/src/protocol/encoder.js');
const Decoder = require('kafkajs/src/protocol/decoder.js');
const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0/index.js');
const Record = require('kafkajs/src/protocol/recordBatch/record/v0/index.js');
const decodeRecordBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder.js');
const crc32C = require('kafkajs/src/protocol/recordBatch/crc32C/index.js');

test("kafkajs's modules get the encoder that allocates without zero-filling (small ones from the pool)", () => {
  const encoder = new Encoder();
  assert.equal(encoder.buf.length, 512);
  assert.ok(
    encoder.buf.buffer.byteLength > 512,
    `a slice of the shared pool, not an allocation of its own (${encoder.buf.buffer.byteLength} bytes)`,
  );
  assert.ok(encoder instanceof Encoder);
  assert.equal(typeof Encoder.sizeOfVarInt, 'function', 'the static helpers are still there');
});

test('a record batch encoded over memory full of garbage decodes to the same records and carries a right CRC', async () => {
  // Fill the allocation pool with a pattern, so any byte the encoder left unwritten would show.
  for (let i = 0; i < 64; i++) Buffer.allocUnsafe(4000).fill(0xab);
  const sent = Array.from({ length: 300 }, (_, i) => ({
    offsetDelta: i,
    timestampDelta: i * 3,
    key: `user-${i}@example.com`,
    value: Buffer.alloc(20 + ((i * 37) % 1500), i % 251),
    headers: i % 3 === 0 ? { 'dlq.code': `CODE_${i}`, 'dlq.stage': 'connector' } : {},
  }));
  const batch = await RecordBatch({
    records: sent.map((record) => Record(record)),
    firstTimestamp: 1_700_000_000_000,
    maxTimestamp: 1_700_000_000_900,
    lastOffsetDelta: sent.length - 1,
  });
  const bytes: Buffer = batch.buffer;

  // firstOffset (8), length (4), leader epoch (4), magic (1), then the CRC of everything after it.
  assert.equal(bytes.readUInt32BE(17), crc32C(bytes.subarray(21)), 'CRC32C over the batch body');
  const decoded = await decodeRecordBatch(new Decoder(bytes));
  assert.equal(decoded.records.length, sent.length);
  decoded.records.forEach(
    (record: { key: Buffer; value: Buffer; headers: Record<string, Buffer> }, i: number) => {
      const expected = sent[i] as (typeof sent)[number];
      assert.equal(record.key.toString(), expected.key);
      assert.ok(record.value.equals(expected.value), `value of record ${i}`);
      assert.deepEqual(
        Object.fromEntries(Object.entries(record.headers).map(([name, value]) => [name, value.toString()])),
        expected.headers,
      );
    },
  );
});
