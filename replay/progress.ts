/**
 * What a replay tells the person or program that runs it. On a terminal: the resolved range and the
 * command that resumes it, a progress bar (events done / total, events/s, ETA; cli-progress, on stderr
 * so stdout keeps the plan and the summary) and a short table at the end. Otherwise JSON lines on
 * stdout, one `progress` line per second at most plus the last one, for logs and CI.
 */
import cliProgress from 'cli-progress';
import type { ReplayMode } from './arguments.ts';

export interface ReplayOutput {
  stdout: { write(text: string): unknown };
  /** The progress bar's stream: a terminal (isTTY) with its width (columns); cli-progress draws nothing elsewhere. */
  stderr: { write(text: string): unknown; isTTY?: boolean; columns?: number };
  /** A person watches: progress bar and tables instead of JSON lines. */
  isTTY: boolean;
}

export interface ReplayPlan {
  groupId: string;
  topic: string;
  mode: ReplayMode;
  from: string;
  to: string;
  dryRun: boolean;
  rate: number | null;
  /** Records in the range. */
  total: number;
  /** Records of the range an earlier run of the same command already handled. */
  alreadyDone: number;
  resumeCommand: string;
}

export interface ReplayProgress {
  /** Records of the range handled and committed, earlier runs included. */
  done: number;
  total: number;
  /** Records handled by this run. */
  thisRun: number;
  elapsedMs: number;
}

export interface ReplaySummary extends ReplayPlan {
  /** Every partition reached the end of the range (false: stopped early; run the same command again). */
  complete: boolean;
  /** Records handled by this run. */
  records: number;
  /** Events the mode wrote or delivered (a dry run: would have), by Mailjet event type. */
  eventsByType: Record<string, number>;
  deadLettered: number;
  /** Records of the range that retention deleted before this run read them: they cannot be replayed. */
  expired: number;
  /** Dead-letter re-drive: events of ingress letters written to the raw topic (dry run: that would be). */
  toRawTopic: number;
  /** Dead-letter re-drive: identify calls of the Mailjet destination's letters written back to its identify topic. */
  toIdentifyTopic: number;
  /** Dead-letter re-drive: ingress input the webhook reader still refuses; it stays where it is. */
  stillRejected: number;
  /** Dead-letter re-drive: letters of no stage that can be re-driven. */
  skipped: number;
  durationMs: number;
  eventsPerSecond: number;
}

export interface ProgressReporter {
  plan(plan: ReplayPlan): void;
  /** Called after every batch; writes at most once per second (terminal: five times), and the last one. */
  progress(progress: ReplayProgress): void;
  summary(summary: ReplaySummary): void;
  /** Takes the bar off the terminal when the replay fails before its summary (idempotent). */
  close(): void;
}

/** A bar on the terminal; its figures come from the reporter, so they are the same as in the JSON lines. */
function terminalBar(stream: ReplayOutput['stderr']): cliProgress.SingleBar {
  return new cliProgress.SingleBar(
    {
      // cli-progress types its stream as a Node stream; it only writes to it and reads isTTY and columns.
      stream: stream as NodeJS.WritableStream,
      format: 'replay [{bar}] {value}/{total} events | {rate} events/s | ETA {etaText}',
      barsize: 30,
      // Ctrl-C finishes the batch in flight and prints the summary: the bar stays until then.
      gracefulExit: false,
    },
    cliProgress.Presets.shades_classic,
  );
}

/** Whole seconds as 42s, 3m05s, 1h02m. */
export function formatEta(totalSeconds: number): string {
  const s = Math.ceil(totalSeconds);
  const two = (n: number) => String(n).padStart(2, '0');
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${two(s % 60)}s`;
  return `${Math.floor(s / 3600)}h${two(Math.floor((s % 3600) / 60))}m`;
}

const seconds = (ms: number) => (ms / 1000).toFixed(1);

export function createProgressReporter(output: ReplayOutput, now: () => number = Date.now): ProgressReporter {
  let lastWrite = Number.NEGATIVE_INFINITY;
  let bar: cliProgress.SingleBar | undefined;
  // This run's pace: records an earlier run did are not part of it.
  const rateOf = (p: ReplayProgress) => (p.elapsedMs > 0 ? (p.thisRun * 1000) / p.elapsedMs : 0);
  const stopBar = () => {
    bar?.stop();
    bar = undefined;
  };

  return {
    plan(plan) {
      if (!output.isTTY) {
        output.stdout.write(`${JSON.stringify({ type: 'replay.plan', ...plan })}\n`);
        return;
      }
      output.stdout.write(
        [
          `Replaying ${plan.topic} from ${plan.from} to ${plan.to} (${plan.mode}${plan.dryRun ? ', dry run' : ''}${plan.rate === null ? '' : `, at most ${plan.rate} events/s`})`,
          `Consumer group: ${plan.groupId}`,
          `Events in range: ${plan.total}${plan.alreadyDone > 0 ? `, ${plan.alreadyDone} done by an earlier run: resuming` : ''}`,
          `To resume if interrupted: ${plan.resumeCommand}`,
          '',
        ].join('\n'),
      );
      if (plan.total > plan.alreadyDone) {
        bar = terminalBar(output.stderr);
        bar.start(plan.total, plan.alreadyDone, { rate: 0, etaText: '?' });
      }
    },
    progress(p) {
      const at = now();
      const rate = rateOf(p);
      const remaining = p.total - p.done;
      const etaSeconds = remaining === 0 ? 0 : rate > 0 ? Math.ceil(remaining / rate) : null;
      const last = remaining <= 0;
      if (output.isTTY) {
        if (at - lastWrite < 200 && !last) return;
        lastWrite = at;
        bar?.update(p.done, {
          rate: Math.round(rate),
          etaText: etaSeconds === null ? '?' : formatEta(etaSeconds),
        });
        return;
      }
      if (at - lastWrite < 1000 && !last) return;
      lastWrite = at;
      output.stdout.write(
        `${JSON.stringify({
          type: 'replay.progress',
          done: p.done,
          total: p.total,
          eventsPerSecond: Math.round(rate),
          etaSeconds,
        })}\n`,
      );
    },
    summary(summary) {
      stopBar();
      if (!output.isTTY) {
        output.stdout.write(`${JSON.stringify({ type: 'replay.summary', ...summary })}\n`);
        return;
      }
      const rows: [string, string | number][] = [
        ['status', summary.complete ? 'complete' : 'stopped early: run the same command to resume'],
        ['records this run', summary.records],
        ...Object.entries(summary.eventsByType)
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([type, count]): [string, number] => [`  ${type}`, count]),
        ['dead-lettered', summary.deadLettered],
      ];
      if (summary.expired > 0) rows.push(['deleted by retention, unread', summary.expired]);
      if (summary.mode === 'dead-letters') {
        rows.push(
          ['to the raw topic', summary.toRawTopic],
          ['to the identify topic', summary.toIdentifyTopic],
          ['still rejected', summary.stillRejected],
        );
        rows.push(['skipped', summary.skipped]);
      }
      rows.push(['duration', `${seconds(summary.durationMs)} s`], ['events/s', summary.eventsPerSecond]);
      const width = Math.max(...rows.map(([name]) => name.length));
      output.stdout.write(`${rows.map(([name, value]) => `${name.padEnd(width)}  ${value}`).join('\n')}\n`);
      if (!summary.complete) output.stdout.write(`Resume: ${summary.resumeCommand}\n`);
    },
    close: stopBar,
  };
}
