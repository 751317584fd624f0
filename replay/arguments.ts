/**
 * The arguments of `mailjet-connector replay`, read once into absolute values. Pure: the clock comes in
 * as `now`, so a relative time (`-2d`) is resolved exactly once per run and the printed range, not the
 * relative text, is what a re-run must repeat to resume.
 */
import { parseArgs } from 'node:util';

/**
 * What a replay does with its range, by the topic it reads:
 * - `renormalize`: the raw topic through the normalizer again, into the normalized and dead-letter topics
 *   (after a mapping change; the running Segment sink delivers what it writes, with the same messageIds);
 * - `redeliver`: the normalized topic to Segment again (after a loss on Segment's side);
 * - `dead-letters`: the dead-letter topic, each letter back to where its stage can take it again.
 */
export const REPLAY_MODES = ['renormalize', 'redeliver', 'dead-letters'] as const;
export type ReplayMode = (typeof REPLAY_MODES)[number];

export interface ReplayOptions {
  /** Milliseconds since the epoch: the range is [fromMs, toMs) of record timestamps. */
  fromMs: number;
  toMs: number;
  /** Undefined: the mode's topic (raw, normalized or dead-letter). */
  topic: string | undefined;
  mode: ReplayMode;
  dryRun: boolean;
  /** Events per second at most; undefined: as fast as the target takes them. */
  rate: number | undefined;
}

export type ParsedReplayArguments =
  | { ok: true; help: true }
  | { ok: true; help: false; options: ReplayOptions }
  | { ok: false; message: string };

export const replayUsage = `Usage: mailjet-connector replay --from <time> [--to <time>] [options]

Re-runs the records of a time range through one of the connector's stages. Running the same command
again resumes where it stopped.

  (default)            Re-normalize: RAW_TOPIC's range through the normalizer into NORMALIZED_TOPIC
                       (after a mapping change); a running Segment sink delivers what it writes, with the
                       same messageIds.
  --redeliver          Re-deliver: NORMALIZED_TOPIC's range to Segment (after a loss on Segment's side).
  --dead-letters       Re-drive DEAD_LETTER_TOPIC's range: raw events through the normalizer again,
                       Segment's refusals to Segment, ingress letters through the webhook reader into
                       the raw topic. With --topic DESTINATION_DEAD_LETTER_TOPIC (segment.identifies.dlq):
                       the Mailjet destination's letters back to its identify topic, for its worker.

  --from <time>        Start of the range (inclusive): ISO 8601 (2025-06-01, 2025-06-01T08:00:00Z,
                       2025-06-01T10:00:00+02:00) or relative to now: -2d, -6h, -30m, -45s, now.
  --to <time>          End of the range (exclusive), same forms. Default: now.
  --topic <name>       Topic to read instead of the mode's own.
  --dry-run            Read, decode and map; count; send and write nothing.
  --rate <n>           At most n events per second.
  -h, --help           This text.
`;

const relativeTime = /^-(\d+)([smhd])$/;
const unitMs: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
// Date-only (UTC midnight), or date and time with a zone: a time without one would silently depend on
// the machine's time zone, and so would the group id that resume relies on.
const isoDate = /^(\d{4})-(\d{2})-(\d{2})$/;
const isoDateTime =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?(Z|[+-]\d{2}:\d{2})$/;

/** An ISO 8601 or relative time as milliseconds since the epoch; undefined when it is neither. */
export function parseTime(text: string, nowMs: number): number | undefined {
  if (text === 'now') return nowMs;
  const relative = relativeTime.exec(text);
  if (relative) return nowMs - Number(relative[1]) * (unitMs[relative[2] as string] as number);
  const date = isoDate.exec(text) ?? isoDateTime.exec(text);
  if (!date) return undefined;
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) return undefined;
  // Date.parse rolls 2025-02-30 over to March 2: a calendar day must exist in its month.
  const [, year, month, day] = date;
  const daysInMonth = new Date(Date.UTC(Number(year), Number(month), 0)).getUTCDate();
  return Number(day) >= 1 && Number(day) <= daysInMonth ? ms : undefined;
}

export function parseReplayArguments(argv: string[], nowMs: number): ParsedReplayArguments {
  // parseArgs takes `--from -2d` for a missing value followed by an option; a relative time is a value.
  const args: string[] = [];
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] as string;
    const next = argv[i + 1];
    if ((arg === '--from' || arg === '--to') && next !== undefined && relativeTime.test(next)) {
      args.push(`${arg}=${next}`);
      i += 1;
    } else args.push(arg);
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        from: { type: 'string' },
        to: { type: 'string' },
        topic: { type: 'string' },
        // Gone with the two stages; kept only to say what replaced it.
        targets: { type: 'string' },
        redeliver: { type: 'boolean' },
        'dry-run': { type: 'boolean' },
        rate: { type: 'string' },
        'dead-letters': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    // parseArgs says e.g. "Unknown option '--form'. To specify a positional argument starting with …".
    const first = ((err as Error).message.split('\n')[0] ?? '').split('. ')[0]?.replace(/\.$/, '');
    return { ok: false, message: `${first}. See --help.` };
  }
  if (values.help) return { ok: true, help: true };

  const fromText = values.from as string | undefined;
  if (fromText === undefined) return { ok: false, message: '--from is required, e.g. --from -2d.' };
  const toText = (values.to as string | undefined) ?? 'now';
  const fromMs = parseTime(fromText, nowMs);
  if (fromMs === undefined) return { ok: false, message: notATime('--from', fromText) };
  const toMs = parseTime(toText, nowMs);
  if (toMs === undefined) return { ok: false, message: notATime('--to', toText) };
  if (fromMs > toMs) {
    return {
      ok: false,
      message: `--from ${new Date(fromMs).toISOString()} is after --to ${new Date(toMs).toISOString()}.`,
    };
  }

  const topic = values.topic as string | undefined;
  if (topic !== undefined && !/^[a-zA-Z0-9._-]{1,249}$/.test(topic)) {
    return { ok: false, message: `--topic "${topic}" is not a Kafka topic name (letters, digits, . _ -).` };
  }

  if (values.targets !== undefined) {
    return {
      ok: false,
      message:
        '--targets is gone: a replay of the raw topic re-normalizes into the normalized topic (a running Segment sink delivers what it writes); --redeliver sends a range of the normalized topic to Segment.',
    };
  }
  if (values.redeliver && values['dead-letters']) {
    return { ok: false, message: '--redeliver and --dead-letters are two modes: choose one.' };
  }

  let rate: number | undefined;
  if (values.rate !== undefined) {
    rate = Number(values.rate);
    if (!/^\d+(\.\d+)?$/.test(values.rate as string) || !(rate > 0)) {
      return { ok: false, message: `--rate "${values.rate}" is not a positive number of events per second.` };
    }
  }

  return {
    ok: true,
    help: false,
    options: {
      fromMs,
      toMs,
      topic,
      mode: values['dead-letters'] ? 'dead-letters' : values.redeliver ? 'redeliver' : 'renormalize',
      dryRun: values['dry-run'] === true,
      rate,
    },
  };
}

function notATime(flag: string, text: string): string {
  return `${flag} "${text}" is not a time: use ISO 8601 with a zone (2025-06-01T08:00:00Z) or a date (2025-06-01), or a relative time (-2d, -6h, -30m, now).`;
}

/** The command that repeats this replay with its resolved, absolute range: the same group, so it resumes. */
export function resumeCommand(options: ReplayOptions, topic: string): string {
  const parts = [
    './mailjet-connector replay',
    `--from ${new Date(options.fromMs).toISOString()}`,
    `--to ${new Date(options.toMs).toISOString()}`,
    `--topic ${topic}`,
  ];
  if (options.mode !== 'renormalize') parts.push(`--${options.mode}`);
  if (options.dryRun) parts.push('--dry-run');
  if (options.rate !== undefined) parts.push(`--rate ${options.rate}`);
  return parts.join(' ');
}
