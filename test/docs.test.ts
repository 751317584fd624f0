import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { type BenchResults, writeResults } from '../bench/harness.ts';
import {
  benchNames,
  generatedSections,
  readIntegrityResults,
  readResults,
  renderBench,
  renderBenchmarks,
  renderIntegrity,
  replaceSection,
  repoRoot,
} from '../bin/update-docs.ts';

const read = (path: string) => readFileSync(new URL(path, repoRoot), 'utf8');
const readme = read('README.md');
const docPages = readdirSync(new URL('docs/', repoRoot))
  .filter((name) => name.endsWith('.md'))
  .map((name) => `docs/${name}`);
const markdownFiles = ['README.md', ...docPages];

/** Markdown without its fenced code blocks, whose lines are no headings and no links. */
const withoutFences = (markdown: string) => markdown.replace(/^```[\s\S]*?^```$/gm, '');

/** The text a reader sees as prose: fenced code blocks and inline code removed. */
const prose = (markdown: string) => withoutFences(markdown).replace(/`[^`\n]*`/g, '');

/** GitHub's anchor of each heading: lower case, punctuation dropped, spaces as hyphens, repeats numbered. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const [, heading] of withoutFences(markdown).matchAll(/^#{1,6} (.+)$/gm)) {
    const slug = (heading as string)
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

/** The relative links of the Markdown file at `from` that lead to no file, or to no heading there. */
function brokenLinks(from: URL): string[] {
  const broken: string[] = [];
  for (const [, target] of prose(readFileSync(from, 'utf8')).matchAll(/\]\(([^)\s]+)\)/g)) {
    if (/^[a-z]+:/i.test(target as string)) continue; // https:, mailto:: not ours to check offline
    const [path, anchor] = (target as string).split('#') as [string, string | undefined];
    let text: string;
    try {
      text = readFileSync(new URL(path, from), 'utf8');
    } catch {
      broken.push(`${target} (no such file)`);
      continue;
    }
    if (anchor !== undefined && !anchorsOf(text).has(anchor)) broken.push(`${target} (no such heading)`);
  }
  return broken;
}

test('every generated part of docs/ is the one the code and bench/results/ produce', () => {
  for (const [path, sections] of Object.entries(generatedSections())) {
    const text = read(path);
    for (const [name, content] of Object.entries(sections))
      assert.equal(replaceSection(text, name, content), text, `${path}: ${name} is stale: run npm run docs`);
  }
});

test('every relative link in README.md and docs/ leads to a file, and its #anchor to a heading there', () => {
  const broken = markdownFiles.flatMap((file) =>
    brokenLinks(new URL(file, repoRoot)).map((link) => `${file}: ${link}`),
  );
  assert.deepEqual(broken, []);
});

test('the link check sees a missing file and a missing anchor, and knows the anchors GitHub makes', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'docs-links-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    join(dir, 'a.md'),
    '# Title\n\n## What `start` runs\n\n### bench:producer\n\n## Title\n\n```\n# no heading [x](gone.md)\n```\n',
  );
  writeFileSync(
    join(dir, 'b.md'),
    '[ok](a.md#what-start-runs) [ok](a.md#benchproducer) [ok](a.md#title-1) [ok](#here) `[code](gone.md)`\n' +
      '[gone](gone.md) [no anchor](a.md#nowhere) [web](https://example.com/x.md)\n\n## Here\n',
  );
  assert.deepEqual(brokenLinks(pathToFileURL(join(dir, 'b.md'))), [
    'gone.md (no such file)',
    'a.md#nowhere (no such heading)',
  ]);
  assert.deepEqual(brokenLinks(pathToFileURL(join(dir, 'a.md'))), []);
});

test('README: at most 200 lines, the two commands of the quick start on its first screen, CI runs the second', () => {
  const lines = readme.split('\n');
  assert.ok(lines.length <= 200, `README.md has ${lines.length} lines`);
  const match = /## Quick start\n\n```\n([^`]*)```/.exec(readme);
  assert.ok(match?.[1]);
  const commands = match[1].trim().split('\n');
  assert.deepEqual(commands, ['./mailjet-connector start', './mailjet-connector test']);
  const firstScreen = lines.slice(0, 24).join('\n');
  for (const command of commands) assert.ok(firstScreen.includes(command), `${command} on the first screen`);
  const ci = read('.ci/run');
  assert.ok(ci.trimEnd().endsWith(commands[1] ?? '(missing)'), '.ci/run ends with the test command');
});

test('every page of docs/ starts with its title, then a line saying who it is for, and README links to it', () => {
  for (const page of docPages) {
    const [title, blank, forWhom] = read(page).split('\n');
    assert.match(title ?? '', /^# \S/, page);
    assert.equal(blank, '', page);
    assert.match(forWhom ?? '', /^For /, page);
    assert.ok(readme.includes(`(${page})`), `README.md links to ${page}`);
  }
});

test('every topic the project writes is documented', () => {
  const topics = read('docs/topics-and-schemas.md');
  for (const topic of [
    'mailjet.events.raw',
    'mailjet.events.dlq',
    'mailjet.events.normalized',
    'mailjet.identities',
    'segment.identifies',
    'segment.identifies.dlq',
  ])
    assert.ok(topics.includes(`\`${topic}\``), topic);
});

test('no measured rate or CPU cost is written by hand in README.md or docs/: figures come from bench/results/', () => {
  const generated = /<!-- ([a-z-]+):start -->[\s\S]*?<!-- \1:end -->/g;
  const figure = /\d[\d,.]*\s*(?:events|records|calls)\/s\b|\d[\d,.]*\s*µs\b/g;
  const found: string[] = [];
  for (const file of markdownFiles) {
    for (const [hit] of prose(read(file).replace(generated, '')).matchAll(figure))
      found.push(`${file}: ${hit}`);
  }
  assert.deepEqual(found, []);
});

const fixture: BenchResults = {
  name: 'ingress',
  command: 'npm run bench:ingress',
  date: '2026-12-03T16:30:00.000Z',
  commit: '0123456789abcdef0123456789abcdef01234567',
  dirty: false,
  machine: { cpus: 2, model: 'Test CPU', memoryGb: 23.5, node: 'v26.10.0' },
  run: '30 s per phase, C=32',
  figures: [
    {
      header: ['phase', 'events/s', 'loop stall max ms: ingress/bench'],
      rows: [['ingress, A: 1 event/body', '7100', '12/3']],
    },
  ],
  targets: [
    { what: 'ingress / raw client ≥ 0.8', value: '1.91', met: true },
    { what: 'p99 ≤ 25 ms | half load', value: '31.9 ms', met: false },
    { what: 'bench process peak RSS', value: '90 MB', met: 'info' },
  ],
};

test('a results file renders as its run, its targets met or missed, and its tables, cells escaped', () => {
  const page = renderBench('ingress', fixture);
  assert.match(page, /^### bench:ingress\n/);
  assert.match(
    page,
    /Last run 2026-12-03 16:30 UTC, commit `0123456789ab`, on 2 cpus \(Test CPU\), 23\.5 GB/,
  );
  assert.match(page, /Settings: 30 s per phase, C=32\./);
  assert.ok(page.includes('| ingress / raw client ≥ 0.8 | 1.91 | met |'));
  assert.ok(page.includes('| p99 ≤ 25 ms \\| half load | 31.9 ms | **missed** |'));
  assert.ok(page.includes('| bench process peak RSS | 90 MB | info |'));
  assert.ok(page.includes('| phase | events/s | loop stall max ms: ingress/bench |'));
  assert.ok(page.includes('| ingress, A: 1 event/body | 7100 | 12/3 |'));
  assert.match(
    renderBench('ingress', { ...fixture, dirty: true }),
    /commit `0123456789ab` with uncommitted changes/,
  );
});

test('a bench without a results file says so and which command writes one', () => {
  const page = renderBenchmarks({ ingress: fixture });
  for (const name of benchNames) assert.ok(page.includes(`### bench:${name}\n`), name);
  assert.ok(page.includes('| ingress, A: 1 event/body | 7100 | 12/3 |'));
  assert.ok(
    page.includes(
      'No results recorded yet: `npm run bench:producer` writes `bench/results/producer.json`, then `npm run docs` renders them here.',
    ),
  );
});

test('what a bench writes with writeResults is what the generator reads back', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-results-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const url = pathToFileURL(`${dir}/`);
  writeResults('connector', { figures: fixture.figures, targets: fixture.targets }, url);
  const results = readResults(url);
  assert.deepEqual(Object.keys(results), ['connector']);
  const written = results.connector as BenchResults;
  assert.equal(written.command, 'npm run bench:connector');
  assert.match(written.commit, /^[0-9a-f]{40}$/);
  assert.equal(typeof written.dirty, 'boolean');
  assert.ok(written.machine.cpus >= 1 && written.machine.node === process.version);
  assert.ok(!Number.isNaN(Date.parse(written.date)));
  assert.deepEqual(written.figures, fixture.figures);
  assert.deepEqual(written.targets, fixture.targets);
});

test('the integrity lane writes its results with its own command, and docs/reliability.md renders them', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-results-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const url = pathToFileURL(`${dir}/`);
  assert.equal(readIntegrityResults(url), undefined);
  assert.match(renderIntegrity(undefined), /^No results recorded yet: `npm run integrity` writes/);
  writeResults('integrity', { figures: fixture.figures, targets: fixture.targets }, url, 'npm run integrity');
  const written = readIntegrityResults(url) as BenchResults;
  assert.equal(written.command, 'npm run integrity');
  assert.deepEqual(Object.keys(readResults(url)), [], "no bench reads the lane's file as its own");
  const page = renderIntegrity(written);
  assert.match(page, /^Last run .* UTC, commit `[0-9a-f]{12}`/);
  assert.ok(page.includes('| ingress / raw client ≥ 0.8 | 1.91 | met |'));
});
