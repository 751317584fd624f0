/**
 * The chart's dashboard and alert rules (deploy/helm/mailjet-connector/files/) against the services:
 * every metric they query is one the processes really export, read from the live /metrics of each.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { startTestConnector, startTestSegment } from '../helpers/connector.ts';
import { startTestDestination, startTestMailjet } from '../helpers/destination.ts';
import { startTestIngress } from '../helpers/ingress.ts';

const files = new URL('../../deploy/helm/mailjet-connector/files/', import.meta.url);

/** The series names a /metrics page offers: each family, and a histogram's _bucket, _sum and _count. */
async function exportedNames(url: string): Promise<Set<string>> {
  const page = await (await fetch(`${url}/metrics`)).text();
  const names = new Set<string>();
  for (const [, name, type] of page.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(name as string);
    if (type === 'histogram' || type === 'summary')
      for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
  }
  return names;
}

/** The project's metric names a text queries (every project metric starts with mailjet_). */
const queried = (text: string) => new Set([...text.matchAll(/\bmailjet_[a-z0-9_]+/g)].map(([name]) => name));

test('the dashboard and the alert rules query only metrics the ingress, the connector and the destination export', async (t) => {
  const segment = await startTestSegment(t);
  const mailjet = await startTestMailjet(t);
  const ingress = await startTestIngress(t);
  const connector = await startTestConnector(t, ingress.topics, segment);
  const destination = await startTestDestination(t, mailjet);
  const exported = new Set<string>();
  for (const url of [ingress.url, connector.url, destination.url])
    for (const name of await exportedNames(url)) exported.add(name);
  assert.ok(exported.has('mailjet_connector_lag_records'), 'the lag gauges are read from the live pages');

  const dashboard = JSON.parse(readFileSync(new URL('dashboard.json', files), 'utf8')) as {
    panels: { title: string; targets: { expr: string }[] }[];
  };
  const dashboardQueries = dashboard.panels.flatMap((panel) => panel.targets.map((target) => target.expr));
  const rules = readFileSync(new URL('alerts.yaml', files), 'utf8');
  for (const [what, text] of [
    ['dashboard.json', dashboardQueries.join('\n')],
    ['alerts.yaml', rules],
  ] as const) {
    const names = queried(text);
    assert.ok(names.size > 5, `${what} queries the project's metrics`);
    for (const name of names)
      assert.ok(exported.has(name), `${what} queries ${name}, which no process exports`);
  }
  for (const panel of dashboard.panels) assert.ok(panel.targets.length > 0, `${panel.title} has a query`);
});
