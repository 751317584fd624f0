/**
 * Apicurio Registry 3.x serving the Confluent Schema Registry API at /apis/ccompat/v7, with its SQL
 * storage on H2: a database file in a data folder that outlives it, or in memory. Global compatibility
 * is set to BACKWARD, Confluent's default (Apicurio's is NONE), so compatibility mistakes fail here the
 * way they would against Confluent.
 */
import { mkdir, mkdtemp } from 'node:fs/promises';
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
  /** Aborted while starting: stop and give up (the rest of the stack failed). */
  signal?: AbortSignal;
  cacheDir?: string;
  /**
   * Keep the schemas in an H2 database file in this folder instead of in memory, so that the schema
   * ids inside stored records resolve after a restart. Absent: an in-memory database, gone on stop.
   */
  dataDir?: string;
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
  if (options.dataDir) await mkdir(options.dataDir, { recursive: true });

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
      ...(options.dataDir ? [`-Dapicurio.datasource.url=${h2FileUrl(options.dataDir)}`] : []),
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
      signal: options.signal,
      // H2 locks its file; a second registry on the same data folder retries for minutes.
      failedWhen: (tail) =>
        options.dataDir && /The file is locked: .*registry\.mv\.db/.test(tail)
          ? new ConnectorError(
              'LOCAL_STACK_DATA_IN_USE',
              `The registry's database in ${options.dataDir} is locked by another registry.`,
            )
          : undefined,
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

/**
 * The JDBC URL of the registry's database file in `dataDir` (H2 adds `.mv.db`). Apicurio's SQL storage
 * with H2 is its default (`apicurio.storage.kind=sql`, `apicurio.storage.sql.kind=h2`); only the URL
 * changes from `jdbc:h2:mem:` to a file. WRITE_DELAY=0: H2 otherwise writes committed changes to the
 * file up to half a second later, so a schema registered just before a SIGKILL would be lost while
 * the records that carry its id are not. (The folder's name has no `;`: the stack's config checks.)
 */
function h2FileUrl(dataDir: string): string {
  return `jdbc:h2:file:${join(dataDir, 'registry')};WRITE_DELAY=0`;
}
