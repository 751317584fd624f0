import assert from 'node:assert/strict';
import { test } from 'node:test';
import { stripVTControlCharacters } from 'node:util';
import {
  createProgressReporter,
  formatEta,
  type ReplayPlan,
  type ReplaySummary,
} from '../../replay/progress.ts';

const plan: ReplayPlan = {
  groupId: 'connector-replay-0123456789abcdef',
  topic: 'mailjet.events.raw',
  mode: 'renormalize',
  from: '2025-06-01T00:00:00.000Z',
  to: '2025-06-02T00:00:00.000Z',
  dryRun: false,
  rate: null,
  total: 1000,
  alreadyDone: 0,
  resumeCommand: './mailjet-connector replay --from 2025-06-01T00:00:00.000Z --to 2025-06-02T00:00:00.000Z',
};

const summaryOf = (records: number): ReplaySummary => ({
  ...plan,
  complete: true,
  records,
  eventsByType: { open: records - 2, click: 2 },
  deadLettered: 0,
  expired: 0,
  toRawTopic: 0,
  toIdentifyTopic: 0,
  stillRejected: 0,
  skipped: 0,
  durationMs: 20_000,
  eventsPerSecond: Math.round(records / 20),
});

/** A terminal as cli-progress sees one: isTTY, a width, and what was written to it. */
function fakeTerminal() {
  const written: string[] = [];
  return {
    written,
    stream: { isTTY: true, columns: 120, write: (text: string) => written.push(text) },
    /** The bar as drawn each time (cli-progress moves to column 1 before a redraw), escapes removed. */
    lines: () =>
      written
        .join('')
        .split('\u001b[1G')
        .flatMap((draw) => stripVTControlCharacters(draw).split('\n'))
        .map((line) => line.trim())
        .filter((line) => line.startsWith('replay [')),
  };
}

test('on a terminal: a bar with events done / total, events/s and ETA, then the summary table', () => {
  const terminal = fakeTerminal();
  const stdout: string[] = [];
  let now = 0;
  const reporter = createProgressReporter(
    { stdout: { write: (text: string) => stdout.push(text) }, stderr: terminal.stream, isTTY: true },
    () => now,
  );
  reporter.plan(plan);
  assert.match(stdout.join(''), /Events in range: 1000\n/);
  assert.match(stdout.join(''), /To resume if interrupted: \.\/mailjet-connector replay --from 2025-06-01/);
  assert.match(terminal.lines()[0] ?? '', /^replay \[.*\] 0\/1000 events \| 0 events\/s \| ETA \?$/);

  now = 5000;
  // 250 events in 5 s: 50 events/s, 750 to go: 15 s.
  reporter.progress({ done: 250, total: 1000, thisRun: 250, elapsedMs: 5000 });
  now = 5100;
  reporter.progress({ done: 260, total: 1000, thisRun: 260, elapsedMs: 5100 }); // within 200 ms: not drawn
  reporter.summary(summaryOf(250));

  const last = terminal.lines().at(-1) ?? '';
  assert.match(last, /^replay \[[█░]+\] 250\/1000 events \| 50 events\/s \| ETA 15s$/);
  assert.ok(!terminal.lines().some((line) => line.includes('260/1000')), 'throttled update not drawn');
  const table = stdout.join('');
  assert.match(table, /status\s+complete\n/);
  assert.match(table, /records this run\s+250\n/);
  assert.match(table, / {2}click\s+2\n {2}open\s+248\n/);
  assert.match(table, /events\/s\s+13\n/);
});

test('on a terminal: a resumed replay starts its bar at what was done, and the last update is always drawn', () => {
  const terminal = fakeTerminal();
  let now = 0;
  const reporter = createProgressReporter(
    { stdout: { write: () => {} }, stderr: terminal.stream, isTTY: true },
    () => now,
  );
  reporter.plan({ ...plan, alreadyDone: 400 });
  assert.match(terminal.lines()[0] ?? '', / 400\/1000 events /);
  now = 10;
  reporter.progress({ done: 1000, total: 1000, thisRun: 600, elapsedMs: 120_000 });
  reporter.summary(summaryOf(600));
  assert.match(terminal.lines().at(-1) ?? '', / 1000\/1000 events \| 5 events\/s \| ETA 0s$/);
});

test('a replay that fails before its summary takes its bar off the terminal', async () => {
  const terminal = fakeTerminal();
  const reporter = createProgressReporter({
    stdout: { write: () => {} },
    stderr: terminal.stream,
    isTTY: true,
  });
  reporter.plan(plan);
  reporter.close();
  reporter.close();
  const count = terminal.written.length;
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(terminal.written.length, count, 'no redraw after close');
  assert.ok(terminal.written.join('').endsWith('\n'));
});

test('elsewhere: JSON lines, progress at most once per second and always the last one', () => {
  const stdout: string[] = [];
  const stderr: string[] = [];
  let now = 0;
  const reporter = createProgressReporter(
    {
      stdout: { write: (text: string) => stdout.push(text) },
      stderr: { write: (text: string) => stderr.push(text) },
      isTTY: false,
    },
    () => now,
  );
  reporter.plan(plan);
  for (const [at, done] of [
    [100, 100],
    [600, 150],
    [1200, 300],
    [1300, 1000],
  ] as const) {
    now = at;
    reporter.progress({ done, total: 1000, thisRun: done, elapsedMs: at });
  }
  reporter.summary(summaryOf(1000));
  const lines = stdout.map((line) => JSON.parse(line) as Record<string, unknown>);
  assert.deepEqual(
    lines.map((line) => line.type),
    ['replay.plan', 'replay.progress', 'replay.progress', 'replay.progress', 'replay.summary'],
  );
  assert.deepEqual(lines[1], {
    type: 'replay.progress',
    done: 100,
    total: 1000,
    eventsPerSecond: 1000,
    etaSeconds: 1,
  });
  assert.deepEqual(lines[2], {
    type: 'replay.progress',
    done: 300,
    total: 1000,
    eventsPerSecond: 250,
    etaSeconds: 3,
  });
  assert.equal(lines[3]?.done, 1000);
  assert.equal(lines[3]?.etaSeconds, 0);
  assert.equal(lines[4]?.records, 1000);
  assert.deepEqual(lines[4]?.eventsByType, { open: 998, click: 2 });
  assert.deepEqual(stderr, [], 'no bar where no one watches');
  assert.ok(stdout.every((line) => line.endsWith('\n') && !line.slice(0, -1).includes('\n')));
});

test('ETA reads as seconds, minutes or hours', () => {
  assert.equal(formatEta(0), '0s');
  assert.equal(formatEta(41.2), '42s');
  assert.equal(formatEta(185), '3m05s');
  assert.equal(formatEta(3720), '1h02m');
});
