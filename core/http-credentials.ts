/**
 * What both intakes do with secrets in HTTP requests: read HTTP Basic credentials and compare secrets
 * without leaking them through timing.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * The `user:password` of an `Authorization: Basic <base64>` header (RFC 7617), undefined for any other
 * scheme. The scheme's name is case-insensitive (RFC 7235 §2.1): `basic` and `BASIC` are Basic too.
 */
export function basicCredentials(authorization: string | undefined): string | undefined {
  const match = /^basic +([^ ]*) *$/i.exec(authorization ?? '');
  return match ? Buffer.from(match[1] ?? '', 'base64').toString('utf8') : undefined;
}

/**
 * A secret's SHA-256 digest: compared with timingSafeEqual, digests of equal length tell neither the
 * content nor the length of the secret through timing.
 */
export function secretDigest(value: string | Buffer): Buffer {
  return createHash('sha256').update(value).digest();
}

/** Whether two digests from secretDigest are equal, in constant time. */
export function sameDigest(a: Buffer, b: Buffer): boolean {
  return timingSafeEqual(a, b);
}
