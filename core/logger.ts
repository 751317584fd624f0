import { Type } from '@sinclair/typebox';
import { type DestinationStream, type Logger, type LoggerOptions, pino } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

export const logConfigSchema = Type.Object(
  {
    LOG_LEVEL: Type.Union(
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((level) => Type.Literal(level)),
      {
        default: 'info',
        examples: ['debug'],
        description:
          'Lowest level written to the log on stdout (JSON lines; human-formatted lines when stdout is a terminal).',
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
 * The one root logger of a process. JSON lines when stdout is not a terminal (what log shippers and the
 * tests read); human-formatted lines on a terminal, through pino-pretty as a synchronous stream in this
 * thread (a transport would start a worker thread per process, and its lines could land after the
 * `start` banner written with process.stdout.write). The same redaction runs before either format.
 * Components take children with bindings: `logger.child({ component: 'ingress' })`.
 */
export function createLogger(
  options: {
    level?: string;
    name?: string;
    /** Human-formatted lines instead of JSON; by default when stdout is a terminal. */
    pretty?: boolean;
    /** Where lines go; stdout by default. */
    destination?: DestinationStream;
  } = {},
): Logger {
  const config: LoggerOptions = {
    level: options.level ?? 'info',
    base: { name: options.name ?? 'mailjet-connector' },
    redact: { paths: redact, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  if (!(options.pretty ?? process.stdout.isTTY === true))
    return options.destination ? pino(config, options.destination) : pino(config);
  return pino(
    config,
    pretty({
      sync: true,
      destination: options.destination ?? 1,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'name',
    }),
  );
}

/** A logger that writes nothing, for tests that do not look at logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
