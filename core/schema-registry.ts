/**
 * The one module that talks to the Confluent-compatible schema registry (Confluent Schema Registry, or
 * Apicurio Registry's /apis/ccompat/v7). Values are framed in Confluent wire format: magic byte 0, the
 * 4-byte big-endian schema id, then the Avro binary body.
 */
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import avro from 'avsc';
import { ConnectorError, isRetriable } from './errors.ts';

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
  /**
   * A decoder of Confluent-framed values into `readerSchema`, resolving whatever (compatible) writer
   * schema each value names. Fails with REGISTRY_UNAVAILABLE when asking again may help, and only then;
   * with WRONG_SCHEMA when the value's schema cannot be read as `readerSchema` (another topic's record),
   * and UNDECODABLE_RECORD when a value can never be read otherwise (bad framing, unknown schema id,
   * corrupt body). Never with anything but a ConnectorError.
   */
  decoder<T>(readerSchema: object): (buffer: Buffer) => Promise<T>;
  /** True when the registry answers its subjects listing. */
  ping(): Promise<boolean>;
}

export const WIRE_FORMAT_MAGIC_BYTE = 0;

/** Basic credentials of a registry that asks for them (Confluent Cloud: API key and secret). */
export interface RegistryCredentials {
  username: string;
  password: string;
}

/** How long one request to the registry may take before it counts as unanswered. */
export const REGISTRY_REQUEST_TIMEOUT_MS = 10_000;

export function createSchemaRegistryClient(
  url: string,
  auth?: RegistryCredentials,
  options: { requestTimeoutMs?: number } = {},
): SchemaRegistryClient {
  const requestTimeoutMs = options.requestTimeoutMs ?? REGISTRY_REQUEST_TIMEOUT_MS;
  const registry = new SchemaRegistry({
    host: url,
    ...(auth ? { auth: { username: auth.username, password: auth.password } } : {}),
  });
  const base = url.replace(/\/+$/, '');
  const headers: Record<string, string> = auth
    ? { authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` }
    : {};
  const request: RegistryRequest = (method, path, what, body) =>
    registryRequest({ base, headers, timeoutMs: requestTimeoutMs }, method, path, what, body);

  return {
    // Our own requests rather than the library's, which have no timeout: a registration the registry
    // takes and never answers kept a starting service waiting for good, never trying again. The steps
    // are the library's: the subject's compatibility rule must be BACKWARD (the one the project's
    // contracts are checked against), and a new subject gets it set.
    async register(subject, avroSchema) {
      avro.Type.forSchema(avroSchema as avro.Schema);
      const path = encodeURIComponent(subject);
      const what = `Registering ${subject}`;
      const config = await request('GET', `/config/${path}`, what);
      if (config.status === 200) {
        const level = String(
          (config.body as { compatibilityLevel?: string }).compatibilityLevel,
        ).toUpperCase();
        if (level !== 'BACKWARD') {
          throw new Error(`Compatibility does not match the configuration (BACKWARD != ${level})`);
        }
      } else if (config.status !== 404) throw refusal(config);
      const registered = await request('POST', `/subjects/${path}/versions`, what, {
        schema: JSON.stringify(avroSchema),
      });
      if (registered.status !== 200) throw refusal(registered);
      if (config.status === 404) {
        const set = await request('PUT', `/config/${path}`, what, { compatibility: 'BACKWARD' });
        if (set.status !== 200) throw refusal(set);
      }
      return (registered.body as { id: number }).id;
    },
    encode: (schemaId, value) => registry.encode(schemaId, value),
    async serializer(subject, avroSchema) {
      return createAvroSerializer(subject, await this.register(subject, avroSchema), avroSchema);
    },
    decode: (buffer) => registry.decode(buffer),
    decoder<T>(readerSchema: object) {
      const reader = avro.Type.forSchema(readerSchema as avro.Schema);
      const resolvers = new Map<number, Promise<avro.Resolver>>();
      // The resolvers already at hand, so a value of a known schema costs no await of its own: the hot
      // path of the connector, one record at a time.
      const ready = new Map<number, avro.Resolver>();
      const resolverFor = (id: number) => {
        let resolver = resolvers.get(id);
        if (!resolver) {
          resolver = writerSchema(request, base, id).then((writer) => {
            const created = resolverOf(reader, writer, id);
            ready.set(id, created);
            return created;
          });
          // A failed look-up is not cached when the registry may answer next time; a schema that can
          // never be read is, so each of its records costs no registry request.
          resolver.catch((err: unknown) => {
            if (isRetriable(err)) resolvers.delete(id);
          });
          resolvers.set(id, resolver);
        }
        return resolver;
      };
      return async (buffer: Buffer) => {
        const id = schemaIdOf(buffer);
        if (id === undefined) {
          throw new ConnectorError(
            'UNDECODABLE_RECORD',
            'Not Confluent wire format: no magic byte 0 and schema id.',
          );
        }
        const resolver = ready.get(id) ?? (await resolverFor(id));
        try {
          return reader.fromBuffer(buffer.subarray(5), resolver) as T;
        } catch (err) {
          throw new ConnectorError(
            'UNDECODABLE_RECORD',
            `Avro body does not match schema id ${id}: ${(err as Error).message}`,
            {
              cause: err,
            },
          );
        }
      };
    },
    async ping() {
      try {
        const response = await fetch(`${base}/subjects`, { headers, signal: AbortSignal.timeout(2000) });
        await response.body?.cancel();
        return response.ok;
      } catch {
        return false;
      }
    },
  };
}

/** A serializer for a schema already registered under `schemaId`; no I/O. */
export function createAvroSerializer(subject: string, schemaId: number, avroSchema: object): AvroSerializer {
  const type = avro.Type.forSchema(avroSchema as avro.Schema);
  // Values are encoded behind the header in one scratch buffer, then copied out once into a pooled
  // allocation: avsc's toBuffer zero-fills a buffer of its own and Buffer.concat copies it again, which
  // made the encode a visible part of the connector's CPU profile (bench/connector.ts --cpu-prof).
  let scratch = framed(64 * 1024);
  return {
    subject,
    schemaId,
    encode(value) {
      let end = type.encode(value, scratch, 5);
      if (end < 0) {
        // avsc answers how many bytes were missing; the buffer grows once and stays grown.
        scratch = framed(2 * (scratch.length - end));
        end = type.encode(value, scratch, 5);
      }
      const encoded = Buffer.allocUnsafe(end);
      scratch.copy(encoded, 0, 0, end);
      return encoded;
    },
  };

  function framed(size: number): Buffer {
    const buffer = Buffer.alloc(size);
    buffer.writeUInt8(WIRE_FORMAT_MAGIC_BYTE, 0);
    buffer.writeInt32BE(schemaId, 1);
    return buffer;
  }
}

/**
 * How `reader` reads values written with schema `id`. Only the registry being unreachable is worth a
 * retry; a writer schema that is no Avro, or that the reader cannot resolve (another topic's record),
 * fails the same way every time, so the record is dead-lettered instead of stalling its partition.
 */
function resolverOf(reader: avro.Type, writer: object, id: number): avro.Resolver {
  let writerType: avro.Type;
  try {
    writerType = avro.Type.forSchema(writer as avro.Schema);
  } catch (err) {
    throw new ConnectorError(
      'UNDECODABLE_RECORD',
      `Schema id ${id} is not a valid Avro schema: ${(err as Error).message}`,
      { cause: err },
    );
  }
  try {
    return reader.createResolver(writerType);
  } catch (err) {
    const writerName = writerType.name ?? writerType.typeName;
    throw new ConnectorError(
      'WRONG_SCHEMA',
      `Schema id ${id} (${writerName}) cannot be read as ${reader.name ?? reader.typeName}: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

/** An answer the registry refused with: its status (for the caller's judgement) and its message. */
function refusal(answer: RegistryAnswer): Error {
  const message = (answer.body as { message?: string } | undefined)?.message ?? answer.text;
  return Object.assign(new Error(`${answer.status}: ${message}`), { status: answer.status });
}

type RegistryAnswer = { status: number; body: unknown; text: string };
type RegistryRequest = (method: string, path: string, what: string, body?: object) => Promise<RegistryAnswer>;

/**
 * One request to the registry, answered within `timeoutMs`, or REGISTRY_UNAVAILABLE (retriable): every
 * request of this module goes through here, so none can wait for an answer for ever. `what` names the
 * work in the error ("Registering <subject>").
 */
async function registryRequest(
  to: { base: string; headers: Record<string, string>; timeoutMs: number },
  method: string,
  path: string,
  what: string,
  body?: object,
): Promise<RegistryAnswer> {
  try {
    const response = await fetch(`${to.base}${path}`, {
      method,
      headers: { ...to.headers, 'content-type': 'application/vnd.schemaregistry.v1+json' },
      ...(body ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(to.timeoutMs),
    });
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined; // Not JSON (a proxy's page): its text says what happened.
    }
    return { status: response.status, body: parsed, text };
  } catch (err) {
    const reason =
      (err as Error).name === 'TimeoutError'
        ? `did not answer within ${to.timeoutMs} ms`
        : `did not answer: ${(err as Error).message}`;
    throw new ConnectorError('REGISTRY_UNAVAILABLE', `${what}: schema registry ${to.base} ${reason}.`, {
      cause: err,
    });
  }
}

async function writerSchema(request: RegistryRequest, base: string, id: number): Promise<object> {
  const answer = await request('GET', `/schemas/ids/${id}`, `Reading schema id ${id}`);
  if (answer.status === 404) {
    throw new ConnectorError('UNDECODABLE_RECORD', `Schema id ${id} is unknown to the registry ${base}.`);
  }
  if (answer.status < 200 || answer.status >= 300) {
    // Retriable even on 401/403: credentials revoked while running must not dead-letter good records.
    const credentials =
      answer.status === 401 || answer.status === 403
        ? ' (check SCHEMA_REGISTRY_USERNAME and SCHEMA_REGISTRY_PASSWORD)'
        : '';
    throw new ConnectorError(
      'REGISTRY_UNAVAILABLE',
      `Schema registry ${base} answered ${answer.status} for schema id ${id}${credentials}.`,
    );
  }
  const body = answer.body as { schema: string; schemaType?: string } | undefined;
  if (body === undefined) {
    // A cut connection or a proxy's error page in a 200: the registry did not really answer.
    throw new ConnectorError(
      'REGISTRY_UNAVAILABLE',
      `Schema registry ${base} sent no readable answer for schema id ${id}: ${answer.text.slice(0, 100)}`,
    );
  }
  if (body.schemaType && body.schemaType !== 'AVRO') {
    throw new ConnectorError('UNDECODABLE_RECORD', `Schema id ${id} is ${body.schemaType}, not Avro.`);
  }
  try {
    return JSON.parse(body.schema) as object;
  } catch (err) {
    throw new ConnectorError(
      'UNDECODABLE_RECORD',
      `Schema id ${id} is not a JSON schema text: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

/** Reads the schema id of a Confluent-framed value, or undefined when the framing is wrong. */
export function schemaIdOf(buffer: Buffer): number | undefined {
  if (buffer.length < 5 || buffer[0] !== WIRE_FORMAT_MAGIC_BYTE) return undefined;
  return buffer.readInt32BE(1);
}
