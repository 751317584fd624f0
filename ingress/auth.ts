/**
 * Webhook authentication. Mailjet signs nothing: the only secret is what the user embeds in the callback
 * URL, which arrives as an HTTP Basic header (https://user:pass@host/path) or, with our token option,
 * as the `token` query parameter. Secrets are compared through SHA-256 digests with timingSafeEqual, so
 * neither their content nor their length leaks through timing.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

export interface WebhookCredentials {
  basic?: { user: string; password: string };
  token?: string;
}

export type AuthResult = 'ok' | 'missing' | 'invalid';

export function createAuthenticator(credentials: WebhookCredentials | undefined) {
  if (!credentials) return (): AuthResult => 'ok';
  const basic = credentials.basic
    ? digest(`${credentials.basic.user}:${credentials.basic.password}`)
    : undefined;
  const token = credentials.token === undefined ? undefined : digest(credentials.token);

  return (authorization: string | undefined, queryToken: string | undefined): AuthResult => {
    if (authorization === undefined && queryToken === undefined) return 'missing';
    let ok = false;
    if (basic && authorization?.startsWith('Basic ')) {
      const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8');
      ok = timingSafeEqual(digest(decoded), basic) || ok;
    }
    if (token && queryToken !== undefined) ok = timingSafeEqual(digest(queryToken), token) || ok;
    return ok ? 'ok' : 'invalid';
  };
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** The URL without its `token` parameter, for logs. */
export function withoutToken(url: string): string {
  return url.replace(/([?&])token=[^&]*/g, '$1token=[redacted]');
}
