/**
 * Authentication of the identify intake, in the ways Segment itself sends calls:
 * - a write key, as Segment's HTTP API takes one: the HTTP Basic username with an empty password
 *   (`writeKey:`; some clients drop the colon) or `writeKey` at the top level of the body;
 * - a Segment webhook destination's shared secret: `X-Signature` (or `X-Segment-Signature`) is the hex
 *   HMAC-SHA1 of the body with the secret. It is checked over every byte of the body as received, before
 *   anything is parsed, so a signature authorizes exactly the calls it was computed over. Segment's
 *   Webhooks (Actions) in their legacy mode sign only the first call of a batch with X-Signature: such a
 *   batch is refused, since anyone holding one signed request could append calls to it.
 * Credentials in headers are checked before the body is read (beforeBody); only a signature or a write
 * key in the body need the body, and then it is read but not parsed until they matched (withBody).
 * Secrets and signatures are compared through SHA-256 digests with timingSafeEqual, so neither their
 * content nor their length leaks through timing.
 */
import { createHmac } from 'node:crypto';
import { basicCredentials, sameDigest, secretDigest } from '../core/http-credentials.ts';
import type { DestinationConfig } from './config.ts';

export interface IntakeCredentials {
  writeKey?: string;
  sharedSecret?: string;
}

export type AuthResult = 'ok' | 'missing' | 'invalid';

/** What a request's headers offer to authenticate with. */
export interface IntakeAuthHeaders {
  /** The Authorization header. */
  authorization?: string | undefined;
  /** X-Signature, or X-Segment-Signature (the same HMAC under Segment's newer header name). */
  signature?: string | undefined;
}

export interface IntakeAuthenticator {
  /** From the headers alone, before the body is read; `body`: only the body can tell (withBody). */
  beforeBody(headers: IntakeAuthHeaders): AuthResult | 'body';
  /** Over the raw body, before it is parsed: the signature of all its bytes, or its top-level writeKey. */
  withBody(headers: IntakeAuthHeaders, body: Buffer): AuthResult;
}

/** The credentials the config asks for; undefined when DESTINATION_AUTH_DISABLED lets everyone in. */
export function intakeCredentials(config: DestinationConfig): IntakeCredentials | undefined {
  if (config.DESTINATION_AUTH_DISABLED) return undefined;
  return {
    ...(config.DESTINATION_WRITE_KEY !== undefined ? { writeKey: config.DESTINATION_WRITE_KEY } : {}),
    ...(config.DESTINATION_SHARED_SECRET !== undefined
      ? { sharedSecret: config.DESTINATION_SHARED_SECRET }
      : {}),
  };
}

export function createIntakeAuthenticator(credentials: IntakeCredentials | undefined): IntakeAuthenticator {
  if (!credentials) return { beforeBody: () => 'ok', withBody: () => 'ok' };
  const { writeKey, sharedSecret } = credentials;
  const keyWithColon = writeKey === undefined ? undefined : secretDigest(`${writeKey}:`);
  const key = writeKey === undefined ? undefined : secretDigest(writeKey);

  return {
    beforeBody({ authorization, signature }) {
      const offered = basicCredentials(authorization);
      if (keyWithColon && key && offered !== undefined) {
        const decoded = secretDigest(offered);
        // Both compared, even after one matched: the time taken does not say which.
        if (sameDigest(decoded, keyWithColon) || sameDigest(decoded, key)) return 'ok';
      }
      if (sharedSecret !== undefined && signature !== undefined) return 'body';
      if (authorization !== undefined || signature !== undefined) return 'invalid';
      return key ? 'body' : 'missing';
    },
    withBody({ signature }, body) {
      let ok = false;
      if (sharedSecret !== undefined && signature !== undefined) {
        const expected = createHmac('sha1', sharedSecret).update(body).digest('hex');
        ok = sameDigest(secretDigest(signature.trim().toLowerCase()), secretDigest(expected));
      }
      const bodyKey = key ? topLevelWriteKey(body) : undefined;
      if (key && bodyKey !== undefined) ok = sameDigest(secretDigest(bodyKey), key) || ok;
      if (ok) return 'ok';
      return signature === undefined && bodyKey === undefined ? 'missing' : 'invalid';
    },
  };
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;

/**
 * The string value of `writeKey` at the top level of a JSON object body, found without parsing it: one
 * pass over the bytes that only counts brackets, so a body of any size or depth costs no more than
 * reading it. Undefined when the body is not an object, has no such key, or its value is not a string.
 * Strings are skipped as JSON defines them; a body that is not JSON yields nothing reliable, which
 * at worst refuses it.
 */
export function topLevelWriteKey(body: Buffer): string | undefined {
  let depth = 0;
  let rootIsObject = false;
  let expectKey = false;
  let valueOfWriteKey = false;
  let found: string | undefined;
  let i = 0;
  while (i < body.length) {
    const byte = body[i];
    if (byte === QUOTE) {
      const start = i;
      for (i++; i < body.length && body[i] !== QUOTE; i++) if (body[i] === BACKSLASH) i++;
      i++;
      if (depth !== 1 || !rootIsObject) continue;
      const text = jsonString(body.subarray(start, i));
      if (expectKey) {
        valueOfWriteKey = text === 'writeKey';
        expectKey = false;
      } else if (valueOfWriteKey) {
        if (text !== undefined) found = text;
        valueOfWriteKey = false;
      }
      continue;
    }
    if (byte === 0x7b || byte === 0x5b) {
      // { or [
      if (depth === 0) rootIsObject = expectKey = byte === 0x7b;
      else if (depth === 1) valueOfWriteKey = false;
      depth++;
    } else if (byte === 0x7d || byte === 0x5d) {
      depth--;
    } else if (byte === COMMA && depth === 1) {
      expectKey = rootIsObject;
      valueOfWriteKey = false;
    }
    i++;
  }
  return found;
}

function jsonString(quoted: Buffer): string | undefined {
  if (!quoted.includes(BACKSLASH)) return quoted.subarray(1, quoted.length - 1).toString('utf8');
  try {
    return JSON.parse(quoted.toString('utf8')) as string;
  } catch {
    return undefined;
  }
}
