import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type ParsedReplayArguments,
  parseReplayArguments,
  parseTime,
  type ReplayOptions,
  resumeCommand,
} from '../../replay/arguments.ts';
import { replayGroupId } from '../../replay/range.ts';

const now = Date.parse('2025-06-10T12:00:00.000Z');
const hour = 3_600_000;

function options(parsed: ParsedReplayArguments): ReplayOptions {
  assert.ok(parsed.ok && !parsed.help, JSON.stringify(parsed));
  return parsed.options;
}

function message(argv: string[]): string {
  const parsed = parseReplayArguments(argv, now);
  assert.equal(parsed.ok, false, `expected ${argv.join(' ')} to be refused`);
  return parsed.ok ? '' : parsed.message;
}

test('relative times are resolved once against the injected now', () => {
  assert.equal(parseTime('now', now), now);
  assert.equal(parseTime('-2d', now), now - 48 * hour);
  assert.equal(parseTime('-6h', now), now - 6 * hour);
  assert.equal(parseTime('-30m', now), now - 30 * 60_000);
  assert.equal(parseTime('-45s', now), now - 45_000);
  const parsed = options(parseReplayArguments(['--from', '-6h'], now));
  assert.equal(parsed.fromMs, now - 6 * hour);
  assert.equal(parsed.toMs, now, '--to defaults to now');
});

test('ISO 8601 dates and date-times with a zone', () => {
  assert.equal(parseTime('2025-06-01', now), Date.parse('2025-06-01T00:00:00Z'));
  assert.equal(parseTime('2025-06-01T08:00Z', now), Date.parse('2025-06-01T08:00:00Z'));
  assert.equal(parseTime('2025-06-01T10:00:00+02:00', now), Date.parse('2025-06-01T08:00:00Z'));
  assert.equal(parseTime('2025-06-01T08:00:00.250Z', now), Date.parse('2025-06-01T08:00:00.250Z'));
  for (const bad of ['2025-02-30', '2025-13-01', '2025-06-01T08:00:00', 'yesterday', '-2y', '2d', ''])
    assert.equal(parseTime(bad, now), undefined, bad);
});

test('defaults: re-normalize the raw topic, no rate, not a dry run; --redeliver and --dead-letters are the other modes', () => {
  const parsed = options(parseReplayArguments(['--from', '2025-06-01', '--to', '2025-06-02'], now));
  assert.deepEqual(parsed, {
    fromMs: Date.parse('2025-06-01T00:00:00Z'),
    toMs: Date.parse('2025-06-02T00:00:00Z'),
    topic: undefined,
    mode: 'renormalize',
    dryRun: false,
    rate: undefined,
  });
  const all = options(
    parseReplayArguments(
      ['--from=-1d', '--topic', 'my.dlq', '--dry-run', '--rate', '250', '--dead-letters'],
      now,
    ),
  );
  assert.equal(all.topic, 'my.dlq');
  assert.equal(all.mode, 'dead-letters');
  assert.equal(all.dryRun, true);
  assert.equal(all.rate, 250);
  assert.equal(options(parseReplayArguments(['--from', 'now', '--redeliver'], now)).mode, 'redeliver');
  assert.deepEqual(parseReplayArguments(['--help'], now), { ok: true, help: true });
});

test('each rule refuses with one line that names the argument', () => {
  assert.equal(message([]), '--from is required, e.g. --from -2d.');
  assert.match(message(['--from', 'yesterday']), /^--from "yesterday" is not a time: use ISO 8601/);
  assert.match(message(['--from', '-1d', '--to', '2025-02-30']), /^--to "2025-02-30" is not a time/);
  assert.equal(
    message(['--from', '2025-06-02', '--to', '2025-06-01']),
    '--from 2025-06-02T00:00:00.000Z is after --to 2025-06-01T00:00:00.000Z.',
  );
  assert.match(message(['--from', '-1d', '--form', 'x']), /^Unknown option '--form'\. See --help\.$/);
  assert.equal(message(['--from', '-1d', 'extra']), "Unexpected argument 'extra'. See --help.");
  assert.match(message(['--from', '-1d', '--targets', 'segment']), /^--targets is gone: .*--redeliver/);
  assert.equal(
    message(['--from', '-1d', '--redeliver', '--dead-letters']),
    '--redeliver and --dead-letters are two modes: choose one.',
  );
  assert.match(message(['--from', '-1d', '--rate', '0']), /--rate "0" is not a positive number/);
  assert.match(message(['--from', '-1d', '--rate', 'fast']), /--rate "fast"/);
  assert.match(message(['--from', '-1d', '--topic', 'no spaces']), /is not a Kafka topic name/);
  for (const argv of [[], ['--from', 'x'], ['--bogus']]) assert.ok(!message(argv).includes('\n'));
});

test('the printed resume command parses back to the same range and the same group', () => {
  const first = options(
    parseReplayArguments(['--from', '-2d', '--to', '-1h', '--redeliver', '--rate', '50'], now),
  );
  const command = resumeCommand(first, 'mailjet.events.normalized');
  assert.equal(
    command,
    './mailjet-connector replay --from 2025-06-08T12:00:00.000Z --to 2025-06-10T11:00:00.000Z --topic mailjet.events.normalized --redeliver --rate 50',
  );
  // Later, with another clock: the absolute range reads the same.
  const again = options(parseReplayArguments(command.split(' ').slice(2), now + 5 * hour));
  assert.deepEqual({ ...again, topic: undefined }, first);
  assert.equal(
    replayGroupId('mailjet-connector', 'mailjet.events.normalized', again),
    replayGroupId('mailjet-connector', 'mailjet.events.normalized', first),
  );
});

test('the replay group id depends on topic, range, mode and dry run, never on the rate', () => {
  const base = options(parseReplayArguments(['--from', '2025-06-01', '--to', '2025-06-02'], now));
  const id = replayGroupId('mailjet-connector', 'raw', base);
  assert.match(id, /^mailjet-connector-replay-[0-9a-f]{16}$/);
  assert.equal(replayGroupId('mailjet-connector', 'raw', { ...base, rate: 10 }), id);
  for (const other of [
    { ...base, fromMs: base.fromMs + 1 },
    { ...base, toMs: base.toMs + 1 },
    { ...base, mode: 'redeliver' as const },
    { ...base, mode: 'dead-letters' as const },
    { ...base, dryRun: true },
  ])
    assert.notEqual(replayGroupId('mailjet-connector', 'raw', other), id);
  assert.notEqual(replayGroupId('mailjet-connector', 'other', base), id);
  assert.notEqual(replayGroupId('mailjet-connector', 'raw', base).length, 0);
});
