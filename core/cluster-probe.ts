/**
 * The readiness checks both services share: does a Kafka broker answer metadata, does the schema
 * registry answer. A client of its own with no retries and a 1 s connect timeout, so a probe answers
 * quickly when Kafka is down; results are kept for a moment, so a scraping load balancer cannot load
 * Kafka or the registry.
 */
import { createKafkaClient, type KafkaSecurity } from './kafka.ts';
import type { Logger } from './logger.ts';
import type { SchemaRegistryClient } from './schema-registry.ts';

export interface ClusterProbe {
  check(): Promise<{ kafka: boolean; schemaRegistry: boolean }>;
  close(): Promise<void>;
}

export function createClusterProbe(options: {
  brokers: string[];
  clientId: string;
  registry: SchemaRegistryClient;
  logger: Logger;
  security?: KafkaSecurity;
  cacheMs?: number;
}): ClusterProbe {
  const kafka = createKafkaClient({
    brokers: options.brokers,
    clientId: `${options.clientId}-readiness`,
    logger: options.logger,
    connectionTimeoutMs: 1000,
    retries: 0,
    ...(options.security ? { security: options.security } : {}),
  });
  let last: { at: number; result: Promise<{ kafka: boolean; schemaRegistry: boolean }> } | undefined;
  const probe = async () => {
    const [kafkaOk, registryOk] = await Promise.all([
      kafka
        .describeCluster()
        .then((cluster) => cluster.brokers.length > 0)
        .catch(() => false),
      options.registry.ping(),
    ]);
    return { kafka: kafkaOk, schemaRegistry: registryOk };
  };
  return {
    check() {
      if (!last || Date.now() - last.at > (options.cacheMs ?? 2000))
        last = { at: Date.now(), result: probe() };
      return last.result;
    },
    close: () => kafka.close(),
  };
}
