/**
 * The project's command line. `start` is the main job: with no configuration it starts the local stack
 * and prints where everything is; Ctrl-C (or SIGTERM) stops it in order and exits 0.
 */
import { loadConfig } from '../core/config.ts';
import { ConnectorError } from '../core/errors.ts';
import { createLogger, logConfigSchema } from '../core/logger.ts';
import { loadStackConfig, type Stack, startStack } from '../stack/local-stack.ts';
import { configTable } from './configuration.ts';

const usage = `Usage: mailjet-connector <command>

Commands:
  start   Run the connector (with no configuration: start a local Kafka and schema registry too).
  config  Print the configuration table (Markdown), as in README.md.
`;

async function start(): Promise<void> {
  const { LOG_LEVEL } = loadConfig(logConfigSchema);
  const stackConfig = loadStackConfig();
  const logger = createLogger({ level: LOG_LEVEL });
  let stack: Stack | undefined;
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    await stack?.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));

  stack = await startStack(stackConfig, logger);
  if (stopping) {
    await stack.stop();
    return;
  }
  process.stdout.write(
    [
      `Kafka bootstrap: ${stack.brokers.join(',')}`,
      `Schema registry: ${stack.registryUrl}`,
      'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );
  // Keep the process alive until a signal arrives.
  setInterval(() => {}, 1 << 30);
}

async function main(argv: string[]): Promise<void> {
  const [command] = argv;
  switch (command) {
    case 'start':
      return start();
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

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof ConnectorError) {
    process.stderr.write(`error ${err.code}: ${err.message}\n`);
  } else {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  }
  process.exit(1);
});
