/**
 * The Helm chart (deploy/helm/mailjet-connector), checked offline with the real Helm, built from its Go
 * module into the ignored `.cache/` on first use (stack/go-tools.ts): `helm lint` and `helm template`
 * with the chart's defaults and with every role and option on, the rendered objects read back and
 * held against what the processes really are (commands, ports, shutdown timeouts, settings).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { allOptionNames, configSchemas } from '../../bin/configuration.ts';
import { loadConnectorConfig, segmentSinkGroupId } from '../../connector/config.ts';
import { loadTopicConfig } from '../../core/topics.ts';
import { loadDestinationConfig } from '../../destination/config.ts';
import { loadIngressConfig } from '../../ingress/config.ts';
import { goTool, HELM } from '../../stack/go-tools.ts';

const run = promisify(execFile);
const chart = fileURLToPath(new URL('../../deploy/helm/mailjet-connector', import.meta.url));
const allRoles = `${chart}/ci/all-roles-values.yaml`;
const securedCluster = `${chart}/ci/secured-cluster-values.yaml`;

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  // biome-ignore lint/suspicious/noExplicitAny: rendered Kubernetes objects are checked field by field.
  spec: any;
}

async function helm(args: string[]): Promise<string> {
  const { stdout } = await run(await goTool(HELM), args, { maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

async function render(...valuesFiles: string[]): Promise<K8sObject[]> {
  const text = await helm(['template', 'mc', chart, ...valuesFiles.flatMap((file) => ['--values', file])]);
  return parseAllDocuments(text)
    .map((document) => document.toJS() as K8sObject | null)
    .filter((object): object is K8sObject => object !== null);
}

const deployments = (objects: K8sObject[]) =>
  new Map(
    objects
      .filter((o) => o.kind === 'Deployment')
      .map((o) => [o.metadata.labels?.['app.kubernetes.io/component'] as string, o]),
  );

/** The rendered objects of one kind by role (their app.kubernetes.io/component label). */
const byComponent = (objects: K8sObject[], kind: string) =>
  new Map(
    objects
      .filter((o) => o.kind === kind)
      .map((o) => [o.metadata.labels?.['app.kubernetes.io/component'] ?? '', o.spec]),
  );

/** Each role: the command it runs, and its port and shutdown timeout as the process defaults them. */
const ingressConfig = loadIngressConfig({ INGRESS_AUTH_DISABLED: 'true' });
const connectorConfig = loadConnectorConfig({});
const destinationConfig = loadDestinationConfig({ DESTINATION_WRITE_KEY: 'a-write-key-of-the-test' });
const roles = {
  ingress: {
    args: ['ingress'],
    port: ingressConfig.INGRESS_PORT,
    shutdownMs: ingressConfig.INGRESS_SHUTDOWN_TIMEOUT_MS,
  },
  normalizer: {
    args: ['normalizer'],
    port: connectorConfig.CONNECTOR_PORT,
    shutdownMs: connectorConfig.CONNECTOR_SHUTDOWN_TIMEOUT_MS,
  },
  'segment-sink': {
    args: ['segment-sink'],
    port: connectorConfig.CONNECTOR_PORT,
    shutdownMs: connectorConfig.CONNECTOR_SHUTDOWN_TIMEOUT_MS,
  },
  'destination-intake': {
    args: ['destination'],
    port: destinationConfig.DESTINATION_PORT,
    shutdownMs: destinationConfig.DESTINATION_SHUTDOWN_TIMEOUT_MS,
  },
  'destination-worker': {
    args: ['destination'],
    port: destinationConfig.DESTINATION_PORT,
    shutdownMs: destinationConfig.DESTINATION_SHUTDOWN_TIMEOUT_MS,
  },
} as const;

test('helm lint passes with the defaults, with every role and option on, and for a secured existing cluster', async () => {
  for (const values of [[], ['--values', allRoles], ['--values', securedCluster]]) {
    const out = await helm(['lint', '--strict', chart, ...values]);
    assert.match(out, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  }
});

test('the defaults render every role, each a hardened Deployment of its real command', async () => {
  const objects = await render();
  const byRole = deployments(objects);
  assert.deepEqual([...byRole.keys()].sort(), Object.keys(roles).sort());
  for (const [role, deployment] of byRole) {
    const expected = roles[role as keyof typeof roles];
    const pod = deployment.spec.template.spec;
    const [container] = pod.containers;
    assert.deepEqual(container.args, expected.args, role);
    assert.equal(container.ports[0].containerPort, expected.port, `${role}: the port its process listens on`);
    assert.equal(container.livenessProbe.httpGet.path, '/health/live');
    assert.equal(container.readinessProbe.httpGet.path, '/health/ready');
    assert.ok(
      pod.terminationGracePeriodSeconds * 1000 > expected.shutdownMs,
      `${role}: Kubernetes waits longer than the process's own shutdown (${expected.shutdownMs} ms)`,
    );
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(typeof pod.securityContext.runAsUser, 'number');
    assert.equal(container.securityContext.readOnlyRootFilesystem, true);
    assert.equal(container.securityContext.allowPrivilegeEscalation, false);
    assert.deepEqual(container.securityContext.capabilities.drop, ['ALL']);
    assert.ok(container.resources.limits.memory, `${role}: a memory limit`);
    assert.deepEqual(deployment.spec.selector.matchLabels, deployment.spec.template.metadata.labels);
  }
  // A Service per role, on its HTTP port: webhooks on port 80 for the ingress, /metrics for every role.
  const services = byComponent(objects, 'Service');
  assert.deepEqual([...services.keys()].sort(), [...byRole.keys()].sort());
  assert.equal(services.get('ingress').ports[0].port, 80);
  for (const [role, spec] of services) {
    assert.equal(spec.ports[0].targetPort, 'http', role);
    assert.deepEqual(spec.selector, byRole.get(role)?.spec.selector.matchLabels, role);
  }
  for (const kind of [
    'ScaledObject',
    'HorizontalPodAutoscaler',
    'ServiceMonitor',
    'NetworkPolicy',
    'PrometheusRule',
    'ConfigMap',
  ])
    assert.equal(objects.filter((o) => o.kind === kind).length, 0, `${kind} is opt-in`);
  assert.equal(objects.filter((o) => o.kind === 'Secret').length, 0, 'the chart never holds a secret');
});

test('every role and option on: the destination in its two roles, autoscaling, settings and the existing Secret reach every process', async () => {
  const objects = await render(allRoles);
  const byRole = deployments(objects);
  assert.deepEqual([...byRole.keys()].sort(), Object.keys(roles).sort());
  const names = allOptionNames();
  for (const [role, deployment] of byRole) {
    const pod = deployment.spec.template.spec;
    const [container] = pod.containers;
    const env = new Map<string, string>(
      container.env.map((e: { name: string; value: string }) => [e.name, e.value]),
    );
    for (const name of env.keys())
      assert.ok(names.has(name), `${role}: ${name} is a setting of the processes`);
    assert.equal(env.get('KAFKA_BROKERS'), 'kafka-0.kafka:9092,kafka-1.kafka:9092');
    assert.deepEqual(container.envFrom, [{ secretRef: { name: 'mailjet-connector-secrets' } }]);
    if (role.startsWith('destination-'))
      assert.equal(env.get('DESTINATION_ROLE'), role.slice('destination-'.length));
  }
  assert.equal(byRole.get('destination-intake')?.spec.replicas, 3);
  const normalizer = byRole.get('normalizer')?.spec;
  assert.ok(normalizer.template.spec.terminationGracePeriodSeconds > 60, 'follows a longer shutdown timeout');
  assert.equal(byRole.get('ingress')?.spec.replicas, undefined, 'the autoscaler owns the ingress replicas');
  for (const role of ['normalizer', 'segment-sink', 'destination-worker'])
    assert.equal(byRole.get(role)?.spec.replicas, undefined, `KEDA owns the ${role} replicas`);
  const hpa = objects.find((o) => o.kind === 'HorizontalPodAutoscaler');
  assert.equal(hpa?.spec.scaleTargetRef.name, 'mc-mailjet-connector-ingress');
  const [monitor, ...more] = objects.filter((o) => o.kind === 'ServiceMonitor');
  assert.equal(more.length, 0);
  assert.equal(monitor?.metadata.labels?.release, 'prometheus');
  assert.deepEqual(monitor?.spec.endpoints, [{ port: 'http', path: '/metrics', interval: '30s' }]);
  for (const service of objects.filter((o) => o.kind === 'Service')) {
    for (const [label, value] of Object.entries(monitor?.spec.selector.matchLabels ?? {}))
      assert.equal(
        service.metadata.labels?.[label],
        value,
        `the ServiceMonitor selects ${service.metadata.name}`,
      );
  }
  const policies = byComponent(objects, 'NetworkPolicy');
  assert.deepEqual([...policies.keys()].sort(), Object.keys(roles).sort());
  for (const [role, spec] of policies) {
    const [rule] = spec.ingress;
    assert.deepEqual(rule.ports, [{ port: 'http', protocol: 'TCP' }], `${role}: only HTTP in`);
    const open = role === 'ingress' || role === 'destination-intake';
    assert.equal(
      rule.from === undefined,
      open,
      `${role}: ${open ? 'open to callers' : 'metrics scrapers only'}`,
    );
  }
});

test("lag-based autoscaling watches each stage's real group and topic, never below one member nor past the partitions", async () => {
  const objects = await render(allRoles);
  const topics = loadTopicConfig({});
  const scaled = byComponent(objects, 'ScaledObject');
  const expected = {
    normalizer: { consumerGroup: connectorConfig.CONNECTOR_GROUP_ID, topic: topics.RAW_TOPIC },
    'segment-sink': { consumerGroup: segmentSinkGroupId(connectorConfig), topic: topics.NORMALIZED_TOPIC },
    'destination-worker': {
      consumerGroup: destinationConfig.DESTINATION_GROUP_ID,
      topic: topics.IDENTIFY_TOPIC,
    },
  };
  assert.deepEqual([...scaled.keys()].sort(), Object.keys(expected).sort());
  for (const [role, { consumerGroup, topic }] of Object.entries(expected)) {
    const spec = scaled.get(role);
    assert.equal(spec.scaleTargetRef.name, `mc-mailjet-connector-${role}`);
    const [trigger] = spec.triggers;
    assert.equal(trigger.type, 'kafka');
    assert.equal(trigger.metadata.consumerGroup, consumerGroup, `${role}: the group its process joins`);
    assert.equal(trigger.metadata.topic, topic, `${role}: the topic it reads`);
    assert.equal(trigger.metadata.offsetResetPolicy, 'earliest', 'a new group reads from the beginning');
    assert.equal(trigger.authenticationRef.name, 'kafka-sasl');
    assert.ok(spec.minReplicaCount >= 1, `${role}: never scaled to zero (asked for 0 in the values)`);
    assert.ok(spec.maxReplicaCount <= topics.TOPIC_PARTITIONS, `${role}: capped at the partitions`);
  }
});

test('the alert rules and the dashboard ship in the chart as they are in files/, when asked for', async () => {
  const objects = await render(allRoles);
  const rule = objects.find((o) => o.kind === 'PrometheusRule');
  const alerts = parseAllDocuments(readFileSync(`${chart}/files/alerts.yaml`, 'utf8'))[0]?.toJS();
  assert.deepEqual(rule?.spec, alerts, 'the PrometheusRule holds files/alerts.yaml');
  const dashboard = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name.endsWith('-dashboard')) as
    | (K8sObject & { data: Record<string, string> })
    | undefined;
  assert.equal(dashboard?.metadata.labels?.grafana_dashboard, '1', "Grafana's sidecar finds it");
  assert.deepEqual(
    JSON.parse(dashboard?.data['mailjet-connector.json'] ?? '{}'),
    JSON.parse(readFileSync(`${chart}/files/dashboard.json`, 'utf8')),
  );
});

/**
 * The model of a Kubernetes or CRD kind (kubernetes-models: the API's own OpenAPI schemas, KEDA's and
 * Prometheus Operator's CRD schemas), found by apiVersion and kind.
 */
async function modelOf(object: K8sObject): Promise<new (data: object) => { validate(): void }> {
  const [group, version] = object.apiVersion.includes('/')
    ? object.apiVersion.split('/')
    : ['', object.apiVersion];
  const module =
    group === 'keda.sh'
      ? `@kubernetes-models/keda/keda.sh/${version}/${object.kind}`
      : group === 'monitoring.coreos.com'
        ? `@kubernetes-models/prometheus-operator/monitoring.coreos.com/${version}/${object.kind}`
        : `kubernetes-models/${group ? `${group}/` : ''}${version}/${object.kind}`;
  const exports = (await import(module)) as Record<string, new (data: object) => { validate(): void }>;
  const model = exports[object.kind];
  assert.ok(model, `a schema for ${object.apiVersion} ${object.kind}`);
  return model;
}

test('every object the chart renders is valid against its Kubernetes or CRD schema', async () => {
  const kinds = new Set<string>();
  for (const values of [[], [allRoles], [securedCluster]]) {
    for (const object of await render(...values)) {
      const Model = await modelOf(object);
      assert.doesNotThrow(() => new Model(object).validate(), `${object.kind} ${object.metadata.name}`);
      kinds.add(object.kind);
    }
  }
  for (const kind of [
    'Deployment',
    'Service',
    'ScaledObject',
    'ServiceMonitor',
    'PrometheusRule',
    'NetworkPolicy',
  ])
    assert.ok(kinds.has(kind), `${kind} was rendered and checked`);
});

test('a secured existing cluster: its TLS and SASL settings reach every role, passwords stay in the Secret, KEDA uses its own credentials', async () => {
  const objects = await render(securedCluster);
  for (const [role, deployment] of deployments(objects)) {
    const [container] = deployment.spec.template.spec.containers;
    const env = new Map<string, string>(
      container.env.map((e: { name: string; value: string }) => [e.name, e.value]),
    );
    assert.equal(env.get('KAFKA_SECURITY_PROTOCOL'), 'SASL_SSL', role);
    assert.equal(env.get('KAFKA_SASL_MECHANISM'), 'SCRAM-SHA-512', role);
    assert.equal(env.get('CREATE_TOPICS'), 'false', role);
    assert.equal(env.has('KAFKA_SASL_PASSWORD'), false, `${role}: the password comes from the Secret`);
    assert.deepEqual(container.envFrom, [{ secretRef: { name: 'mailjet-connector-secrets' } }]);
  }
  for (const [role, spec] of byComponent(objects, 'ScaledObject'))
    assert.equal(spec.triggers[0].authenticationRef.name, 'kafka-scram', role);
});

test('no secret setting has a place in the chart values: secrets come from an existing Secret only', async () => {
  const secrets = configSchemas.flatMap(({ schema }) =>
    Object.entries(schema.properties)
      .filter(([, option]) => (option as { writeOnly?: boolean }).writeOnly === true)
      .map(([name]) => name),
  );
  assert.ok(secrets.includes('SEGMENT_WRITE_KEY'), 'the settings mark their secrets');
  const values = await helm(['show', 'values', chart]);
  for (const name of secrets) assert.ok(!values.includes(`${name}:`), `${name} is not a value of the chart`);
});
