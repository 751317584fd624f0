/**
 * Authentication of the identify intake, in the two ways Segment itself sends calls:
 * - a write key, as Segment's HTTP API takes one: the HTTP Basic username with an empty password
 *   (`writeKey:`; some clients drop the colon) or `writeKey` in the body;
 * - a Segment webhook destination's shared secret: `X-Signature` is the hex HMAC-SHA1 of the body as
 *   JSON.stringify wrote it, which for a batch is the first call only. A batch signed over the whole
 *   body passes too, so a sender of our own can sign what it sends.
 * Any configured way that matches lets the request in. Secrets and signatures are compared through
 * SHA-256 digests with timingSafeEqual, so neither their content nor their length leaks through timing.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { DestinationConfig } from './config.ts';

export interface IntakeCredentials {
  writeKey?: string;
  sharedSecret?: string;
}

export type AuthResult = 'ok' | 'missing' | 'invalid';

/** What a request offers to authenticate with. */
export interface IntakeAuthInput {
  /** The Authorization header. */
  authorization?: string;
  /** The X-Signature header. */
  signature?: string;
  /** The raw body, as received. */
  body: Buffer;
  /** `writeKey` read from the body (see IdentifyBody). */
  bodyWriteKey?: string;
  /** For arrays and batches: the first call as JSON.stringify writes it (see IdentifyBody). */
  firstCallJson?: string;
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

export function createIntakeAuthenticator(
  credentials: IntakeCredentials | undefined,
): (input: IntakeAuthInput) => AuthResult {
  if (!credentials) return () => 'ok';
  const { writeKey, sharedSecret } = credentials;
  const keyWithColon = writeKey === undefined ? undefined : digest(`${writeKey}:`);
  const key = writeKey === undefined ? undefined : digest(writeKey);

  return (input) => {
    const { authorization, signature, bodyWriteKey } = input;
    if (authorization === undefined && signature === undefined && bodyWriteKey === undefined) {
      return 'missing';
    }
    let ok = false;
    // Every offered credential is checked, even after one matched: the time taken does not say which.
    if (keyWithColon && key && authorization?.startsWith('Basic ')) {
      const decoded = digest(Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8'));
      ok = timingSafeEqual(decoded, keyWithColon) || ok;
      ok = timingSafeEqual(decoded, key) || ok;
    }
    if (key && bodyWriteKey !== undefined) ok = timingSafeEqual(digest(bodyWriteKey), key) || ok;
    if (sharedSecret !== undefined && signature !== undefined) {
      const offered = digest(signature.trim().toLowerCase());
      ok = timingSafeEqual(offered, digest(hmacHex(sharedSecret, input.body))) || ok;
      if (input.firstCallJson !== undefined) {
        ok = timingSafeEqual(offered, digest(hmacHex(sharedSecret, input.firstCallJson))) || ok;
      }
    }
    return ok ? 'ok' : 'invalid';
  };
}

function hmacHex(secret: string, signed: Buffer | string): string {
  return createHmac('sha1', secret).update(signed).digest('hex');
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}
