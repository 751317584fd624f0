import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { crc32 } from 'node:zlib';
import { type GoTool, goTool, goToolPath } from '../../stack/go-tools.ts';
import { defaultCacheDir } from '../../stack/maven-artifacts.ts';

const run = promisify(execFile);

const HELLO: GoTool = { module: 'example.com/go-tools-hello', version: 'v1.0.0', name: 'hello' };
const GREETING = 'hello from a Go tool';

/** A zip archive of `files` (path → text), stored without compression: what a Go module proxy serves. */
function storedZip(files: Record<string, string>): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [path, text] of Object.entries(files)) {
    const name = Buffer.from(path);
    const data = Buffer.from(text);
    const header = (signature: number, size: number) => {
      const b = Buffer.alloc(size);
      b.writeUInt32LE(signature, 0);
      return b;
    };
    const local = header(0x04034b50, 30);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt32LE(crc32(data), 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(name.length, 26);
    const central = header(0x02014b50, 46);
    central.writeUInt16LE(20, 4); // version made by
    central.writeUInt16LE(20, 6);
    central.writeUInt32LE(crc32(data), 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, data);
    centrals.push(central, name);
    offset += local.length + name.length + data.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(centrals.length / 2, 8);
  end.writeUInt16LE(centrals.length / 2, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

/**
 * A Go module proxy in a folder (GOPROXY=file://…) serving HELLO at its version, and a cache folder whose
 * Go build cache is the project's (content-addressed, so sharing it is safe): the runtime compiled once
 * for the project's own tools is not compiled again for each run of this test.
 */
async function offlineGo(t: import('node:test').TestContext) {
  const root = await mkdtemp(join(tmpdir(), 'go-tools-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const versions = join(root, 'proxy', HELLO.module, '@v');
  await mkdir(versions, { recursive: true });
  const goMod = `module ${HELLO.module}\n\ngo 1.22\n`;
  const prefix = `${HELLO.module}@${HELLO.version}`;
  await writeFile(join(versions, 'list'), `${HELLO.version}\n`);
  await writeFile(join(versions, `${HELLO.version}.info`), JSON.stringify({ Version: HELLO.version }));
  await writeFile(join(versions, `${HELLO.version}.mod`), goMod);
  await writeFile(
    join(versions, `${HELLO.version}.zip`),
    storedZip({
      [`${prefix}/go.mod`]: goMod,
      [`${prefix}/main.go`]: `package main\n\nfunc main() { println(${JSON.stringify(GREETING)} + suffix) }\n`,
      // A part a build tag switches, as Prometheus's remove_all_sd leaves out service discovery.
      [`${prefix}/plain.go`]: '//go:build !loud\n\npackage main\n\nconst suffix = ""\n',
      [`${prefix}/loud.go`]: '//go:build loud\n\npackage main\n\nconst suffix = "!"\n',
    }),
  );
  const cacheDir = join(root, 'cache');
  await mkdir(join(cacheDir, 'go'), { recursive: true });
  await mkdir(join(defaultCacheDir, 'go', 'build'), { recursive: true });
  await symlink(join(defaultCacheDir, 'go', 'build'), join(cacheDir, 'go', 'build'));
  const env = {
    ...process.env,
    GOPROXY: pathToFileURL(join(root, 'proxy')).href,
    GOSUMDB: 'off',
    // The module cache's files are read-only unless asked; the test deletes its cache folder.
    GOFLAGS: '-modcacherw',
  };
  return { cacheDir, env };
}

test('a Go tool is built once, at its version, into the cache folder and found there afterwards', async (t) => {
  const { cacheDir, env } = await offlineGo(t);
  const expected = goToolPath(HELLO, cacheDir);
  assert.equal(expected, join(cacheDir, 'go', 'bin', 'hello@v1.0.0'));
  // Two callers at once share one build.
  const paths = await Promise.all([goTool(HELLO, { cacheDir, env }), goTool(HELLO, { cacheDir, env })]);
  assert.deepEqual(paths, [expected, expected]);
  const { stderr } = await run(expected, []);
  assert.equal(stderr.trim(), GREETING);
  assert.deepEqual(await readdir(join(cacheDir, 'go', 'bin')), ['hello@v1.0.0'], 'no build folder left');
  // Built: Go is not asked again (here it could not even be found).
  assert.equal(await goTool(HELLO, { cacheDir, env: { PATH: '/nonexistent' } }), expected);
});

test('build tags reach go install, and a tool built with tags has a path of its own in the cache', async (t) => {
  const { cacheDir, env } = await offlineGo(t);
  const loud: GoTool = { ...HELLO, tags: ['loud'] };
  const path = await goTool(loud, { cacheDir, env });
  assert.equal(path, join(cacheDir, 'go', 'bin', 'hello+loud@v1.0.0'));
  assert.equal((await run(path, [])).stderr.trim(), `${GREETING}!`);
});

test('a version the module proxy does not serve fails with GO_BUILD_FAILED and Go’s reason, leaving nothing', async (t) => {
  const { cacheDir, env } = await offlineGo(t);
  const missing = { ...HELLO, version: 'v9.9.9' };
  await assert.rejects(goTool(missing, { cacheDir, env }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'GO_BUILD_FAILED');
    assert.match(err.message, /go install example\.com\/go-tools-hello@v9\.9\.9 failed:\n.*v9\.9\.9/s);
    assert.match(err.message, /What to do: Go could not fetch or build/);
    return true;
  });
  assert.equal(existsSync(goToolPath(missing, cacheDir)), false);
  assert.deepEqual(await readdir(join(cacheDir, 'go', 'bin')), []);
});

test('no Go on PATH fails with GO_MISSING naming the tool', async (t) => {
  const { cacheDir } = await offlineGo(t);
  await assert.rejects(
    goTool(HELLO, { cacheDir, env: { PATH: '/nonexistent' } }),
    (err: Error & { code?: string }) => {
      assert.equal(err.code, 'GO_MISSING');
      assert.match(err.message, /Go \(go\) is not on PATH; it builds example\.com\/go-tools-hello@v1\.0\.0/);
      return true;
    },
  );
});
