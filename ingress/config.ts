/** Every option of the ingress process: type, default and meaning. Validated once at start-up. */
import { type Static, Type } from '@sinclair/typebox';
import { loadConfig } from '../core/config.ts';

export const ingressConfigSchema = Type.Object(
  {
    INGRESS_HOST: Type.String({
      default: '0.0.0.0',
      examples: ['127.0.0.1'],
      description: 'Address the webhook server listens on.',
    }),
    INGRESS_PORT: Type.Integer({
      minimum: 0,
      maximum: 65535,
      default: 8080,
      examples: [8080],
      description: 'Port of the webhook server (also serves /health/* and /metrics); 0 picks a free one.',
    }),
    INGRESS_PATH: Type.String({
      pattern: '^/[A-Za-z0-9._~/-]*$',
      default: '/webhooks/mailjet',
      examples: ['/webhooks/mailjet'],
      description: 'Path Mailjet posts events to.',
    }),
    INGRESS_BASIC_AUTH_USER: Type.Optional(
      Type.String({
        minLength: 1,
        pattern: '^[^:]+$',
        examples: ['mailjet'],
        description:
          'User of the HTTP Basic credentials you embed in the callback URL (https://user:pass@host/path).',
      }),
    ),
    INGRESS_BASIC_AUTH_PASSWORD: Type.Optional(
      Type.String({
        writeOnly: true,
        minLength: 12,
        examples: ['a-long-random-secret'],
        description: 'Password of those credentials (12 characters or more). Never logged.',
      }),
    ),
    INGRESS_TOKEN: Type.Optional(
      Type.String({
        writeOnly: true,
        minLength: 16,
        examples: ['a-long-random-token-value'],
        description:
          'Alternative to Basic auth: a secret accepted as the `token` query parameter (16+ characters).',
      }),
    ),
    INGRESS_AUTH_DISABLED: Type.Boolean({
      default: false,
      description: 'Accept webhooks without credentials. Only behind something else that authenticates.',
    }),
    INGRESS_BODY_LIMIT_BYTES: Type.Integer({
      minimum: 1024,
      default: 32 * 1024 * 1024,
      description:
        'Largest webhook body accepted. Grouped bodies hold a whole second of events; larger ones get 413 and Mailjet retries.',
    }),
    INGRESS_ACK_TIMEOUT_MS: Type.Integer({
      minimum: 100,
      default: 10_000,
      description: 'How long a webhook waits for Kafka to ack all its events before it is answered 503.',
    }),
    INGRESS_RETRY_AFTER_SECONDS: Type.Integer({
      minimum: 1,
      default: 30,
      description: 'Retry-After of 503 answers (Mailjet retries every 30 s for 24 h whatever it says).',
    }),
    INGRESS_MAX_PENDING_EVENTS: Type.Integer({
      minimum: 1,
      default: 20_000,
      description: 'Events waiting for Kafka above which new webhooks are shed with 503 (bounds memory).',
    }),
    INGRESS_SHUTDOWN_TIMEOUT_MS: Type.Integer({
      minimum: 100,
      default: 25_000,
      description: 'On SIGTERM: time to drain in-flight webhooks and flush to Kafka before exiting.',
    }),
  },
  { additionalProperties: false },
);

export type IngressConfig = Static<typeof ingressConfigSchema>;

export function loadIngressConfig(env: NodeJS.ProcessEnv = process.env): IngressConfig {
  return loadConfig(ingressConfigSchema, env, (config) => {
    const problems: string[] = [];
    const hasUser = config.INGRESS_BASIC_AUTH_USER !== undefined;
    const hasPassword = config.INGRESS_BASIC_AUTH_PASSWORD !== undefined;
    if (hasUser !== hasPassword) {
      problems.push('INGRESS_BASIC_AUTH_USER and INGRESS_BASIC_AUTH_PASSWORD: set both, or neither.');
    }
    if (!config.INGRESS_AUTH_DISABLED && !hasUser && config.INGRESS_TOKEN === undefined) {
      problems.push(
        'Webhook authentication: set INGRESS_BASIC_AUTH_USER and INGRESS_BASIC_AUTH_PASSWORD (embed them in the Mailjet callback URL as https://user:password@host/path), or INGRESS_TOKEN (append ?token=… to the URL), or INGRESS_AUTH_DISABLED=true to accept anyone.',
      );
    }
    return problems;
  });
}
