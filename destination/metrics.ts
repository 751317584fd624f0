/** The Mailjet destination's Prometheus metrics (intake and worker), in a registry of its own. */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export function createDestinationMetrics(options: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
  if (options.defaultMetrics ?? true)
    collectDefaultMetrics({ register: registry, prefix: 'mailjet_destination_' });
  const registers = [registry];
  return {
    registry,
    // Intake
    requests: new Counter({
      name: 'mailjet_destination_requests_total',
      help: 'Intake requests answered, by route and HTTP status.',
      labelNames: ['route', 'status'] as const,
      registers,
    }),
    calls: new Counter({
      name: 'mailjet_destination_calls_total',
      help: 'Calls received, by outcome: stored (identify topic), ignored (not an identify), dead_lettered.',
      labelNames: ['outcome'] as const,
      registers,
    }),
    identitiesPublished: new Counter({
      name: 'mailjet_destination_identities_published_total',
      help: 'email → userId records written to the identity topic.',
      registers,
    }),
    pendingCalls: new Gauge({
      name: 'mailjet_destination_pending_calls',
      help: 'Records waiting for a Kafka ack.',
      registers,
    }),
    shed: new Counter({
      name: 'mailjet_destination_shed_total',
      help: 'Requests answered 503 without trying Kafka, by reason.',
      labelNames: ['reason'] as const,
      registers,
    }),
    // Worker
    workerCalls: new Counter({
      name: 'mailjet_destination_worker_calls_total',
      help: 'Identify calls the worker handled, by outcome: upserted (their contact was written to Mailjet), dead_lettered, skipped (no email).',
      labelNames: ['outcome'] as const,
      registers,
    }),
    propertiesCreated: new Counter({
      name: 'mailjet_destination_properties_created_total',
      help: 'Mailjet contact properties (contactmetadata) created, by data type.',
      labelNames: ['datatype'] as const,
      registers,
    }),
    mailjetRequests: new Counter({
      name: 'mailjet_destination_mailjet_requests_total',
      help: 'Requests to the Mailjet API, by operation and HTTP status ("error" when no answer).',
      labelNames: ['operation', 'status'] as const,
      registers,
    }),
    mailjetSeconds: new Histogram({
      name: 'mailjet_destination_mailjet_request_seconds',
      help: 'Duration of Mailjet API requests.',
      labelNames: ['operation'] as const,
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    batchSeconds: new Histogram({
      name: 'mailjet_destination_batch_seconds',
      help: 'Time to write one batch of contacts to Mailjet, retries included.',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    }),
  };
}

export type DestinationMetrics = ReturnType<typeof createDestinationMetrics>;
