import type { Static, TObject, TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { ConnectorError } from './errors.ts';

/** One row of a configuration table: what docs/configuration.md documents and what start-up validates. */
export interface ConfigOption {
  name: string;
  type: string;
  default: string;
  description: string;
}

type CrossCheck<T> = (config: T) => string[];

/**
 * Reads the variables a schema names from the environment, applies defaults, coerces strings to the
 * declared types and validates everything once. The result is frozen: nothing reads process.env later.
 * Empty strings count as unset so that `FOO=` in a compose file means "use the default".
 */
export function loadConfig<T extends TObject>(
  schema: T,
  env: NodeJS.ProcessEnv = process.env,
  crossCheck: CrossCheck<Static<T>> = () => [],
): Readonly<Static<T>> {
  const raw: Record<string, unknown> = {};
  for (const name of Object.keys(schema.properties)) {
    const value = env[name];
    if (value !== undefined && value !== '') raw[name] = value;
  }
  const config = Value.Convert(schema, Value.Default(schema, raw)) as Static<T>;
  const problems = [...Value.Errors(schema, config)].map((error) => {
    const name = error.path.replace(/^\//, '') || '(root)';
    return describeProblem(name, schema.properties[name], raw[name], error.message);
  });
  if (problems.length === 0) problems.push(...crossCheck(config));
  if (problems.length > 0) {
    throw new ConnectorError('CONFIG_INVALID', `Invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
  return Object.freeze(config);
}

function describeProblem(name: string, option: TSchema | undefined, given: unknown, rule: string): string {
  if (!option) return `${name}: ${rule}`;
  // A secret (JSON Schema's `writeOnly`) is never quoted: this message goes to stderr, and from there
  // to container logs; a mistyped secret is still mostly the secret.
  let got = given === undefined ? 'it is not set' : `got ${JSON.stringify(given)}`;
  if (given !== undefined && option.writeOnly === true) got = `got ${String(given).length} characters`;
  const example = option.examples?.[0] ?? option.default;
  const exampleText = example === undefined ? '' : `, for example ${name}=${String(example)}`;
  return `${name}: ${rule} (${got}${exampleText}). ${option.description ?? ''}`.trim();
}

/** The rows of the configuration table for a schema, in declaration order. */
export function describeConfig(schema: TObject): ConfigOption[] {
  return Object.entries(schema.properties).map(([name, option]) => ({
    name,
    type: typeName(option),
    default: option.default === undefined ? '(none)' : String(option.default),
    description: option.description ?? '',
  }));
}

function typeName(option: TSchema): string {
  if (Array.isArray(option.anyOf)) {
    return `one of ${option.anyOf.map((o: TSchema) => String(o.const)).join(', ')}`;
  }
  if (option.type === 'integer' || option.type === 'number') {
    const min = option.minimum ?? option.exclusiveMinimum;
    return min === undefined ? option.type : `${option.type} ≥ ${min}`;
  }
  return String(option.type ?? 'string');
}
