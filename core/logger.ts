import { Type } from '@sinclair/typebox';
import { type Logger, type LoggerOptions, pino } from 'pino';

export type { Logger };

export const logConfigSchema = Type.Object(
  {
    LOG_LEVEL: Type.Union(
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((level) => Type.Literal(level)),
      {
        default: 'info',
        examples: ['debug'],
        description: 'Lowest level written to the JSON log on stdout.',
      },
    ),
  },
  { additionalProperties: false },
);

/** Paths whose values never reach a log line: webhook credentials, Segment write keys, Mailjet secrets. */
const redact = [
  'req.headers.authorization',
  'headers.authorization',
  '*.password',
  '*.token',
  '*.writeKey',
  '*.apiSecret',
];

/**
 * The one root logger of a process. JSON lines by default (what log shippers read); a person at a
 * terminal gets the same lines, since pino's JSON stays greppable and we ship no pretty-printer.
 * Components take children with bindings: `logger.child({ component: 'ingress' })`.
 */
export function createLogger(options: { level?: string; name?: string } = {}): Logger {
  const config: LoggerOptions = {
    level: options.level ?? 'info',
    base: { name: options.name ?? 'mailjet-connector' },
    redact: { paths: redact, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  return pino(config);
}

/** A logger that writes nothing, for tests that do not look at logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
