/**
 * One member of a consumer group in a process of its own, so a test can SIGKILL it: a member that dies
 * without leaving the group. Reads GROUP_MEMBER_* from the environment, prints `joined` at each join,
 * then consumes (handling nothing) until killed.
 */
import { createKafkaClient } from '../../core/kafka.ts';
import { silentLogger } from '../../core/logger.ts';

const env = process.env as Record<string, string>;
const kafka = createKafkaClient({
  brokers: (env.GROUP_MEMBER_BROKERS as string).split(','),
  clientId: 'group-member-child',
  logger: silentLogger(),
});
const consumer = await kafka.consumer({
  groupId: env.GROUP_MEMBER_GROUP_ID as string,
  sessionTimeoutMs: Number(env.GROUP_MEMBER_SESSION_TIMEOUT_MS),
});
consumer.onGroupJoin(() => process.stdout.write('joined\n'));
await consumer.subscribe([env.GROUP_MEMBER_TOPIC as string], { fromBeginning: true });
await consumer.runBatches(async () => {});
