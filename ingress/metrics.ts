/** The ingress's Prometheus metrics, in a registry of its own (so tests can build several apps). */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export function createIngressMetrics(options: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
  if (options.defaultMetrics ?? true)
    collectDefaultMetrics({ register: registry, prefix: 'mailjet_ingress_' });
  const registers = [registry];
  return {
    registry,
    requests: new Counter({
      name: 'mailjet_ingress_requests_total',
      help: 'Webhook requests answered, by HTTP status.',
      labelNames: ['status'] as const,
      registers,
    }),
    events: new Counter({
      name: 'mailjet_ingress_events_total',
      help: 'Events stored in the raw topic (acked by Kafka), by Mailjet event type.',
      labelNames: ['event_type'] as const,
      registers,
    }),
    deadLettered: new Counter({
      name: 'mailjet_ingress_dead_lettered_total',
      help: 'Inputs stored in the dead-letter topic, by error code.',
      labelNames: ['code'] as const,
      registers,
    }),
    bodyBytes: new Histogram({
      name: 'mailjet_ingress_body_bytes',
      help: 'Size of webhook bodies.',
      buckets: [256, 1024, 4096, 16_384, 65_536, 262_144, 1_048_576, 4_194_304, 16_777_216],
      registers,
    }),
    eventsPerRequest: new Histogram({
      name: 'mailjet_ingress_events_per_request',
      help: 'Events (and rejected elements) per webhook body.',
      buckets: [1, 2, 5, 10, 50, 100, 500, 1000, 5000],
      registers,
    }),
    produceSeconds: new Histogram({
      name: 'mailjet_ingress_produce_seconds',
      help: 'Time from receiving a body to Kafka acking all of its records.',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers,
    }),
    pendingEvents: new Gauge({
      name: 'mailjet_ingress_pending_events',
      help: 'Records waiting for a Kafka ack.',
      registers,
    }),
    shed: new Counter({
      name: 'mailjet_ingress_shed_total',
      help: 'Webhooks answered 503 without trying Kafka, by reason.',
      labelNames: ['reason'] as const,
      registers,
    }),
  };
}

export type IngressMetrics = ReturnType<typeof createIngressMetrics>;
