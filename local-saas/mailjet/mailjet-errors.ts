/**
 * The error answers of the local Mailjet server, in Mailjet's v3 shape:
 * `{ErrorIdentifier?, ErrorInfo, ErrorMessage, StatusCode}`. Texts quoted from Mailjet are marked so;
 * the others are ours, written in Mailjet's `MJnn` style where Mailjet's own text is not published.
 */
import { randomUUID } from 'node:crypto';

export interface MailjetErrorBody {
  ErrorIdentifier?: string;
  ErrorInfo: unknown;
  ErrorMessage: unknown;
  StatusCode: number;
}

/** Thrown by a handler to answer with a Mailjet error; anything else thrown becomes a 500. */
export class MailjetApiError extends Error {
  readonly status: number;
  readonly body: MailjetErrorBody;

  constructor(status: number, message: unknown, info: unknown = '', identified = false) {
    super(typeof message === 'string' ? message : JSON.stringify(message));
    this.status = status;
    this.body = {
      ...(identified ? { ErrorIdentifier: randomUUID() } : {}),
      ErrorInfo: info,
      ErrorMessage: message,
      StatusCode: status,
    };
  }
}

/**
 * Mailjet's text (seen in client issues, e.g. mailjet-apiv3-php#109, which also carries an
 * ErrorIdentifier). Whether the key or the secret was wrong is not said, as at Mailjet.
 */
export function unauthorized(): MailjetApiError {
  return new MailjetApiError(
    401,
    'API key authentication/authorization failure. You may be unauthorized to access the API or your API key may be expired. Visit API keys management section to check your keys.',
    '',
    true,
  );
}

/** Mailjet's text for an unknown contact; it gives no other for an unknown list, so lists use it too. */
export function notFound(): MailjetApiError {
  return new MailjetApiError(404, 'Object not found');
}

/** Mailjet's text (mailjet-apiv3-java#48). */
export function methodNotAllowed(): MailjetApiError {
  return new MailjetApiError(405, 'Method not allowed');
}

/** Mailjet's prefix (mailjet-apiv3-php#67); what follows it is the parser's own message. */
export function invalidJson(detail: string): MailjetApiError {
  return new MailjetApiError(400, `Invalid json input: ${detail}`);
}

/**
 * One field of the request is wrong. Mailjet's form (mailjet-apiv3-php#38):
 * `ErrorInfo: "MJ08 Property Name is invalid: MJ04 Value must have at least length 1"`.
 */
export function invalidField(field: string, reason: string): MailjetApiError {
  return new MailjetApiError(
    400,
    'Object properties invalid',
    `MJ08 Property ${field} is invalid: ${reason}`,
  );
}

/** Mailjet's documented body for contact properties that are not defined or do not fit their type. */
export function invalidProperties(problems: Record<string, string>[]): MailjetApiError {
  return new MailjetApiError(400, 'Object properties invalid', { Properties: problems });
}

/** Mailjet's duplicate text, as it answers for a Contact (mailjet-apiv3-php#239). */
export function alreadyExists(resource: string, value: string, field: string): MailjetApiError {
  return new MailjetApiError(
    400,
    `MJ18 A ${resource} resource with value ${JSON.stringify(value)} for ${field} already exists.`,
  );
}

/** Mailjet answers 400 to an unknown resource or action (its status-codes page); the text is ours. */
export function unknownResource(path: string): MailjetApiError {
  return new MailjetApiError(400, `Unknown resource or action: ${JSON.stringify(path)}`);
}

/** Mailjet's 500 text (mailjet-apiv3-php#123), with the identifier a support ticket would quote. */
export function unexpected(status = 500): MailjetApiError {
  return new MailjetApiError(status, 'An Unexpected Error occurred during API request', '', true);
}
