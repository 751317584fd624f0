/**
 * Rewrites the generated parts of README.md (the configuration table and the error catalogue) from the
 * code, so that they never drift: `npm run docs`. test/readme.test.ts fails when they are stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { errorCatalogue } from '../core/errors.ts';
import { configTable } from './configuration.ts';

export function errorTable(): string {
  const rows = Object.entries(errorCatalogue).map(
    ([code, { retriable, hint }]) => `| \`${code}\` | ${retriable ? 'yes' : 'no'} | ${hint} |`,
  );
  return ['| Code | Retriable | What to do |', '| --- | --- | --- |', ...rows].join('\n');
}

export function generatedSections(): Record<string, string> {
  return { 'config-table': configTable(), 'error-table': errorTable() };
}

export function replaceSection(readme: string, name: string, content: string): string {
  const pattern = new RegExp(`(<!-- ${name}:start -->)[\\s\\S]*?(<!-- ${name}:end -->)`);
  if (!pattern.test(readme)) throw new Error(`README.md has no <!-- ${name}:start/end --> markers`);
  return readme.replace(pattern, (_m, start: string, end: string) => `${start}\n${content}\n${end}`);
}

if (import.meta.main) {
  const file = new URL('../README.md', import.meta.url);
  let readme = readFileSync(file, 'utf8');
  for (const [name, content] of Object.entries(generatedSections()))
    readme = replaceSection(readme, name, content);
  writeFileSync(file, readme);
}
