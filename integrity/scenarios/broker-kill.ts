import { setTimeout as sleep } from 'node:timers/promises';
import { type Scenario, stackPart } from '../scenario.ts';

export const brokerKill: Scenario = {
  name: 'broker-kill',
  number: 1,
  description:
    'The broker is SIGKILLed at seeded random moments under load, stays down 1 to 5 s, and starts again on its port with its log kept. Meanwhile the ingress answers 503 (Kafka does not ack) and the sender retries; the connector waits for the broker and goes on where its group had committed.',
  faultsTheStack: true,
  async inject({ stack, random, loadMs, quick }) {
    const broker = stackPart(stack, 'broker');
    const kills = quick ? 1 : random.int(2, 3);
    // Each kill in its own slice of the load, so they spread over it whatever the seed.
    const slice = (loadMs * 0.8) / kills;
    for (let i = 0; i < kills; i++) {
      await sleep(random.between(0.2, 0.8) * slice);
      await broker.stop('SIGKILL');
      await sleep(random.int(1000, 5000));
      await broker.start();
    }
    return {};
  },
};
