/**
 * The one error catalogue. Every failure the project reports on purpose has a stable code here, a hint
 * that tells the user what to do, and whether retrying can fix it. Consumers decide retry / dead-letter /
 * stop from `retriable` alone, never from message text.
 */
export const errorCatalogue = {
  CONFIG_INVALID: {
    retriable: false,
    hint: 'Fix the variable named above (see the configuration table in README.md) and start again.',
  },
  JAVA_MISSING: {
    retriable: false,
    hint: 'Install a JDK of the version named above (Debian: apt-get install openjdk-17-jre-headless; Apicurio Registry needs 21+), or point JAVA_HOME at one.',
  },
  MAVEN_MISSING: {
    retriable: false,
    hint: 'Install Apache Maven 3.8+ (Debian: apt-get install maven), or set KAFKA_BROKERS and SCHEMA_REGISTRY_URL to use a cluster you already run.',
  },
  MAVEN_FETCH_FAILED: {
    retriable: true,
    hint: 'Maven could not download the local stack and the cache in .cache/ is empty. Check that Maven Central is reachable (proxy settings in ~/.m2/settings.xml), then run again; later runs work offline.',
  },
  PORT_TAKEN: {
    retriable: false,
    hint: 'Stop what listens there, or choose another port (0 picks a free one).',
  },
  BROKER_NOT_READY: {
    retriable: true,
    hint: 'The local Kafka broker did not answer in time; its log tail is above. Free memory or CPU, or raise LOCAL_STACK_TIMEOUT_MS.',
  },
  REGISTRY_NOT_READY: {
    retriable: true,
    hint: 'The local schema registry did not answer in time; its log tail is above. Free memory or CPU, or raise LOCAL_STACK_TIMEOUT_MS.',
  },
  STACK_PROCESS_EXITED: {
    retriable: false,
    hint: 'A process of the local stack stopped by itself; its log tail is above and says why.',
  },
} as const satisfies Record<string, { retriable: boolean; hint: string }>;

export type ErrorCode = keyof typeof errorCatalogue;

export class ConnectorError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;
  readonly hint: string;

  constructor(code: ErrorCode, detail: string, options?: { cause?: unknown }) {
    const { hint, retriable } = errorCatalogue[code];
    super(`${detail}\n  What to do: ${hint}`, options);
    this.name = 'ConnectorError';
    this.code = code;
    this.retriable = retriable;
    this.hint = hint;
  }
}

export function isRetriable(err: unknown): boolean {
  return err instanceof ConnectorError && err.retriable;
}
