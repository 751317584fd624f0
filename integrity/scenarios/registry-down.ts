import { setTimeout as sleep } from 'node:timers/promises';
import { authorization } from '../pipeline.ts';
import { type Scenario, stackPart } from '../scenario.ts';

export const registryDown: Scenario = {
  name: 'registry-down',
  number: 8,
  description:
    'The schema registry is SIGKILLed under load and stays away for a seeded while; meanwhile the ingress and the connector get SIGTERM and start again, so no cached schema id hides the outage. Started without a registry, the ingress must listen and answer webhooks 503 + Retry-After, not ready; the connector must stay up, not running, and both go on once the registry is back.',
  faultsTheStack: true,
  async inject({ stack, pipeline, random, loadMs, messageIdPrefix, quick }) {
    const registry = stackPart(stack, 'registry');
    const problems: string[] = [];
    await sleep(random.between(0.1, 0.3) * loadMs);
    // SIGKILL, not SIGTERM: the services see the same (nothing answers), and the schemas must survive
    // a crash of the registry, not only a clean stop.
    await registry.stop('SIGKILL');
    // The restarted connector's ready line must come within 60 s of its start (bench/service-child.ts):
    // the outage, plus the registry's own start, stays well inside that.
    const outageEnds = performance.now() + random.int(quick ? 3000 : 5000, quick ? 8000 : 15_000);
    await sleep(random.int(200, 1500));
    await Promise.all([pipeline.stop('ingress'), pipeline.stop('connector')]);
    await pipeline.startIngress();
    // The connector says it runs only once its consumer started, after the registry is back.
    let connector = 'starting';
    const connectorStarting = pipeline.startConnector().then(
      () => {
        connector = 'running';
      },
      (err: unknown) => {
        connector = `ended: ${(err as Error).message.split('\n')[0]}`;
        throw err;
      },
    );
    connectorStarting.catch(() => {}); // Awaited below; reported meanwhile through `connector`.

    problems.push(...(await ingressWithoutRegistry(pipeline.webhookUrl, messageIdPrefix)));
    await sleep(Math.max(0, outageEnds - performance.now()));
    if (connector !== 'starting') problems.push(`the connector, started without a registry: ${connector}`);
    await registry.start();
    await connectorStarting;
    return { problems };
  },
  check(_records, { problems = [] }) {
    return problems;
  },
};

/**
 * What an ingress started without a registry answers: a webhook 503 with Retry-After (nothing can be
 * encoded before the raw schema has an id; Mailjet retries), and /health/ready 503.
 */
async function ingressWithoutRegistry(webhookUrl: string, messageIdPrefix: string): Promise<string[]> {
  const problems: string[] = [];
  // A MessageID the sender never makes (its own have 8 digits after the prefix).
  const body = `{"event":"open","time":${Math.floor(Date.now() / 1000)},"email":"probe@example.com","MessageID":${messageIdPrefix}700000000}`;
  const webhook = await fetch(webhookUrl, {
    method: 'POST',
    headers: { authorization, 'content-type': 'application/json' },
    body,
  });
  await webhook.body?.cancel();
  if (webhook.status !== 503 || !webhook.headers.has('retry-after')) {
    problems.push(
      `the ingress, started without a registry, answered a webhook ${webhook.status} (retry-after: ${webhook.headers.get('retry-after')}), not 503 with Retry-After`,
    );
  }
  const ready = await fetch(new URL('/health/ready', webhookUrl));
  const readiness = await ready.text();
  if (ready.status !== 503) {
    problems.push(
      `the ingress, started without a registry, answered /health/ready ${ready.status}: ${readiness}`,
    );
  }
  return problems;
}
