/** Every option of the connector process: type, default and meaning. Validated once at start-up. */
import { type Static, Type } from '@sinclair/typebox';
import { loadConfig } from '../core/config.ts';
import { consumerGroupProperties } from '../core/service-clients.ts';
import type { MappingOptions } from './segment-mapping.ts';

export const connectorConfigSchema = Type.Object(
  {
    SEGMENT_WRITE_KEY: Type.Optional(
      Type.String({
        writeOnly: true,
        minLength: 1,
        examples: ['abc123WriteKey'],
        description:
          'Write key of a Segment HTTP API source. Unset with `start`: the local Segment server is used.',
      }),
    ),
    SEGMENT_ENDPOINT: Type.String({
      pattern: '^https?://',
      default: 'https://api.segment.io',
      examples: ['https://events.eu1.segmentapis.com'],
      description: 'Segment HTTP API base URL; EU workspaces use https://events.eu1.segmentapis.com.',
    }),
    SEGMENT_REQUEST_TIMEOUT_MS: Type.Integer({
      minimum: 100,
      default: 10_000,
      description: 'One request to Segment; past it the request is retried.',
    }),
    SEGMENT_RETRY_MAX_DELAY_MS: Type.Integer({
      minimum: 100,
      default: 10_000,
      description:
        'Longest wait between retries while Segment fails (backoff doubles from 0.5 s up to this); bounds the catch-up delay after an outage.',
    }),
    SEGMENT_BLOCKED_EVENT_NAME: Type.String({
      minLength: 1,
      default: 'Email Dropped',
      examples: ['Email Bounced'],
      description: 'Segment event name of Mailjet `blocked` (Segment names no such event).',
    }),
    IDENTITY_FROM_CUSTOM_ID: Type.Boolean({
      default: false,
      description: 'Use a non-empty Mailjet CustomID as the Segment userId.',
    }),
    IDENTITY_PAYLOAD_PATH: Type.Optional(
      Type.String({
        pattern: '^[^.]+(\\.[^.]+)*$',
        examples: ['user.id'],
        description: 'Dot path in the JSON Mailjet Payload whose value is the Segment userId.',
      }),
    ),
    IDENTITY_FALLBACK: Type.Union([Type.Literal('dead-letter'), Type.Literal('contact-id')], {
      default: 'dead-letter',
      examples: ['contact-id'],
      description:
        'Events with neither email nor userId: dead-letter them, or use mailjet-contact:<mj_contact_id> as anonymousId.',
    }),
    IDENTITY_VIEW_MAX_ENTRIES: Type.Integer({
      minimum: 1,
      default: 500_000,
      description: 'Emails kept in memory from the identity topic (least recently used are dropped).',
    }),
    CONNECTOR_GROUP_ID: Type.String({
      minLength: 1,
      default: 'mailjet-connector',
      description:
        'Kafka consumer group of the normalizer stage on the raw topic (the connector\'s before it had two stages, so an upgrade goes on from its offsets); the Segment sink\'s group on the normalized topic is this id + "-segment". Instances with the same id share the partitions.',
    }),
    ...consumerGroupProperties,
    CONNECTOR_PARTITIONS_CONCURRENTLY: Type.Integer({
      minimum: 1,
      default: 3,
      description: 'Partitions one instance processes at once (each waits for Segment on its own).',
    }),
    CONNECTOR_HOST: Type.String({
      default: '0.0.0.0',
      description: 'Address of the health and metrics server.',
    }),
    CONNECTOR_PORT: Type.Integer({
      minimum: 0,
      maximum: 65535,
      default: 8081,
      examples: [8081],
      description: 'Port of /health/live, /health/ready and /metrics; 0 picks a free one.',
    }),
    CONNECTOR_SHUTDOWN_TIMEOUT_MS: Type.Integer({
      minimum: 100,
      default: 30_000,
      description: 'On SIGTERM: time to finish the batches in progress and commit before exiting.',
    }),
  },
  { additionalProperties: false },
);

export type ConnectorConfig = Static<typeof connectorConfigSchema>;

export function loadConnectorConfig(env: NodeJS.ProcessEnv = process.env): ConnectorConfig {
  return loadConfig(connectorConfigSchema, env);
}

/** How the connector and the replay talk to Segment: one place, so both follow the same settings. */
export function segmentSinkOptionsOf(
  config: ConnectorConfig,
  segment: { endpoint: string; writeKey: string },
) {
  return {
    endpoint: segment.endpoint,
    writeKey: segment.writeKey,
    requestTimeoutMs: config.SEGMENT_REQUEST_TIMEOUT_MS,
    retry: { maxDelayMs: config.SEGMENT_RETRY_MAX_DELAY_MS },
  };
}

/** The Segment sink stage's consumer group on the normalized topic. */
export function segmentSinkGroupId(config: Pick<ConnectorConfig, 'CONNECTOR_GROUP_ID'>): string {
  return `${config.CONNECTOR_GROUP_ID}-segment`;
}

export function mappingOptionsOf(config: ConnectorConfig): MappingOptions {
  return {
    blockedEventName: config.SEGMENT_BLOCKED_EVENT_NAME,
    userIdFromCustomId: config.IDENTITY_FROM_CUSTOM_ID,
    ...(config.IDENTITY_PAYLOAD_PATH === undefined
      ? {}
      : { userIdPayloadPath: config.IDENTITY_PAYLOAD_PATH }),
    noIdentity: config.IDENTITY_FALLBACK,
  };
}
