/**
 * The project's command line.
 * - `start` is the main job: with no configuration it starts the local stack (its data kept in
 *   `.data/`) and the ingress with generated credentials, and prints where to send webhooks. It prints
 *   the credentials it generated, never configured ones: its output ends up in container logs.
 * - `ingress`, `connector` and `destination` run one process alone against the configured cluster
 *   (containers, Kubernetes).
 * SIGINT/SIGTERM stop everything in order, and so does a part that cannot go on; the exit code is 0
 * only when no part stopped on an error and nothing in flight was lost.
 */
import { randomBytes } from 'node:crypto';
import closeWithGrace from 'close-with-grace';
import { loadConnectorConfig } from '../connector/config.ts';
import { type ConnectorStage, connectorStages, startConnector } from '../connector/server.ts';
import { loadConfig } from '../core/config.ts';
import { ConnectorError } from '../core/errors.ts';
import { limitHeapGrowth } from '../core/heap-growth.ts';
import { createLogger, type Logger, logConfigSchema } from '../core/logger.ts';
import { loadTopicConfig } from '../core/topics.ts';
import { loadDestinationConfig } from '../destination/config.ts';
import { startDestination } from '../destination/server.ts';
import { loadIngressConfig } from '../ingress/config.ts';
import { startIngress } from '../ingress/server.ts';
import { startLocalMailjet } from '../local-saas/mailjet/server.ts';
import { startLocalSegment } from '../local-saas/segment/server.ts';
import { parseReplayArguments, replayUsage } from '../replay/arguments.ts';
import { runReplay } from '../replay/run-replay.ts';
import {
  type ClusterAccess,
  clearLocalStackData,
  DEFAULT_DATA_DIR,
  existingCluster,
  loadStackConfig,
  localStackDataDir,
  startStack,
  withoutCredentials,
} from '../stack/local-stack.ts';
import { configTable } from './configuration.ts';
import { startBanner } from './start-banner.ts';

const usage = `Usage: mailjet-connector <command>

Commands:
  start        The main job: ingress, connector and Mailjet destination. With no configuration it also
               starts a local Kafka, schema registry, Segment server and Mailjet server; the local
               Kafka and registry keep their data in LOCAL_STACK_DATA_DIR (default .data/) across
               restarts. \`start --fresh\` empties that folder first.
  ingress      The webhook ingress alone, against KAFKA_BROKERS and SCHEMA_REGISTRY_URL.
  connector    The connector alone, both its stages, against KAFKA_BROKERS, SCHEMA_REGISTRY_URL and
               SEGMENT_WRITE_KEY.
  normalizer   The connector's first stage alone: raw topic → normalized and dead-letter topics, exactly
               once; against KAFKA_BROKERS and SCHEMA_REGISTRY_URL.
  segment-sink The connector's second stage alone: normalized topic → Segment; against KAFKA_BROKERS,
               SCHEMA_REGISTRY_URL and SEGMENT_WRITE_KEY.
  destination  The Mailjet destination alone (identify intake + contact worker), against KAFKA_BROKERS,
               SCHEMA_REGISTRY_URL, MAILJET_API_KEY and MAILJET_API_SECRET.
  replay       Re-run a time range through a stage: re-normalize the raw topic, re-deliver the
               normalized topic to Segment, or re-drive dead letters; \`replay --help\` for its options.
  config       Print the configuration table (Markdown), as in docs/configuration.md.
`;

type Stop = () => Promise<unknown>;

/**
 * Runs `stops` in reverse start order on the first signal, or when a part reports that it cannot go on
 * (the returned function: pass it as `onFatal`). Exits 0 only when no part failed and every stop was
 * clean: close-with-grace itself exits 0 after any signal, so a failure has to exit here.
 */
function stopOnSignals(logger: Logger, stops: Stop[], graceMs: number): (error: Error) => void {
  let fatal: Error | undefined;
  const { close } = closeWithGrace({ delay: graceMs, logger: false }, async ({ signal, err }) => {
    if (err) logger.error({ err }, 'stopping after an unexpected error');
    else if (fatal) logger.error({ err: fatal }, 'stopping: a part cannot go on');
    else logger.info({ signal }, 'shutting down');
    let clean = !err && !fatal;
    for (const stop of [...stops].reverse()) {
      if ((await stop()) === false) clean = false;
    }
    if (!clean) process.exit(1);
  });
  return (error) => {
    if (fatal) return;
    fatal = error;
    void close();
  };
}

async function start(args: string[]): Promise<void> {
  const unknown = args.filter((arg) => arg !== '--fresh');
  if (unknown.length > 0) {
    process.stderr.write(`start: unknown option ${unknown[0]} (the only one is --fresh).\n`);
    process.exitCode = 2;
    return;
  }
  const { LOG_LEVEL } = loadConfig(logConfigSchema);
  // `start` keeps the local stack's data in .data/ unless told otherwise (an empty value counts as unset,
  // as everywhere): the events it answered 200 for must survive a restart.
  const stackConfig = loadStackConfig({
    ...process.env,
    LOCAL_STACK_DATA_DIR: process.env.LOCAL_STACK_DATA_DIR || DEFAULT_DATA_DIR,
  });
  const topics = loadTopicConfig();
  // The local demo gets credentials of its own unless the user configured auth. Only these generated
  // ones are ever printed: a configured secret must not reach stdout (the Docker image runs `start`,
  // and its output lands in container logs).
  const configuredAuth =
    process.env.INGRESS_BASIC_AUTH_USER ||
    process.env.INGRESS_BASIC_AUTH_PASSWORD ||
    process.env.INGRESS_TOKEN ||
    process.env.INGRESS_AUTH_DISABLED;
  const generatedAuth = configuredAuth
    ? undefined
    : { user: 'mailjet', password: randomBytes(18).toString('base64url') };
  // The local demo listens on loopback unless told otherwise.
  const ingressConfig = loadIngressConfig({
    INGRESS_HOST: '127.0.0.1',
    ...process.env,
    ...(generatedAuth
      ? { INGRESS_BASIC_AUTH_USER: generatedAuth.user, INGRESS_BASIC_AUTH_PASSWORD: generatedAuth.password }
      : {}),
  });
  const connectorConfig = loadConnectorConfig({ CONNECTOR_HOST: '127.0.0.1', ...process.env });
  const configuredDestinationAuth =
    process.env.DESTINATION_WRITE_KEY ||
    process.env.DESTINATION_SHARED_SECRET ||
    process.env.DESTINATION_AUTH_DISABLED;
  const generatedWriteKey = configuredDestinationAuth ? undefined : randomBytes(18).toString('base64url');
  const destinationConfig = loadDestinationConfig({
    DESTINATION_HOST: '127.0.0.1',
    ...process.env,
    ...(generatedWriteKey ? { DESTINATION_WRITE_KEY: generatedWriteKey } : {}),
  });
  const logger = createLogger({ level: LOG_LEVEL });

  const dataDir = existingCluster(stackConfig) ? undefined : localStackDataDir(stackConfig);
  if (args.includes('--fresh')) {
    if (dataDir) {
      await clearLocalStackData(dataDir);
      logger.warn({ dataDir }, 'start --fresh: the local stack starts from empty');
    } else {
      logger.warn(
        'start --fresh empties the local stack only; the cluster of KAFKA_BROKERS is left as it is',
      );
    }
  }

  const stops: Stop[] = [];
  const stopOnFatal = stopOnSignals(
    logger,
    stops,
    ingressConfig.INGRESS_SHUTDOWN_TIMEOUT_MS +
      connectorConfig.CONNECTOR_SHUTDOWN_TIMEOUT_MS +
      destinationConfig.DESTINATION_SHUTDOWN_TIMEOUT_MS +
      20_000,
  );
  const stack = await startStack(stackConfig, logger);
  stops.push(() => stack.stop());
  const ingress = await startIngress({
    config: ingressConfig,
    topics,
    brokers: stack.brokers,
    registryUrl: stack.registryUrl,
    security: stack.security,
    compression: stack.compression,
    logger,
    onFatal: stopOnFatal,
  });
  stops.push(() => ingress.shutdown());

  let segment = {
    endpoint: connectorConfig.SEGMENT_ENDPOINT,
    writeKey: connectorConfig.SEGMENT_WRITE_KEY ?? '',
  };
  let localSegmentUrl: string | undefined;
  if (connectorConfig.SEGMENT_WRITE_KEY === undefined) {
    const local = await startLocalSegment({ writeKeys: ['local-write-key'] });
    stops.push(() => local.stop());
    segment = { endpoint: local.url, writeKey: 'local-write-key' };
    localSegmentUrl = local.url;
  }
  const connector = await startConnector({
    config: connectorConfig,
    topics,
    brokers: stack.brokers,
    registryUrl: stack.registryUrl,
    security: stack.security,
    compression: stack.compression,
    segment,
    logger,
    // Already logged by the connector; runs the ordered shutdown of everything started here, exit 1.
    onFatal: stopOnFatal,
  });
  stops.push(() => connector.shutdown());

  let mailjet = {
    baseUrl: destinationConfig.MAILJET_API_URL,
    apiKey: destinationConfig.MAILJET_API_KEY ?? '',
    apiSecret: destinationConfig.MAILJET_API_SECRET ?? '',
  };
  let localMailjetUrl: string | undefined;
  if (destinationConfig.MAILJET_API_KEY === undefined) {
    const credentials = { apiKey: 'local-api-key', apiSecret: 'local-api-secret' };
    const local = await startLocalMailjet({ credentials: [credentials] });
    stops.push(() => local.stop());
    mailjet = { baseUrl: local.url, ...credentials };
    localMailjetUrl = local.url;
  }
  const destination = await startDestination({
    config: destinationConfig,
    topics,
    brokers: stack.brokers,
    registryUrl: stack.registryUrl,
    security: stack.security,
    compression: stack.compression,
    mailjet,
    logger,
    onFatal: stopOnFatal,
  });
  stops.push(() => destination.shutdown());

  const webhook = new URL(ingressConfig.INGRESS_PATH, ingress.url);
  let webhookAuth = '';
  if (generatedAuth) {
    webhook.username = generatedAuth.user;
    webhook.password = generatedAuth.password;
  } else if (ingressConfig.INGRESS_BASIC_AUTH_USER) {
    webhookAuth = '  (with the configured INGRESS_BASIC_AUTH_USER and INGRESS_BASIC_AUTH_PASSWORD)';
  } else if (ingressConfig.INGRESS_TOKEN) {
    webhookAuth = '  (append ?token= and the configured INGRESS_TOKEN)';
  }
  let identifyAuth = '';
  if (generatedWriteKey) identifyAuth = `  Write key: ${generatedWriteKey}`;
  else if (destinationConfig.DESTINATION_WRITE_KEY)
    identifyAuth = '  Write key: the configured DESTINATION_WRITE_KEY';
  else if (destinationConfig.DESTINATION_SHARED_SECRET)
    identifyAuth = '  Signed with the configured DESTINATION_SHARED_SECRET';
  // Where to send webhooks and where to see them arrive come first.
  const banner = [
    `Webhook URL: ${webhook.href}${webhookAuth}`,
    localSegmentUrl
      ? `Segment (local): ${localSegmentUrl}  What arrived: ${localSegmentUrl}/_local/stats and /_local/events`
      : `Segment: ${withoutCredentials(segment.endpoint)}`,
    `Segment identify calls (Mailjet destination): ${destination.url}/v1/identify and /v1/batch${identifyAuth}`,
    localMailjetUrl
      ? `Mailjet (local): ${localMailjetUrl}  Contacts of list ${destinationConfig.MAILJET_LIST_ID}: ${localMailjetUrl}/_local/contacts?list=${destinationConfig.MAILJET_LIST_ID}`
      : `Mailjet: ${withoutCredentials(mailjet.baseUrl)}, list ${destinationConfig.MAILJET_LIST_ID}`,
    `Metrics: ${ingress.url}/metrics (ingress)  ${connector.url}/metrics (connector)  ${destination.url}/metrics (destination)`,
    `Raw topic: ${topics.RAW_TOPIC}  Dead letters: ${topics.DEAD_LETTER_TOPIC}`,
    `Kafka bootstrap: ${stack.brokers.join(',')}`,
    `Schema registry: ${withoutCredentials(stack.registryUrl)}`,
    ...(stack.dataDir
      ? [`Local stack data: ${stack.dataDir}  (kept across restarts; start --fresh empties it)`]
      : []),
  ];
  process.stdout.write(startBanner(banner));
}

async function ingressOnly(): Promise<void> {
  const { LOG_LEVEL } = loadConfig(logConfigSchema);
  const cluster = requireCluster('ingress');
  const topics = loadTopicConfig();
  const config = loadIngressConfig();
  const logger = createLogger({ level: LOG_LEVEL });
  const stops: Stop[] = [];
  const stopOnFatal = stopOnSignals(logger, stops, config.INGRESS_SHUTDOWN_TIMEOUT_MS + 5000);
  const ingress = await startIngress({ config, topics, ...cluster, logger, onFatal: stopOnFatal });
  stops.push(() => ingress.shutdown());
}

/** The `connector` command (both stages), or one stage alone (`normalizer`, `segment-sink`). */
async function connectorOnly(command: string, stages: readonly ConnectorStage[]): Promise<void> {
  const { LOG_LEVEL } = loadConfig(logConfigSchema);
  const cluster = requireCluster(command);
  const topics = loadTopicConfig();
  const config = loadConnectorConfig();
  const delivering = stages.includes('segment-sink');
  if (delivering && config.SEGMENT_WRITE_KEY === undefined) {
    throw new ConnectorError(
      'CONFIG_INVALID',
      `The ${command} command needs SEGMENT_WRITE_KEY (use \`start\` for a local Segment server).`,
    );
  }
  const logger = createLogger({ level: LOG_LEVEL });
  const stops: Stop[] = [];
  const stopOnFatal = stopOnSignals(logger, stops, config.CONNECTOR_SHUTDOWN_TIMEOUT_MS + 5000);
  const connector = await startConnector({
    config,
    topics,
    ...cluster,
    stages,
    ...(delivering && config.SEGMENT_WRITE_KEY !== undefined
      ? { segment: { endpoint: config.SEGMENT_ENDPOINT, writeKey: config.SEGMENT_WRITE_KEY } }
      : {}),
    logger,
    onFatal: stopOnFatal,
  });
  stops.push(() => connector.shutdown());
}

async function destinationOnly(): Promise<void> {
  const { LOG_LEVEL } = loadConfig(logConfigSchema);
  const cluster = requireCluster('destination');
  const topics = loadTopicConfig();
  const config = loadDestinationConfig();
  const needsMailjet = config.DESTINATION_ROLE !== 'intake';
  if (needsMailjet && (config.MAILJET_API_KEY === undefined || config.MAILJET_API_SECRET === undefined)) {
    throw new ConnectorError(
      'CONFIG_INVALID',
      'The destination command needs MAILJET_API_KEY and MAILJET_API_SECRET unless DESTINATION_ROLE=intake (use `start` for a local Mailjet server).',
    );
  }
  const logger = createLogger({ level: LOG_LEVEL });
  const stops: Stop[] = [];
  const stopOnFatal = stopOnSignals(logger, stops, config.DESTINATION_SHUTDOWN_TIMEOUT_MS + 5000);
  const destination = await startDestination({
    config,
    topics,
    ...cluster,
    mailjet: {
      baseUrl: config.MAILJET_API_URL,
      apiKey: config.MAILJET_API_KEY ?? '',
      apiSecret: config.MAILJET_API_SECRET ?? '',
    },
    logger,
    onFatal: stopOnFatal,
  });
  stops.push(() => destination.shutdown());
}

/** `replay …`: usage errors (bad flags, dates, unknown topic) are one line on stderr and exit code 2. */
async function replay(args: string[]): Promise<void> {
  const parsed = parseReplayArguments(args, Date.now());
  if (!parsed.ok) {
    process.stderr.write(`replay: ${parsed.message}\n`);
    process.exitCode = 2;
    return;
  }
  if (parsed.help) {
    process.stdout.write(replayUsage);
    return;
  }
  // Progress and the summary own stdout; the log shows warnings unless LOG_LEVEL asks for more.
  const { LOG_LEVEL } = loadConfig(logConfigSchema, { LOG_LEVEL: 'warn', ...process.env });
  const cluster = requireCluster('replay');
  const config = loadConnectorConfig();
  const stop = new AbortController();
  // First Ctrl-C: finish and commit the batch in flight; the same command resumes from there.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => stop.abort());
  try {
    const summary = await runReplay(parsed.options, {
      ...cluster,
      topics: loadTopicConfig(),
      config,
      ...(config.SEGMENT_WRITE_KEY === undefined
        ? {}
        : { segment: { endpoint: config.SEGMENT_ENDPOINT, writeKey: config.SEGMENT_WRITE_KEY } }),
      logger: createLogger({ level: LOG_LEVEL }),
      signal: stop.signal,
    });
    process.exitCode = summary.complete ? 0 : 1;
  } catch (err) {
    if (err instanceof ConnectorError && err.code === 'REPLAY_ARGUMENT_INVALID') {
      process.stderr.write(`replay: ${err.message.split('\n')[0]}\n`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
}

function requireCluster(command: string): ClusterAccess {
  const cluster = existingCluster(loadStackConfig());
  if (!cluster) {
    throw new ConnectorError(
      'CONFIG_INVALID',
      `The ${command} command needs KAFKA_BROKERS and SCHEMA_REGISTRY_URL (use \`start\` for a local stack).`,
    );
  }
  return cluster;
}

async function main(argv: string[]): Promise<void> {
  const [command] = argv;
  switch (command) {
    case 'start':
      return start(argv.slice(1));
    case 'ingress':
      return ingressOnly();
    case 'connector':
      return connectorOnly(command, connectorStages);
    case 'normalizer':
      return connectorOnly(command, ['normalizer']);
    case 'segment-sink':
      return connectorOnly(command, ['segment-sink']);
    case 'destination':
      return destinationOnly();
    case 'replay':
      return replay(argv.slice(1));
    case 'config':
      process.stdout.write(`${configTable()}\n`);
      return;
    case undefined:
    case 'help':
    case '--help':
      process.stdout.write(usage);
      return;
    default:
      process.stderr.write(`Unknown command "${command}".\n\n${usage}`);
      process.exitCode = 2;
  }
}

limitHeapGrowth();
main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof ConnectorError) {
    process.stderr.write(`error ${err.code}: ${err.message}\n`);
  } else {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  }
  process.exit(1);
});
