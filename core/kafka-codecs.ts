/**
 * Every compression codec of Kafka, so the consumers read topics whatever wrote them. kafkajs decodes
 * only gzip itself and stops the consumer for good on a batch compressed otherwise ("LZ4 compression not
 * implemented"), yet Kafka's own Java clients (Streams, Connect, MirrorMaker) are often set to lz4, zstd
 * or snappy, and a topic's `compression.type` makes the broker store even our own batches that way.
 * zstd is Node's own; snappy with Kafka's Java (xerial) framing is kafkajs's snappy codec; lz4 frames are
 * lz4js, both pure JavaScript, so nothing is built on install. The producers write none, gzip, snappy
 * or zstd (KAFKA_COMPRESSION): lz4js's frames chain their blocks, which brokers refuse.
 */
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { zstdCompress, zstdDecompress } from 'node:zlib';
import type * as Kafkajs from 'kafkajs';

const require = createRequire(import.meta.url);
// kafkajs's CommonJS exports these two without Node seeing them as named exports.
const { CompressionCodecs, CompressionTypes } = require('kafkajs') as typeof Kafkajs;
const snappyCodec = require('kafkajs-snappy') as () => KafkajsCodec;
const lz4 = require('lz4js') as { decompress(src: Uint8Array): Uint8Array };

interface KafkajsCodec {
  compress(encoder: { buffer: Buffer }): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
}

const zstd = { compress: promisify(zstdCompress), decompress: promisify(zstdDecompress) };

const asBuffer = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

const codecs: Record<'snappy' | 'lz4' | 'zstd', () => KafkajsCodec> = {
  snappy: snappyCodec,
  lz4: () => ({
    // lz4js writes frames of dependent blocks, which Kafka's brokers refuse: read only.
    compress: async () => {
      throw new Error('LZ4 is read, not written: choose zstd, snappy or gzip for KAFKA_COMPRESSION.');
    },
    decompress: async (buffer) => asBuffer(lz4.decompress(buffer)),
  }),
  zstd: () => ({
    compress: (encoder) => zstd.compress(encoder.buffer),
    decompress: (buffer) => zstd.decompress(buffer),
  }),
};

/** Registers the codecs kafkajs lacks; core/kafka.ts calls it once, before any client exists. */
export function installCompressionCodecs(): void {
  CompressionCodecs[CompressionTypes.Snappy] = codecs.snappy;
  CompressionCodecs[CompressionTypes.LZ4] = codecs.lz4;
  CompressionCodecs[CompressionTypes.ZSTD] = codecs.zstd;
}
