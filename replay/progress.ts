/**
 * What a replay tells the person or program that runs it. On a terminal: the resolved range and the
 * command that resumes it, a progress line (done / total, events/s, ETA) and a short table at the end.
 * Otherwise JSON lines on stdout, one `progress` line per second at most, for logs and CI.
 */
import { createRequire } from 'node:module';

export interface ReplayOutput {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  /** A person watches: progress line and tables instead of JSON lines. */
  isTTY: boolean;
}

export interface ReplayPlan {
  groupId: string;
  topic: string;
  mode: 'raw' | 'dead-letters';
  from: string;
  to: string;
  targets: string[];
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
  /** Events that reached the targets (a dry run: that would), by Mailjet event type. */
  eventsByType: Record<string, number>;
  deadLettered: number;
  /** Dead-letter re-drive: events of ingress letters written to the raw topic (dry run: that would be). */
  toRawTopic: number;
  /** Dead-letter re-drive: ingress input the webhook reader still refuses; it stays where it is. */
  stillRejected: number;
  /** Dead-letter re-drive: letters of no stage that can be re-driven. */
  skipped: number;
  durationMs: number;
  eventsPerSecond: number;
}

export interface ProgressReporter {
  plan(plan: ReplayPlan): void;
  /** Called after every batch; writes at most once per second (terminal: five times). */
  progress(progress: ReplayProgress): void;
  summary(summary: ReplaySummary): void;
}

interface Bar {
  start(total: number, value: number, payload: object): void;
  update(value: number, payload: object): void;
  stop(): void;
}

/** cli-progress when it is installed, else a plain line rewritten with \r. */
function terminalBar(stderr: ReplayOutput['stderr']): Bar {
  try {
    const require = createRequire(import.meta.url);
    const { SingleBar, Presets } = require('cli-progress') as {
      SingleBar: new (options: object, preset: object) => Bar;
      Presets: { shades_classic: object };
    };
    return new SingleBar(
      {
        stream: stderr,
        format: 'replay [{bar}] {value}/{total} records | {rate} records/s | ETA {eta_formatted}',
        etaBuffer: 50,
      },
      Presets.shades_classic,
    );
  } catch {
    let total = 0;
    return {
      start(all) {
        total = all;
      },
      update(value, payload) {
        const { rate, eta } = payload as { rate: number; eta: string };
        const width = 30;
        const filled = total === 0 ? width : Math.round((value / total) * width);
        const bar = `${'='.repeat(filled)}${' '.repeat(width - filled)}`;
        stderr.write(`\rreplay [${bar}] ${value}/${total} records | ${rate} records/s | ETA ${eta}   `);
      },
      stop() {
        stderr.write('\n');
      },
    };
  }
}

const seconds = (ms: number) => (ms / 1000).toFixed(1);

export function createProgressReporter(output: ReplayOutput, now: () => number = Date.now): ProgressReporter {
  let lastWrite = Number.NEGATIVE_INFINITY;
  let bar: Bar | undefined;
  const rateOf = (p: ReplayProgress) => (p.elapsedMs > 0 ? (p.thisRun * 1000) / p.elapsedMs : 0);

  return {
    plan(plan) {
      if (!output.isTTY) {
        output.stdout.write(`${JSON.stringify({ type: 'replay.plan', ...plan })}\n`);
        return;
      }
      output.stdout.write(
        [
          `Replaying ${plan.topic} from ${plan.from} to ${plan.to} (${plan.mode}, targets ${plan.targets.join(',')}${plan.dryRun ? ', dry run' : ''})`,
          `Consumer group: ${plan.groupId}`,
          `Records in range: ${plan.total}${plan.alreadyDone > 0 ? `, ${plan.alreadyDone} done by an earlier run: resuming` : ''}`,
          `To resume if interrupted: ${plan.resumeCommand}`,
          '',
        ].join('\n'),
      );
      if (plan.total > plan.alreadyDone) {
        bar = terminalBar(output.stderr);
        bar.start(plan.total, plan.alreadyDone, { rate: 0, eta: '?' });
      }
    },
    progress(p) {
      const at = now();
      const rate = rateOf(p);
      const remaining = p.total - p.done;
      if (output.isTTY) {
        if (at - lastWrite < 200 && remaining > 0) return;
        lastWrite = at;
        const eta = rate > 0 ? `${Math.ceil(remaining / rate)}s` : '?';
        bar?.update(p.done, { rate: Math.round(rate), eta });
        return;
      }
      if (at - lastWrite < 1000) return;
      lastWrite = at;
      output.stdout.write(
        `${JSON.stringify({
          type: 'replay.progress',
          done: p.done,
          total: p.total,
          eventsPerSecond: Math.round(rate),
          etaSeconds: rate > 0 ? Math.ceil(remaining / rate) : null,
        })}\n`,
      );
    },
    summary(summary) {
      bar?.stop();
      bar = undefined;
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
      if (summary.mode === 'dead-letters') {
        rows.push(['to the raw topic', summary.toRawTopic], ['still rejected', summary.stillRejected]);
        rows.push(['skipped', summary.skipped]);
      }
      rows.push(['duration', `${seconds(summary.durationMs)} s`], ['events/s', summary.eventsPerSecond]);
      const width = Math.max(...rows.map(([name]) => name.length));
      output.stdout.write(`${rows.map(([name, value]) => `${name.padEnd(width)}  ${value}`).join('\n')}\n`);
      if (!summary.complete) output.stdout.write(`Resume: ${summary.resumeCommand}\n`);
    },
  };
}
