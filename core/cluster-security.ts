/**
 * How the processes authenticate to an existing cluster: TLS and SASL for Kafka (Kafka's own names, so
 * the values of the cluster's client.properties carry over), Basic credentials for the schema registry
 * (Confluent Cloud's API key and secret). Read and checked once at start-up; certificate files are read
 * then, so a wrong path stops the process with the variable's name instead of a TLS error later.
 */
import { readFileSync } from 'node:fs';
import { type Static, Type } from '@sinclair/typebox';
import type { KafkaSecurity } from './kafka.ts';
import type { RegistryCredentials } from './schema-registry.ts';

export const securityProtocols = ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'] as const;
export const saslMechanisms = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'] as const;

const pemFile = (description: string) =>
  Type.Optional(Type.String({ minLength: 1, examples: ['/etc/kafka/ca.pem'], description }));

/** The variables, in the order of the configuration table (part of the stack's section). */
export const clusterSecurityProperties = {
  KAFKA_SECURITY_PROTOCOL: Type.Union(
    securityProtocols.map((p) => Type.Literal(p)),
    {
      default: 'PLAINTEXT',
      description:
        "How to reach KAFKA_BROKERS, as Kafka's security.protocol: SSL is TLS, SASL_SSL is TLS with a user (Confluent Cloud, MSK with SCRAM).",
    },
  ),
  KAFKA_SASL_MECHANISM: Type.Union(
    saslMechanisms.map((m) => Type.Literal(m)),
    { default: 'PLAIN', description: 'SASL mechanism of the SASL_* protocols.' },
  ),
  KAFKA_SASL_USERNAME: Type.Optional(
    Type.String({ minLength: 1, description: 'SASL user (Confluent Cloud: the API key). Needed by SASL_*.' }),
  ),
  KAFKA_SASL_PASSWORD: Type.Optional(
    Type.String({
      writeOnly: true,
      minLength: 1,
      description: 'SASL password (Confluent Cloud: the API secret). Needed by SASL_*. Never logged.',
    }),
  ),
  KAFKA_SSL_CA_FILE: pemFile(
    "PEM file of the CA(s) that signed the brokers' certificates; unset: the system's CAs.",
  ),
  KAFKA_SSL_CERT_FILE: pemFile(
    'PEM client certificate, for brokers that require mutual TLS (with KAFKA_SSL_KEY_FILE).',
  ),
  KAFKA_SSL_KEY_FILE: pemFile('PEM private key of KAFKA_SSL_CERT_FILE (unencrypted).'),
  SCHEMA_REGISTRY_USERNAME: Type.Optional(
    Type.String({
      minLength: 1,
      description: 'Basic auth user of the schema registry (Confluent Cloud: the registry API key).',
    }),
  ),
  SCHEMA_REGISTRY_PASSWORD: Type.Optional(
    Type.String({
      writeOnly: true,
      minLength: 1,
      description:
        'Basic auth password of the schema registry (with SCHEMA_REGISTRY_USERNAME). Never logged.',
    }),
  ),
};

const securitySchema = Type.Object(clusterSecurityProperties);
type SecurityConfig = Static<typeof securitySchema> & { KAFKA_BROKERS?: string | undefined };

/** What the clients need; undefined parts mean plaintext Kafka and an open registry. */
export interface ClusterSecurity {
  kafka?: KafkaSecurity;
  registryAuth?: RegistryCredentials;
}

/** The rules between the variables, as CONFIG_INVALID problems (the config loader's cross-check). */
export function securityProblems(config: SecurityConfig): string[] {
  const problems: string[] = [];
  const protocol = config.KAFKA_SECURITY_PROTOCOL;
  const sasl = protocol.startsWith('SASL_');
  const tls = protocol.endsWith('SSL');
  const set = (names: (keyof SecurityConfig)[]) => names.filter((name) => config[name] !== undefined);
  const kafkaSettings = set([
    'KAFKA_SASL_USERNAME',
    'KAFKA_SASL_PASSWORD',
    'KAFKA_SSL_CA_FILE',
    'KAFKA_SSL_CERT_FILE',
    'KAFKA_SSL_KEY_FILE',
  ]);
  if (config.KAFKA_BROKERS === undefined && (protocol !== 'PLAINTEXT' || kafkaSettings.length > 0)) {
    problems.push(
      `${protocol === 'PLAINTEXT' ? kafkaSettings.join(', ') : 'KAFKA_SECURITY_PROTOCOL'}: applies to the cluster of KAFKA_BROKERS; the local stack is plaintext on loopback. Set KAFKA_BROKERS and SCHEMA_REGISTRY_URL, or unset it.`,
    );
    return problems;
  }
  if (sasl && (config.KAFKA_SASL_USERNAME === undefined || config.KAFKA_SASL_PASSWORD === undefined)) {
    problems.push(
      `KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD: both are needed with KAFKA_SECURITY_PROTOCOL=${protocol}.`,
    );
  }
  if (!sasl && set(['KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD']).length > 0) {
    problems.push(
      `KAFKA_SASL_USERNAME/KAFKA_SASL_PASSWORD: set, but KAFKA_SECURITY_PROTOCOL=${protocol} sends no user; use SASL_SSL (or SASL_PLAINTEXT).`,
    );
  }
  if (!tls && set(['KAFKA_SSL_CA_FILE', 'KAFKA_SSL_CERT_FILE', 'KAFKA_SSL_KEY_FILE']).length > 0) {
    problems.push(
      `KAFKA_SSL_*_FILE: set, but KAFKA_SECURITY_PROTOCOL=${protocol} does not use TLS; use SSL or SASL_SSL.`,
    );
  }
  if ((config.KAFKA_SSL_CERT_FILE === undefined) !== (config.KAFKA_SSL_KEY_FILE === undefined)) {
    problems.push('KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE: set both for mutual TLS, or neither.');
  }
  if ((config.SCHEMA_REGISTRY_USERNAME === undefined) !== (config.SCHEMA_REGISTRY_PASSWORD === undefined)) {
    problems.push('SCHEMA_REGISTRY_USERNAME and SCHEMA_REGISTRY_PASSWORD: set both, or neither.');
  }
  for (const name of set(['KAFKA_SSL_CA_FILE', 'KAFKA_SSL_CERT_FILE', 'KAFKA_SSL_KEY_FILE'])) {
    const problem = pemProblem(String(config[name]));
    if (problem) problems.push(`${name}: ${problem}`);
  }
  return problems;
}

/** The clients' settings from a configuration that passed `securityProblems`; reads the PEM files. */
export function clusterSecurityOf(config: SecurityConfig): ClusterSecurity {
  const protocol = config.KAFKA_SECURITY_PROTOCOL;
  const security: ClusterSecurity = {};
  const kafka: KafkaSecurity = {};
  if (protocol.endsWith('SSL')) {
    const read = (file: string | undefined) => (file === undefined ? undefined : readFileSync(file, 'utf8'));
    kafka.tls = {
      ...(config.KAFKA_SSL_CA_FILE ? { ca: read(config.KAFKA_SSL_CA_FILE) as string } : {}),
      ...(config.KAFKA_SSL_CERT_FILE ? { cert: read(config.KAFKA_SSL_CERT_FILE) as string } : {}),
      ...(config.KAFKA_SSL_KEY_FILE ? { key: read(config.KAFKA_SSL_KEY_FILE) as string } : {}),
    };
  }
  if (protocol.startsWith('SASL_') && config.KAFKA_SASL_USERNAME && config.KAFKA_SASL_PASSWORD) {
    kafka.sasl = {
      mechanism: config.KAFKA_SASL_MECHANISM,
      username: config.KAFKA_SASL_USERNAME,
      password: config.KAFKA_SASL_PASSWORD,
    };
  }
  if (kafka.tls || kafka.sasl) security.kafka = kafka;
  if (config.SCHEMA_REGISTRY_USERNAME && config.SCHEMA_REGISTRY_PASSWORD) {
    security.registryAuth = {
      username: config.SCHEMA_REGISTRY_USERNAME,
      password: config.SCHEMA_REGISTRY_PASSWORD,
    };
  }
  return security;
}

function pemProblem(file: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}).`;
  }
  return text.includes('-----BEGIN ') ? undefined : `${file} is not PEM (no "-----BEGIN" line).`;
}
