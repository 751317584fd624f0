/**
 * A consumer group's lag, per partition, as a Prometheus gauge: records written to the topic and not
 * yet committed by the group. Read from the cluster at scrape time (end offsets and committed offsets,
 * two admin requests), not from the batches this process saw, so it stays true while the group is stuck
 * (Segment or Mailjet down: nothing committed, the lag grows), for partitions other members own, and
 * before the first commit. Each member reports the whole group's lag: aggregate with max().
 */
import { Gauge, type Registry } from 'prom-client';
import { settleWithin } from './deadline.ts';
import type { KafkaClient } from './kafka.ts';
import type { Logger } from './logger.ts';

export function consumerLagGauge(options: {
  name: string;
  registry: Registry;
  kafka: KafkaClient;
  groupId: string;
  topic: string;
  logger: Logger;
  /** A scrape never waits longer on Kafka: the gauge keeps its last values then. */
  timeoutMs?: number;
}): Gauge<'partition'> {
  const { kafka, groupId, topic } = options;
  const timeoutMs = options.timeoutMs ?? 2000;
  const read = async (): Promise<Map<number, number>> => {
    const [end, committed] = await Promise.all([
      kafka.endOffsets(topic),
      kafka.committedOffsets(groupId, topic),
    ]);
    // The group reads from the beginning: where it committed nothing yet, the lag is all that is kept.
    const fromStart = [...end.keys()].some((p) => Number(committed.get(p) ?? -1) < 0)
      ? await kafka.offsetsForTime(topic, 0)
      : undefined;
    const lag = new Map<number, number>();
    for (const [partition, endOffset] of end) {
      const done = Number(committed.get(partition) ?? -1);
      const next = done >= 0 ? done : Number(fromStart?.get(partition) ?? 0);
      lag.set(partition, Math.max(0, Number(endOffset) - next));
    }
    return lag;
  };
  let reading: Promise<Map<number, number> | undefined> | undefined;
  return new Gauge({
    name: options.name,
    help: `Records of ${topic} not yet committed by the consumer group ${groupId}, per partition (read from the cluster at scrape time).`,
    labelNames: ['partition'] as const,
    registers: [options.registry],
    async collect() {
      // Kafka down or slow: this scrape keeps the last values, the next ones wait on the same read (one
      // at a time, however often /metrics is scraped); a failure is logged, never left unhandled.
      reading ??= read()
        .catch((err: unknown) => {
          options.logger.debug({ err, topic, groupId }, 'consumer lag not read this scrape');
          return undefined;
        })
        .finally(() => {
          reading = undefined;
        });
      const lag = await settleWithin(reading, timeoutMs, () => undefined);
      if (lag) for (const [partition, records] of lag) this.set({ partition: String(partition) }, records);
    },
  });
}
