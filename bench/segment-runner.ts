/**
 * The local Segment server in a process of its own, for the connector benchmark: the connector's
 * memory and CPU are then its own, and the server's are measured apart. Prints one JSON line
 * `{"url":"http://127.0.0.1:…"}` when it listens; stops on SIGTERM or SIGINT.
 *
 *   node bench/segment-runner.ts <writeKey> [maxMessageIds] [maxEvents]
 */
import { limitHeapGrowth } from '../core/heap-growth.ts';
import { startLocalSegment } from '../local-saas/segment/server.ts';

// As every process `bin/mailjet-connector.ts` starts: its memory is measured against the same target.
limitHeapGrowth();

const [writeKey, maxMessageIds, maxEvents] = process.argv.slice(2);
if (!writeKey) {
  process.stderr.write('Usage: bench/segment-runner.ts <writeKey> [maxMessageIds] [maxEvents]\n');
  process.exit(2);
}
const segment = await startLocalSegment({
  writeKeys: [writeKey],
  // The bench checks that every event arrived exactly once: the dedupe window must hold them all.
  // The integrity lane reads every accepted event back: the events kept in memory must hold them all.
  recorder: {
    ...(maxMessageIds ? { maxMessageIds: Number(maxMessageIds) } : {}),
    ...(maxEvents ? { maxEvents: Number(maxEvents) } : {}),
  },
});
process.stdout.write(`${JSON.stringify({ url: segment.url })}\n`);
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    segment.stop().finally(() => process.exit(0));
  });
}
