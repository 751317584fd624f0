/**
 * Apicurio Registry 3.x with its in-memory H2 storage, serving the Confluent Schema Registry API at
 * /apis/ccompat/v7. Global compatibility is set to BACKWARD, Confluent's default (Apicurio's is NONE),
 * so compatibility mistakes fail here the way they would against Confluent.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ConnectorError } from '../core/errors.ts';
import { createSchemaRegistryClient } from '../core/schema-registry.ts';
import { assertPortFree, freePort, retryPortClash } from './free-port.ts';
import { findJava } from './java.ts';
import { type JvmProcess, startJvm } from './jvm-process.ts';
import { APICURIO_VERSION, apicurioJar } from './maven-artifacts.ts';
import { waitUntil } from './wait-until.ts';

export const CCOMPAT_PATH = '/apis/ccompat/v7';

export interface SchemaRegistryOptions {
  /** 0 picks a free port. */
  port: number;
  heapMb: number;
  readyTimeoutMs: number;
  cacheDir?: string;
}

export interface RunningRegistry {
  url: string;
  process: JvmProcess;
}

export function startSchemaRegistry(options: SchemaRegistryOptions): Promise<RunningRegistry> {
  return retryPortClash(options.port === 0, () => startOnce(options));
}

async function startOnce(options: SchemaRegistryOptions): Promise<RunningRegistry> {
  const [java, jar] = await Promise.all([
    findJava(21, `Apicurio Registry ${APICURIO_VERSION}`),
    apicurioJar(options.cacheDir),
  ]);
  const port = options.port === 0 ? await freePort() : options.port;
  await assertPortFree(port, 'schema registry');
  const managementPort = await freePort();
  const home = await mkdtemp(join(tmpdir(), 'mailjet-connector-registry-'));

  const jvm = startJvm({
    name: 'schema-registry',
    java: java.executable,
    args: [
      '-Xms64m',
      `-Xmx${options.heapMb}m`,
      // A registry serves a handful of schema look-ups that clients cache: C1 alone starts faster and
      // leaves the second core to the broker.
      '-XX:TieredStopAtLevel=1',
      '-XX:+ExitOnOutOfMemoryError',
      '-Dquarkus.http.host=127.0.0.1',
      `-Dquarkus.http.port=${port}`,
      '-Dquarkus.management.host=127.0.0.1',
      `-Dquarkus.management.port=${managementPort}`,
      '-Dquarkus.log.level=WARN',
      '-Dapicurio.rules.global.compatibility=BACKWARD',
      `-Djava.io.tmpdir=${home}`,
      '-jar',
      jar,
    ],
    cwd: dirname(jar),
    logFile: join(home, 'registry.log'),
    cleanupDir: home,
  });

  const url = `http://127.0.0.1:${port}${CCOMPAT_PATH}`;
  const client = createSchemaRegistryClient(url);
  try {
    await waitUntil({
      timeoutMs: options.readyTimeoutMs,
      process: jvm,
      probe: () => client.ping(),
      notReady: (tail) =>
        new ConnectorError(
          'REGISTRY_NOT_READY',
          `Schema registry on ${url} not ready after ${options.readyTimeoutMs} ms. Log tail:\n${tail}`,
        ),
    });
  } catch (err) {
    await jvm.stop(2000);
    throw err;
  }
  return { url, process: jvm };
}
