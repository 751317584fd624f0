/**
 * One broker and registry for the whole test run (node --test-global-setup): started before the first
 * test file, stopped after the last. Test files run in child processes and find it through the
 * TEST_KAFKA_BROKERS / TEST_SCHEMA_REGISTRY_URL variables. With KAFKA_BROKERS and SCHEMA_REGISTRY_URL
 * set, the tests run against that cluster instead.
 */
import { createLogger } from '../core/logger.ts';
import { loadStackConfig, type Stack, startStack } from '../stack/local-stack.ts';

let stack: Stack | undefined;

export async function globalSetup(): Promise<void> {
  // Temporary folders whatever LOCAL_STACK_DATA_DIR says: tests leave no data behind, and never share
  // (nor lock) the folder of a `start` that runs meanwhile.
  stack = await startStack(
    loadStackConfig({ ...process.env, LOCAL_STACK_DATA_DIR: undefined }),
    createLogger({ level: process.env.LOG_LEVEL ?? 'warn' }),
  );
  process.env.TEST_KAFKA_BROKERS = stack.brokers.join(',');
  process.env.TEST_SCHEMA_REGISTRY_URL = stack.registryUrl;
}

export async function globalTeardown(): Promise<void> {
  await stack?.stop();
}
