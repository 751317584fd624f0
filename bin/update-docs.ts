/**
 * Rewrites the generated parts of docs/ from the code and the benchmarks' results files, so that they
 * never drift: `npm run docs`. The configuration table (docs/configuration.md) comes from the config
 * schemas, the error catalogue (docs/errors.md) from core/errors.ts, the mapping's field table
 * (docs/segment-connector.md) from connector/segment-mapping.ts, and every benchmark figure
 * (docs/benchmarks.md) from bench/results/<name>.json, which each `npm run bench:<name>` writes, and the
 * integrity lane's last run (docs/reliability.md) from bench/results/integrity.json.
 * test/docs.test.ts fails when a generated part is stale.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { BenchResults } from '../bench/harness.ts';
import { carriedFields } from '../connector/segment-mapping.ts';
import { errorCatalogue } from '../core/errors.ts';
import { configTable } from './configuration.ts';

/** The benchmarks, in the order docs/benchmarks.md shows them; each writes bench/results/<name>.json. */
export const benchNames = ['ingress', 'connector', 'replay', 'destination', 'producer'] as const;
export type BenchName = (typeof benchNames)[number];

export function errorTable(): string {
  const rows = Object.entries(errorCatalogue).map(
    ([code, { retriable, hint }]) => `| \`${code}\` | ${retriable ? 'yes' : 'no'} | ${hint} |`,
  );
  return ['| Code | Retriable | What to do |', '| --- | --- | --- |', ...rows].join('\n');
}

/** Where each Mailjet field ends up: the fields the mapping works with, then the carried ones (its table). */
export function mappingTable(): string {
  const code = (name: string) => `\`${name}\``;
  const segmentPlace = (place: string) => code(place.startsWith('context.') ? place : `properties.${place}`);
  return markdownTable(
    ['Mailjet field', 'Kind', 'Normalized field', 'Segment track call'],
    [
      [
        `${code('MessageID')} (else ${code('mj_message_id')})`,
        'id',
        code('mailjet_message_id'),
        `${code('properties.email_id')} (else ${code('Message_GUID')}), ${code('properties.message_id')}`,
      ],
      ['`email`', 'text', code('email'), `${code('context.traits.email')}; the anonymousId without a userId`],
      ...carriedFields.map((field) => [
        code(field.mailjet),
        field.kind,
        code(field.normalized),
        segmentPlace(field.segment),
      ]),
      ['any other', 'as sent', `${code('extra_json')} (JSON text)`, code('properties.mailjet_extra')],
    ],
  ).join('\n');
}

/** A table cell: a pipe would end the cell, a line break the row. */
const cell = (text: string) => text.replaceAll('|', '\\|').replaceAll('\n', ' ');

function markdownTable(header: string[], rows: string[][]): string[] {
  return [
    `| ${header.map(cell).join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((row) => `| ${row.map(cell).join(' | ')} |`),
  ];
}

const verdict = { true: 'met', false: '**missed**', info: 'info' } as const;

/**
 * A results file as Markdown: when and where it ran, its targets met or missed, and its tables; when
 * there is none yet, which command writes it.
 */
function renderResults(command: string, file: string, results: BenchResults | undefined): string[] {
  if (!results) {
    return [
      `No results recorded yet: \`${command}\` writes \`bench/results/${file}\`, then` +
        ' `npm run docs` renders them here.',
    ];
  }
  const { machine } = results;
  const lines = [
    `Last run ${results.date.slice(0, 16).replace('T', ' ')} UTC, commit \`${results.commit.slice(0, 12)}\`` +
      `${results.dirty ? ' with uncommitted changes' : ''}, on ${machine.cpus} cpus (${machine.model}),` +
      ` ${machine.memoryGb} GB, Node ${machine.node}. Settings: ${results.run || 'defaults'}.`,
  ];
  if (results.targets.length > 0) {
    lines.push(
      '',
      ...markdownTable(
        ['Target', 'Measured', ''],
        results.targets.map((t) => [t.what, t.value, verdict[String(t.met) as keyof typeof verdict]]),
      ),
    );
  }
  for (const figure of results.figures) lines.push('', ...markdownTable(figure.header, figure.rows));
  return lines;
}

/** One bench's part of docs/benchmarks.md: its last recorded run, or how to record one. */
export function renderBench(name: BenchName, results: BenchResults | undefined): string {
  return [`### bench:${name}`, '', ...renderResults(`npm run bench:${name}`, `${name}.json`, results)].join(
    '\n',
  );
}

/** The integrity lane's part of docs/reliability.md: its last recorded run, or how to record one. */
export function renderIntegrity(results: BenchResults | undefined): string {
  return renderResults('npm run integrity', 'integrity.json', results).join('\n');
}

/** The generated part of docs/benchmarks.md, from the results of each bench (undefined: none yet). */
export function renderBenchmarks(results: Partial<Record<BenchName, BenchResults>>): string {
  return benchNames.map((name) => renderBench(name, results[name])).join('\n\n');
}

export const resultsDir = new URL('../bench/results/', import.meta.url);

/** The results files in bench/results/, by bench. */
export function readResults(dir: URL = resultsDir): Partial<Record<BenchName, BenchResults>> {
  const results: Partial<Record<BenchName, BenchResults>> = {};
  for (const name of benchNames) {
    const file = new URL(`${name}.json`, dir);
    if (existsSync(file)) results[name] = JSON.parse(readFileSync(file, 'utf8')) as BenchResults;
  }
  return results;
}

/** bench/results/integrity.json, which `npm run integrity` writes; undefined before its first run. */
export function readIntegrityResults(dir: URL = resultsDir): BenchResults | undefined {
  const file = new URL('integrity.json', dir);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as BenchResults) : undefined;
}

/** Every generated part: file (from the repository root) → section name → content. */
export function generatedSections(): Record<string, Record<string, string>> {
  return {
    'docs/configuration.md': { 'config-table': configTable() },
    'docs/errors.md': { 'error-table': errorTable() },
    'docs/segment-connector.md': { 'mapping-table': mappingTable() },
    'docs/benchmarks.md': { 'bench-results': renderBenchmarks(readResults()) },
    'docs/reliability.md': { 'integrity-results': renderIntegrity(readIntegrityResults()) },
  };
}

export function replaceSection(text: string, name: string, content: string): string {
  const pattern = new RegExp(`(<!-- ${name}:start -->)[\\s\\S]*?(<!-- ${name}:end -->)`);
  if (!pattern.test(text)) throw new Error(`no <!-- ${name}:start/end --> markers`);
  return text.replace(pattern, (_m, start: string, end: string) => `${start}\n${content}\n${end}`);
}

export const repoRoot = new URL('../', import.meta.url);

if (import.meta.main) {
  for (const [path, sections] of Object.entries(generatedSections())) {
    const file = new URL(path, repoRoot);
    let text = readFileSync(file, 'utf8');
    for (const [name, content] of Object.entries(sections)) text = replaceSection(text, name, content);
    writeFileSync(file, text);
  }
}
