/**
 * Programs written in Go that the project runs but does not ship (a TCP fault proxy for the integrity
 * lane; later others), built from their module at a pinned version with the machine's Go into the
 * ignored `.cache/` folder: `go install <module>/<package>@<version>`, with the module and build caches
 * in `.cache/go/` too, so a fresh clone fetches (through the environment's GOPROXY, GOFLAGS as they are)
 * and builds each once, and later runs find the binary and never start Go again.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ConnectorError } from '../core/errors.ts';
import { defaultCacheDir } from './maven-artifacts.ts';

const run = promisify(execFile);

export interface GoTool {
  /** The module path, as in its go.mod: `github.com/Shopify/toxiproxy/v2`. */
  module: string;
  /** The main package inside the module (`cmd/server`); absent for the module's root. */
  package?: string;
  /** A released version of the module: `v2.5.0`. */
  version: string;
  /** The binary's name in the cache (`go install` names it after the package's folder, often `server`). */
  name: string;
  /** Build tags (`go install -tags`): a module's own switches to leave parts out of the build. */
  tags?: string[];
}

export interface GoToolOptions {
  cacheDir?: string;
  /** The environment Go runs in (its GOPROXY, GOFLAGS, PATH); the process's by default. */
  env?: NodeJS.ProcessEnv;
}

/**
 * The Go tool's path in `<cacheDir>/go/bin/`, whether built yet or not: `<name>@<version>`, with its
 * build tags (`<name>+<tag>…@<version>`), so two builds of one module never share a binary.
 */
export function goToolPath(tool: GoTool, cacheDir = defaultCacheDir): string {
  const tags = (tool.tags ?? []).map((tag) => `+${tag}`).join('');
  return join(cacheDir, 'go', 'bin', `${tool.name}${tags}@${tool.version}`);
}

/** Builds in progress in this process, by path: concurrent callers wait for the one build. */
const building = new Map<string, Promise<string>>();

/** The path of the Go tool `module/package@version`, built once into the cache. */
export function goTool(tool: GoTool, options: GoToolOptions = {}): Promise<string> {
  const cacheDir = options.cacheDir ?? defaultCacheDir;
  const path = goToolPath(tool, cacheDir);
  if (existsSync(path)) return Promise.resolve(path);
  let build = building.get(path);
  if (!build) {
    build = install(tool, cacheDir, path, options.env ?? process.env).finally(() => building.delete(path));
    building.set(path, build);
  }
  return build;
}

/**
 * `go install` into a folder of this process's own, then one rename: an interrupted build never leaves a
 * binary at the path, and two processes building at once each rename a whole one.
 */
async function install(
  tool: GoTool,
  cacheDir: string,
  path: string,
  env: NodeJS.ProcessEnv,
): Promise<string> {
  const goDir = join(cacheDir, 'go');
  const bin = `${path}.tmp-${process.pid}`;
  await rm(bin, { recursive: true, force: true });
  await mkdir(bin, { recursive: true });
  const target = `${tool.package ? `${tool.module}/${tool.package}` : tool.module}@${tool.version}`;
  try {
    try {
      const tags = tool.tags && tool.tags.length > 0 ? ['-tags', tool.tags.join(',')] : [];
      await run('go', ['install', ...tags, target], {
        env: { ...env, GOBIN: bin, GOMODCACHE: join(goDir, 'mod'), GOCACHE: join(goDir, 'build') },
        // Large modules (Prometheus, Helm) take minutes to compile on a small machine.
        timeout: 30 * 60_000,
        maxBuffer: 32 * 1024 * 1024,
      });
    } catch (err) {
      const failure = err as NodeJS.ErrnoException & { stdout?: string; stderr?: string };
      if (failure.code === 'ENOENT') {
        throw new ConnectorError('GO_MISSING', `Go (go) is not on PATH; it builds ${target}.`, {
          cause: err,
        });
      }
      const tail = `${failure.stdout ?? ''}${failure.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n');
      throw new ConnectorError('GO_BUILD_FAILED', `go install ${target} failed:\n${tail}`, { cause: err });
    }
    const [built] = await readdir(bin);
    if (!built) {
      throw new ConnectorError('GO_BUILD_FAILED', `go install ${target} succeeded but installed no binary.`);
    }
    await rename(join(bin, built), path);
    return path;
  } finally {
    await rm(bin, { recursive: true, force: true });
  }
}

/** Helm, which renders and lints the chart in deploy/helm/ in the default tests. */
export const HELM: GoTool = {
  module: 'helm.sh/helm/v4',
  package: 'cmd/helm',
  version: 'v4.3.2',
  name: 'helm',
};

/**
 * Prometheus's promtool, which checks and unit-tests the chart's alert rules in the default tests.
 * Without service discovery (Prometheus's `remove_all_sd` tag: the cloud providers' SDKs), which the
 * rule checks never use and which made most of its build.
 */
export const PROMTOOL: GoTool = {
  module: 'github.com/prometheus/prometheus',
  package: 'cmd/promtool',
  version: 'v0.316.0',
  name: 'promtool',
  tags: ['remove_all_sd'],
};
