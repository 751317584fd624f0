import { setTimeout as sleep } from 'node:timers/promises';
import type { ToxicProxy } from '../../stack/toxiproxy.ts';
import type { Scenario } from '../scenario.ts';
import type { Random } from '../seeded-random.ts';

type Fault = 'black-hole' | 'slow' | 'reset';
const FAULTS: readonly Fault[] = ['black-hole', 'slow', 'reset'];
/** What a black-hole that keeps connections open drops: upstream is client → broker. */
const DROPPED = {
  'both ways': ['upstream', 'downstream'],
  requests: ['upstream'],
  answers: ['downstream'],
} as const;

export const networkPartition: Scenario = {
  name: 'network-partition',
  number: 2,
  description:
    'The ingress and the connector reach the broker only through a TCP fault proxy (Toxiproxy), which at seeded moments under load black-holes their connections (data dropped on open connections, or the proxy gone), slows them (latency and a narrow bandwidth) or resets them, each for a seeded while, then heals.',
  kafkaThroughProxy: true,
  async inject({ kafkaProxy, random, loadMs, quick }) {
    if (!kafkaProxy) throw new Error('network-partition runs only with the fault proxy in place');
    // Quick: each fault once, in a seeded order; long: seeded picks. Each lasts a few seconds, less than
    // the Kafka client's request timeout (30 s): requests caught in it wait, are retried or fail.
    const faults = (
      quick ? shuffled(FAULTS, random) : Array.from({ length: 8 }, () => random.pick(FAULTS))
    ).map((fault) => ({ fault, ms: random.int(1000, 5000) }));
    // And one partition longer than the consumer's session timeout and the request timeout (30 s each):
    // the broker drops the connector from its group, requests time out and their retries fail, and
    // after the heal the connector must join again and go on from its committed offsets.
    faults.splice(random.int(0, faults.length), 0, { fault: 'black-hole', ms: random.int(35_000, 45_000) });
    // Each fault in its own slice of the load, so they spread over it whatever the seed.
    const slice = (loadMs * 0.8) / faults.length;
    for (const { fault, ms } of faults) {
      await sleep(random.between(0.1, 0.5) * slice);
      const { heal, what } = await inflict(kafkaProxy, fault, random);
      // On stderr, beside the run's line: what a replay with --seed must make happen again.
      process.stderr.write(`network-partition: ${what} for ${ms} ms\n`);
      await sleep(ms);
      await heal();
    }
    return {};
  },
};

/** Puts the fault in force; returns what heals it, and what it is. */
async function inflict(
  proxy: ToxicProxy,
  fault: Fault,
  random: Random,
): Promise<{ heal: () => Promise<void>; what: string }> {
  const toxics = (what: string, names: string[]) => ({
    what,
    heal: async () => {
      for (const name of names) await proxy.removeToxic(name);
    },
  });
  if (fault === 'black-hole') {
    const kind = random.pick(['both ways', 'requests', 'answers', 'proxy down'] as const);
    if (kind === 'proxy down') {
      // The path is gone: open connections are closed and new ones refused.
      await proxy.setEnabled(false);
      return { what: 'black-hole (proxy down)', heal: () => proxy.setEnabled(true) };
    }
    // Connections stay open and the bytes of one way or both are dropped: the clients learn of it only
    // from their own timeouts (requests lost, or answers lost after the broker acted on them). Removing
    // the toxic closes the connections it held.
    const streams = DROPPED[kind];
    const names: string[] = [];
    for (const stream of streams) {
      names.push(await proxy.addToxic({ type: 'timeout', stream, attributes: { timeout: 0 } }));
    }
    return toxics(
      `black-hole (open connections drop ${kind === 'both ways' ? 'every byte' : `the ${kind}`})`,
      names,
    );
  }
  if (fault === 'slow') {
    const latency = random.int(200, 2000);
    const rate = random.int(8, 256);
    return toxics(`slow (${latency} ms each way, ${rate} KB/s down)`, [
      await proxy.addToxic({
        type: 'latency',
        stream: 'upstream',
        attributes: { latency, jitter: Math.floor(latency / 4) },
      }),
      await proxy.addToxic({ type: 'latency', stream: 'downstream', attributes: { latency } }),
      await proxy.addToxic({ type: 'bandwidth', stream: 'downstream', attributes: { rate } }),
    ]);
  }
  // Every connection, open or new, is reset (TCP RST) once this long has passed on it.
  const after = random.int(0, 500);
  return toxics(`reset (every connection reset after ${after} ms)`, [
    await proxy.addToxic({ type: 'reset_peer', stream: 'upstream', attributes: { timeout: after } }),
  ]);
}

function shuffled<T>(items: readonly T[], random: Random): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = random.int(0, i);
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy;
}
