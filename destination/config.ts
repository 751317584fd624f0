/** Every option of the Mailjet destination process (intake + worker): type, default and meaning. */
import { type Static, Type } from '@sinclair/typebox';
import { loadConfig } from '../core/config.ts';
import { parseTrustProxy, trustProxySetting } from '../core/http-answers.ts';
import { consumerGroupProperties } from '../core/service-clients.ts';

export const destinationConfigSchema = Type.Object(
  {
    DESTINATION_HOST: Type.String({
      default: '0.0.0.0',
      examples: ['127.0.0.1'],
      description: 'Address the identify intake listens on.',
    }),
    DESTINATION_PORT: Type.Integer({
      minimum: 0,
      maximum: 65535,
      default: 8082,
      examples: [8082],
      description: 'Port of the intake (also /health/* and /metrics); 0 picks a free one.',
    }),
    DESTINATION_ROLE: Type.Union([Type.Literal('all'), Type.Literal('intake'), Type.Literal('worker')], {
      default: 'all',
      examples: ['intake'],
      description:
        "What this process runs: `all` (intake and worker), `intake` (identify calls → Kafka) or `worker` (Kafka → Mailjet). Apart, the worker's batches never delay the intake's answers.",
    }),
    DESTINATION_WRITE_KEY: Type.Optional(
      Type.String({
        writeOnly: true,
        minLength: 16,
        examples: ['a-long-random-write-key'],
        description:
          "Secret senders authenticate with, as Segment's HTTP API takes a write key: Basic auth username (empty password) or `writeKey` in the body (16+ characters).",
      }),
    ),
    DESTINATION_SHARED_SECRET: Type.Optional(
      Type.String({
        writeOnly: true,
        minLength: 16,
        examples: ['the-webhook-shared-secret'],
        description:
          "Shared secret of a Segment webhook destination: requests must carry X-Signature (or X-Segment-Signature), the hex HMAC-SHA1 of the whole body, Segment's scheme (16+ characters).",
      }),
    ),
    DESTINATION_AUTH_DISABLED: Type.Boolean({
      default: false,
      description:
        'Accept identify calls without credentials. Only behind something else that authenticates.',
    }),
    DESTINATION_TRUST_PROXY: trustProxySetting(),
    DESTINATION_BODY_LIMIT_BYTES: Type.Integer({
      minimum: 1024,
      default: 4 * 1024 * 1024,
      description:
        "Largest request body accepted: a Segment webhook batch holds up to 4,000 calls (about 2.4 MB of identify calls with a full context); Segment's HTTP API takes 500 KB. Larger ones get 413.",
    }),
    DESTINATION_MAX_BYTES_IN_FLIGHT: Type.Integer({
      minimum: 1024,
      default: 16 * 1024 * 1024,
      description:
        'Bytes of identify bodies being received or stored above which a new body gets 503 before it is read (bounds memory; one body is always let in alone).',
    }),
    DESTINATION_ACK_TIMEOUT_MS: Type.Integer({
      minimum: 100,
      default: 4000,
      description:
        'How long a request waits for Kafka to ack its calls before it is answered 503 (Segment gives a webhook 5 s).',
    }),
    DESTINATION_MAX_PENDING_RECORDS: Type.Integer({
      minimum: 1,
      default: 20_000,
      description:
        'Kafka records waiting for an ack (an identify call makes one, two with an identity record) above which new requests are shed with 503 (bounds memory).',
    }),
    DESTINATION_PARTITIONS_CONCURRENTLY: Type.Integer({
      minimum: 1,
      default: 3,
      description:
        'Partitions of the identify topic the worker handles at once: Mailjet answers slowly (bulk jobs take seconds), so several contacts batches wait together.',
    }),
    DESTINATION_GROUP_ID: Type.String({
      minLength: 1,
      default: 'mailjet-connector-destination',
      description: 'Consumer group of the worker that writes contacts to Mailjet.',
    }),
    ...consumerGroupProperties,
    DESTINATION_SHUTDOWN_TIMEOUT_MS: Type.Integer({
      minimum: 100,
      default: 25_000,
      description: 'On SIGTERM: time to answer requests in flight and finish the contacts in flight.',
    }),
    MAILJET_API_KEY: Type.Optional(
      Type.String({
        minLength: 1,
        examples: ['0123456789abcdef0123456789abcdef'],
        description: 'Mailjet API key (public part). Unset with `start`: the local Mailjet server is used.',
      }),
    ),
    MAILJET_API_SECRET: Type.Optional(
      Type.String({
        writeOnly: true,
        minLength: 1,
        examples: ['fedcba9876543210fedcba9876543210'],
        description: 'Mailjet API secret key. Never logged.',
      }),
    ),
    MAILJET_API_URL: Type.String({
      pattern: '^https?://[^/]+$',
      default: 'https://api.mailjet.com',
      examples: ['https://api.us.mailjet.com'],
      description:
        'Mailjet API base URL (scheme and host); US-architecture accounts use https://api.us.mailjet.com.',
    }),
    MAILJET_LIST_ID: Type.Integer({
      minimum: 1,
      default: 1,
      examples: [1234567],
      description:
        "ID of the contact list contacts are added to (Segment's Mailjet destination setting, default 1).",
    }),
    MAILJET_CONTACT_ACTION: Type.Union([Type.Literal('addnoforce'), Type.Literal('addforce')], {
      default: 'addnoforce',
      examples: ['addforce'],
      description:
        'How contacts join the list: addnoforce keeps an unsubscribed contact unsubscribed; addforce resubscribes it.',
    }),
    MAILJET_BULK_MIN_CONTACTS: Type.Integer({
      minimum: 2,
      default: 20,
      description: 'Contacts in one batch from which the bulk endpoint (managemanycontacts, a job) is used.',
    }),
    MAILJET_MAX_REQUESTS_PER_SECOND: Type.Integer({
      minimum: 1,
      default: 10,
      description:
        'Requests per second this process sends to Mailjet (Mailjet publishes no figure; 429s slow it down further).',
    }),
    MAILJET_REQUEST_TIMEOUT_MS: Type.Integer({
      minimum: 100,
      default: 30_000,
      description: 'One request to Mailjet; past it the request is retried.',
    }),
    MAILJET_RETRY_MAX_DELAY_MS: Type.Integer({
      minimum: 100,
      default: 30_000,
      description:
        'Longest wait between retries while Mailjet fails (429s have no Retry-After; backoff doubles from 1 s).',
    }),
    MAILJET_JOB_POLL_MS: Type.Integer({
      minimum: 10,
      default: 1000,
      description:
        'Longest interval between two polls of a bulk job; polls start 50 ms after the job and double up to this.',
    }),
  },
  { additionalProperties: false },
);

export type DestinationConfig = Static<typeof destinationConfigSchema>;

export function loadDestinationConfig(env: NodeJS.ProcessEnv = process.env): DestinationConfig {
  return loadConfig(destinationConfigSchema, env, (config) => {
    const problems: string[] = [];
    try {
      parseTrustProxy(config.DESTINATION_TRUST_PROXY);
    } catch (err) {
      problems.push(`DESTINATION_TRUST_PROXY: ${(err as Error).message}.`);
    }
    if ((config.MAILJET_API_KEY === undefined) !== (config.MAILJET_API_SECRET === undefined)) {
      problems.push('MAILJET_API_KEY and MAILJET_API_SECRET: set both, or neither.');
    }
    if (
      !config.DESTINATION_AUTH_DISABLED &&
      config.DESTINATION_WRITE_KEY === undefined &&
      config.DESTINATION_SHARED_SECRET === undefined
    ) {
      problems.push(
        'Identify intake authentication: set DESTINATION_WRITE_KEY (senders use it as a Segment write key), or DESTINATION_SHARED_SECRET (the shared secret of a Segment webhook destination), or DESTINATION_AUTH_DISABLED=true to accept anyone.',
      );
    }
    return problems;
  });
}
