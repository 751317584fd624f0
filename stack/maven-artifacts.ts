/**
 * Fetches the local stack's Java programs from Maven Central with Maven, into the ignored `.cache/`
 * folder of the repository. A finished download leaves a marker; later runs find it and never start
 * Maven again, so they are offline and take milliseconds.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ConnectorError } from '../core/errors.ts';

const run = promisify(execFile);

export const KAFKA_VERSION = '4.4.0';
/** The log4j2 line Kafka 4.4 itself depends on; the slf4j binding must match it. */
export const LOG4J2_VERSION = '2.25.5';
export const APICURIO_VERSION = '3.3.3';
const DEPENDENCY_PLUGIN = 'org.apache.maven.plugins:maven-dependency-plugin:3.8.1';

const stackDir = dirname(fileURLToPath(import.meta.url));
export const defaultCacheDir = join(projectDir(stackDir), '.cache');

/**
 * The project's folder: the nearest one above `from` with a package.json. The sources run from
 * `stack/` and their build from `dist/stack/`; both must find the one download cache.
 */
export function projectDir(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return resolve(from, '..');
  }
}

/** The folder of Kafka's jars (a classpath of `<dir>/*`). */
export async function kafkaJars(cacheDir = defaultCacheDir): Promise<string> {
  return cached(join(cacheDir, `kafka-${KAFKA_VERSION}`), cacheDir, async (target) => {
    await maven(cacheDir, [
      '-f',
      join(stackDir, 'maven', 'kafka-pom.xml'),
      `-Dkafka.version=${KAFKA_VERSION}`,
      `-Dlog4j2.version=${LOG4J2_VERSION}`,
      `${DEPENDENCY_PLUGIN}:copy-dependencies`,
      '-DincludeScope=runtime',
      `-DoutputDirectory=${target}`,
    ]);
  });
}

/** The path of Apicurio Registry's `quarkus-run.jar`. */
export async function apicurioJar(cacheDir = defaultCacheDir): Promise<string> {
  const dir = await cached(
    join(cacheDir, `apicurio-registry-${APICURIO_VERSION}`),
    cacheDir,
    async (target) => {
      const download = join(target, '..', `${target.split('/').pop()}.download`);
      await rm(download, { recursive: true, force: true });
      await maven(cacheDir, [
        `${DEPENDENCY_PLUGIN}:copy`,
        `-Dartifact=io.apicurio:apicurio-registry-app:${APICURIO_VERSION}:tar.gz:all`,
        `-DoutputDirectory=${download}`,
      ]);
      const [archive] = await readdir(download);
      if (!archive)
        throw new ConnectorError('MAVEN_FETCH_FAILED', 'Maven reported success but left no archive.');
      await run('tar', ['-xzf', join(download, archive), '-C', target]);
      // The archive is only needed once; the Maven repository keeps its own copy for later extractions.
      await rm(download, { recursive: true, force: true });
    },
  );
  const jar = await findFile(dir, 'quarkus-run.jar');
  if (!jar)
    throw new ConnectorError(
      'MAVEN_FETCH_FAILED',
      `No quarkus-run.jar under ${dir}; delete it and run again.`,
    );
  return jar;
}

/**
 * Fills `finalDir` once. Work happens in a sibling temp folder that is renamed at the end, so an
 * interrupted download never looks complete and two concurrent runs cannot see half a folder.
 */
async function cached(
  finalDir: string,
  cacheDir: string,
  fill: (target: string) => Promise<void>,
): Promise<string> {
  if (existsSync(join(finalDir, '.complete'))) return finalDir;
  await mkdir(cacheDir, { recursive: true });
  const temp = `${finalDir}.tmp-${process.pid}`;
  await rm(temp, { recursive: true, force: true });
  await mkdir(temp, { recursive: true });
  try {
    await fill(temp);
    await writeFile(join(temp, '.complete'), new Date().toISOString());
    if (existsSync(join(finalDir, '.complete'))) return finalDir; // another run finished first
    await rm(finalDir, { recursive: true, force: true });
    await rename(temp, finalDir);
    return finalDir;
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}

async function maven(cacheDir: string, args: string[]): Promise<void> {
  try {
    await run('mvn', ['-v'], { timeout: 30_000 });
  } catch (err) {
    throw new ConnectorError(
      'MAVEN_MISSING',
      'Maven (mvn) is not on PATH; it fetches Kafka and the schema registry.',
      {
        cause: err,
      },
    );
  }
  const settings = join(stackDir, 'maven', 'settings.xml');
  const fullArgs = ['-B', '-q', '-s', settings, `-Dmaven.repo.local=${join(cacheDir, 'm2')}`, ...args];
  try {
    await run('mvn', fullArgs, { timeout: 15 * 60_000, maxBuffer: 32 * 1024 * 1024 });
  } catch (err) {
    const output = err as { stdout?: string; stderr?: string };
    const tail = `${output.stdout ?? ''}${output.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n');
    throw new ConnectorError('MAVEN_FETCH_FAILED', `mvn ${args.join(' ')} failed:\n${tail}`, { cause: err });
  }
}

async function findFile(dir: string, name: string): Promise<string | undefined> {
  for (const entry of await readdir(dir, { recursive: true })) {
    if (entry === name || entry.endsWith(`/${name}`)) return join(dir, entry);
  }
  return undefined;
}
