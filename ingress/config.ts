/** Every option of the ingress process: type, default and meaning. Validated once at start-up. */
import { type Static, Type } from '@sinclair/typebox';
import { loadConfig } from '../core/config.ts';
import { ConnectorError } from '../core/errors.ts';
import { parseTrustProxy, trustProxySetting } from '../core/http-answers.ts';
import type { TopicConfig } from '../core/topics.ts';

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
    INGRESS_TRUST_PROXY: trustProxySetting(),
    INGRESS_BODY_LIMIT_BYTES: Type.Integer({
      minimum: 1024,
      default: 8 * 1024 * 1024,
      description:
        'Largest webhook body accepted (larger: 413, Mailjet retries). Grouped bodies hold a whole second of events; an invalid body is dead-lettered whole, so it must fit DEAD_LETTER_TOPIC_MAX_MESSAGE_BYTES with 64 KiB to spare.',
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
    INGRESS_MAX_BYTES_IN_FLIGHT: Type.Integer({
      minimum: 1024,
      default: 16 * 1024 * 1024,
      description:
        'Bytes of webhook bodies being received or stored above which a new body gets 503 before it is read (bounds memory; one body is always let in alone).',
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
    try {
      parseTrustProxy(config.INGRESS_TRUST_PROXY);
    } catch (err) {
      problems.push(`INGRESS_TRUST_PROXY: ${(err as Error).message}.`);
    }
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

/** Room a dead letter needs beside the body it holds: key, dlq.* headers, record batch overhead. */
export const DEAD_LETTER_HEADROOM_BYTES = 64 * 1024;

/**
 * A body the ingress accepts must be storable: an invalid one goes whole to the dead-letter topic.
 * Checked at start-up, where both configurations are known (the topics' own sizes are checked against
 * these settings by ensureTopics).
 */
export function checkBodyLimitFitsTopics(config: IngressConfig, topics: TopicConfig): void {
  const needed = config.INGRESS_BODY_LIMIT_BYTES + DEAD_LETTER_HEADROOM_BYTES;
  if (needed > topics.DEAD_LETTER_TOPIC_MAX_MESSAGE_BYTES) {
    throw new ConnectorError(
      'CONFIG_INVALID',
      `Invalid configuration:\n  - INGRESS_BODY_LIMIT_BYTES (${config.INGRESS_BODY_LIMIT_BYTES}) + ${DEAD_LETTER_HEADROOM_BYTES} bytes of dead-letter headers must fit DEAD_LETTER_TOPIC_MAX_MESSAGE_BYTES (${topics.DEAD_LETTER_TOPIC_MAX_MESSAGE_BYTES}): an invalid body is dead-lettered whole. Lower the first or raise the second (and the dead-letter topic's max.message.bytes).`,
    );
  }
}
