/** The connector's Prometheus metrics, in a registry of its own. */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export function createConnectorMetrics(options: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
  if (options.defaultMetrics ?? true)
    collectDefaultMetrics({ register: registry, prefix: 'mailjet_connector_' });
  const registers = [registry];
  return {
    registry,
    records: new Counter({
      name: 'mailjet_connector_records_total',
      help: 'Normalized records the Segment sink handled, by outcome: delivered (Segment took it) or dead_lettered (Segment refused it, or it could not be read).',
      labelNames: ['outcome'] as const,
      registers,
    }),
    segmentEvents: new Counter({
      name: 'mailjet_connector_segment_events_total',
      help: 'Track calls Segment accepted, by event name.',
      labelNames: ['event'] as const,
      registers,
    }),
    segmentRequests: new Counter({
      name: 'mailjet_connector_segment_requests_total',
      help: 'HTTP requests to Segment, by status (or error).',
      labelNames: ['status'] as const,
      registers,
    }),
    segmentSeconds: new Histogram({
      name: 'mailjet_connector_segment_request_seconds',
      help: 'Duration of one request to Segment.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    normalized: new Counter({
      name: 'mailjet_connector_normalized_total',
      help: 'Records the normalizer wrote to the normalized topic (counted when handed to the transaction; an aborted one is counted again when retried).',
      registers,
    }),
    deadLettered: new Counter({
      name: 'mailjet_connector_dead_lettered_total',
      help: 'Records written to the dead-letter topic, by stage and error code.',
      labelNames: ['stage', 'code'] as const,
      registers,
    }),
    batchSeconds: new Histogram({
      name: 'mailjet_connector_batch_seconds',
      help: 'Time to handle one fetched batch, either stage: decode and map (normalizer), or Segment and dead letters (Segment sink).',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    }),
    inFlight: new Gauge({
      name: 'mailjet_connector_in_flight_records',
      help: 'Records fetched and not yet committed (bounded: back-pressure, not buffering).',
      registers,
    }),
    identities: new Gauge({
      name: 'mailjet_connector_identity_view_entries',
      help: 'Emails with a known userId held in memory.',
      registers,
    }),
  };
}

export type ConnectorMetrics = ReturnType<typeof createConnectorMetrics>;
