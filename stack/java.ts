import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ConnectorError } from '../core/errors.ts';

const run = promisify(execFile);

export interface JavaRuntime {
  executable: string;
  major: number;
}

/**
 * Finds a `java` of at least `minMajor`: JAVA_HOME first, then the one on PATH, then every JDK under
 * /usr/lib/jvm. Kafka 4 needs 17; Apicurio Registry 3.3 is compiled for 21, so the two may differ.
 */
export async function findJava(minMajor: number, purpose: string): Promise<JavaRuntime> {
  const seen: JavaRuntime[] = [];
  for (const executable of await candidates()) {
    const major = await majorVersion(executable);
    if (major === undefined) continue;
    const runtime = { executable, major };
    if (major >= minMajor) return runtime;
    seen.push(runtime);
  }
  const found = seen.length
    ? `found only ${seen.map((j) => `Java ${j.major} (${j.executable})`).join(', ')}`
    : 'found no java at all';
  throw new ConnectorError('JAVA_MISSING', `${purpose} needs Java ${minMajor} or newer; ${found}.`);
}

async function candidates(): Promise<string[]> {
  const list: string[] = [];
  if (process.env.JAVA_HOME) list.push(join(process.env.JAVA_HOME, 'bin', 'java'));
  list.push('java');
  try {
    const jdks = (await readdir('/usr/lib/jvm')).sort().reverse();
    for (const jdk of jdks) list.push(join('/usr/lib/jvm', jdk, 'bin', 'java'));
  } catch {
    // No /usr/lib/jvm on this system: JAVA_HOME and PATH are all there is.
  }
  return [...new Set(list)];
}

const versionCache = new Map<string, Promise<number | undefined>>();

function majorVersion(executable: string): Promise<number | undefined> {
  let cached = versionCache.get(executable);
  if (!cached) {
    cached = (async () => {
      try {
        const { stderr, stdout } = await run(executable, ['-version'], { timeout: 10_000 });
        return parseMajor(`${stderr}\n${stdout}`);
      } catch {
        // Not there, not executable, or a file beside the JDKs (spawn throws ENOTDIR at once for those).
        return undefined;
      }
    })();
    versionCache.set(executable, cached);
  }
  return cached;
}

/** `openjdk version "17.0.15"` → 17; `java version "1.8.0_392"` → 8. */
export function parseMajor(versionOutput: string): number | undefined {
  const match = /version "(\d+)(?:\.(\d+))?/.exec(versionOutput);
  if (!match) return undefined;
  const first = Number(match[1]);
  return first === 1 && match[2] ? Number(match[2]) : first;
}
