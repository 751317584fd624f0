/**
 * The one module that talks to the Confluent-compatible schema registry (Confluent Schema Registry, or
 * Apicurio Registry's /apis/ccompat/v7). Values are framed in Confluent wire format: magic byte 0, the
 * 4-byte big-endian schema id, then the Avro binary body.
 */
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import avro from 'avsc';

/** Encodes values of one registered schema synchronously: the hot path of every producer. */
export interface AvroSerializer {
  subject: string;
  schemaId: number;
  encode(value: unknown): Buffer;
}

export interface SchemaRegistryClient {
  /** Registers (or finds) the Avro schema under `subject` and returns its id; fails if incompatible. */
  register(subject: string, avroSchema: object): Promise<number>;
  encode(schemaId: number, value: unknown): Promise<Buffer>;
  /** Registers `avroSchema` under `subject` and returns a serializer for it. */
  serializer(subject: string, avroSchema: object): Promise<AvroSerializer>;
  decode<T = unknown>(buffer: Buffer): Promise<T>;
  /** True when the registry answers its subjects listing. */
  ping(): Promise<boolean>;
}

export const WIRE_FORMAT_MAGIC_BYTE = 0;

export function createSchemaRegistryClient(url: string): SchemaRegistryClient {
  const registry = new SchemaRegistry({ host: url });
  const base = url.replace(/\/+$/, '');
  return {
    async register(subject, avroSchema) {
      const { id } = await registry.register(
        { type: SchemaType.AVRO, schema: JSON.stringify(avroSchema) },
        { subject },
      );
      return id;
    },
    encode: (schemaId, value) => registry.encode(schemaId, value),
    async serializer(subject, avroSchema) {
      const schemaId = await this.register(subject, avroSchema);
      const type = avro.Type.forSchema(avroSchema as avro.Schema);
      const header = Buffer.alloc(5);
      header.writeUInt8(WIRE_FORMAT_MAGIC_BYTE, 0);
      header.writeInt32BE(schemaId, 1);
      return {
        subject,
        schemaId,
        encode: (value) => Buffer.concat([header, type.toBuffer(value)]),
      };
    },
    decode: (buffer) => registry.decode(buffer),
    async ping() {
      try {
        const response = await fetch(`${base}/subjects`, { signal: AbortSignal.timeout(2000) });
        await response.body?.cancel();
        return response.ok;
      } catch {
        return false;
      }
    },
  };
}

/** Reads the schema id of a Confluent-framed value, or undefined when the framing is wrong. */
export function schemaIdOf(buffer: Buffer): number | undefined {
  if (buffer.length < 5 || buffer[0] !== WIRE_FORMAT_MAGIC_BYTE) return undefined;
  return buffer.readInt32BE(1);
}
