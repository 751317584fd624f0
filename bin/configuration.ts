/**
 * Every configuration schema of the project, by the process that reads it. The configuration table of
 * docs/configuration.md and docker-compose.yml are checked against this list by tests, so neither can drift.
 */
import type { TObject } from '@sinclair/typebox';
import { connectorConfigSchema } from '../connector/config.ts';
import { describeConfig } from '../core/config.ts';
import { logConfigSchema } from '../core/logger.ts';
import { topicConfigSchema } from '../core/topics.ts';
import { destinationConfigSchema } from '../destination/config.ts';
import { ingressConfigSchema } from '../ingress/config.ts';
import { stackConfigSchema } from '../stack/local-stack.ts';

export const configSchemas: { scope: string; schema: TObject }[] = [
  { scope: 'all processes', schema: logConfigSchema },
  { scope: 'Kafka and schema registry', schema: stackConfigSchema },
  { scope: 'topics', schema: topicConfigSchema },
  { scope: 'ingress', schema: ingressConfigSchema },
  { scope: 'connector', schema: connectorConfigSchema },
  { scope: 'Mailjet destination', schema: destinationConfigSchema },
];

export function allOptionNames(): Set<string> {
  return new Set(configSchemas.flatMap(({ schema }) => Object.keys(schema.properties)));
}

/** The Markdown configuration table of docs/configuration.md, one section per scope. */
export function configTable(): string {
  return configSchemas
    .map(({ scope, schema }) => {
      const rows = describeConfig(schema).map(
        (o) =>
          `| \`${o.name}\` | ${o.type} | ${o.default === '(none)' ? '' : `\`${o.default}\``} | ${o.description} |`,
      );
      return [
        `## ${scope}`,
        '',
        '| Variable | Type | Default | Meaning |',
        '| --- | --- | --- | --- |',
        ...rows,
      ].join('\n');
    })
    .join('\n\n');
}
