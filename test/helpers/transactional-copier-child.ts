/**
 * A read-process-write member in a process of its own, so a test can SIGKILL it mid-transaction: copies
 * COPIER_INPUT to COPIER_OUTPUT ("copied <value>") with runTransactions, slowly (a short pause per
 * batch of a few records), so a kill lands between a batch's output and its commit. Prints `joined` at
 * each join. Its transactional id is new each start, as a pod's would be: what a killed process left
 * open is aborted by the coordinator's timeout, not by a successor of the same id.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { createKafkaClient } from '../../core/kafka.ts';
import { silentLogger } from '../../core/logger.ts';

const env = process.env as Record<string, string>;
const kafka = createKafkaClient({
  brokers: (env.COPIER_BROKERS as string).split(','),
  clientId: 'transactional-copier-child',
  logger: silentLogger(),
});
const output = env.COPIER_OUTPUT as string;
const producer = await kafka.transactionalProducer({ transactionalId: `copier-${randomUUID()}` });
const consumer = await kafka.consumer({ groupId: env.COPIER_GROUP_ID as string, sessionTimeoutMs: 6000 });
consumer.onGroupJoin(() => process.stdout.write('joined\n'));
await consumer.subscribe([env.COPIER_INPUT as string], { fromBeginning: true });
await consumer.runTransactions(
  producer,
  async (batch) => {
    await sleep(5);
    return [
      {
        topic: output,
        records: batch.records.map((r) => ({ key: r.key, value: Buffer.from(`copied ${r.value}`) })),
      },
    ];
  },
  { maxBatchRecords: 25, partitionsConcurrently: 3 },
);
