/**
 * Webhook authentication. Mailjet signs nothing: the only secret is what the user embeds in the callback
 * URL, which arrives as an HTTP Basic header (https://user:pass@host/path) or, with our token option,
 * as the `token` query parameter. Both are in the request line and headers, so they are checked before
 * the body is read. Secrets are compared through SHA-256 digests with timingSafeEqual, so neither their
 * content nor their length leaks through timing.
 */
import { basicCredentials, sameDigest, secretDigest } from '../core/http-credentials.ts';

export interface WebhookCredentials {
  basic?: { user: string; password: string };
  token?: string;
}

/** `repeated`: the token parameter came more than once, so which one is meant cannot be told. */
export type AuthResult = 'ok' | 'missing' | 'invalid' | 'repeated';

/** The `token` query parameter as the server parsed it: a string, or an array when repeated. */
export type QueryToken = string | string[] | undefined;

export function createAuthenticator(credentials: WebhookCredentials | undefined) {
  if (!credentials) return (): AuthResult => 'ok';
  const basic = credentials.basic
    ? secretDigest(`${credentials.basic.user}:${credentials.basic.password}`)
    : undefined;
  const token = credentials.token === undefined ? undefined : secretDigest(credentials.token);

  return (authorization: string | undefined, queryToken: QueryToken): AuthResult => {
    if (authorization === undefined && queryToken === undefined) return 'missing';
    if (Array.isArray(queryToken)) return 'repeated';
    let ok = false;
    const offered = basicCredentials(authorization);
    if (basic && offered !== undefined) ok = sameDigest(secretDigest(offered), basic) || ok;
    if (token && queryToken !== undefined) ok = sameDigest(secretDigest(queryToken), token) || ok;
    return ok ? 'ok' : 'invalid';
  };
}

/**
 * The URL as logs show it: every query parameter that the server reads as `token` has its value
 * replaced. Names are decoded the way fastify's query parser decodes them (`+` is a space, then
 * percent-decoding), so `%74oken=…` is hidden as surely as `token=…`.
 */
export function withoutToken(url: string): string {
  const start = url.indexOf('?');
  if (start === -1) return url;
  const pairs = url
    .slice(start + 1)
    .split('&')
    .map((pair) => (decodedName(pair.split('=', 1)[0] ?? '') === 'token' ? 'token=[redacted]' : pair));
  return `${url.slice(0, start + 1)}${pairs.join('&')}`;
}

function decodedName(raw: string): string {
  const name = raw.replaceAll('+', ' ');
  try {
    return decodeURIComponent(name);
  } catch {
    return name;
  }
}
