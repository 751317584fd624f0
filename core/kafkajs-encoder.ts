/**
 * kafkajs's protocol Encoder, allocating without zero-filling. kafkajs encodes every record into a
 * Buffer.alloc(512) of its own and grows each encoder by allocating and zero-filling again, so a produce
 * request of 2,000 records allocated about 15 MB of zeroed memory for 1.1 MB sent. The encoder only ever
 * hands out the bytes it wrote (`buf.slice(0, offset)`), so the zeroing bought nothing. kafkajs is
 * frozen at 2.2.4 (unmaintained), so its internals do not move; core/kafka.ts imports this first.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const encoderPath = require.resolve('kafkajs/src/protocol/encoder.js');

interface EncoderInstance {
  buf: Buffer;
  offset: number;
}
interface EncoderClass {
  new (initialSize?: number): EncoderInstance;
  nextPowerOfTwo(value: number): number;
  prototype: EncoderInstance & { ensureAvailable(length: number): void };
}

const Encoder = require(encoderPath) as EncoderClass;
Encoder.prototype.ensureAvailable = function ensureAvailable(this: EncoderInstance, length: number) {
  if (this.offset + length > this.buf.length) {
    const grown = Buffer.allocUnsafe(Encoder.nextPowerOfTwo(this.offset + length));
    this.buf.copy(grown, 0, 0, this.offset);
    this.buf = grown;
  }
};
// Construction is the other zero-filling allocation: kafkajs's modules `new` the class they required,
// so the cached module becomes a constructor that allocates unsafely (pooled below 4 KiB).
const module = require.cache[encoderPath];
if (module) {
  module.exports = new Proxy(Encoder, {
    construct(target, args: [number?]) {
      const encoder = Object.create(target.prototype) as EncoderInstance;
      encoder.buf = Buffer.allocUnsafe(target.nextPowerOfTwo(args[0] ?? 511));
      encoder.offset = 0;
      return encoder;
    },
  });
}
