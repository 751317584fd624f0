/**
 * Starts a JVM of the local stack so that it can never outlive us:
 * - it runs in a process group of its own (`detached`), so a terminal's Ctrl-C reaches only Node,
 *   which then stops the stack in order, and `stop()` can signal exactly the processes it started;
 * - a small shell watchdog is its parent and holds a pipe from Node on stdin. When Node dies in any
 *   way (even SIGKILL) the pipe closes, the watchdog sees end-of-file, stops the JVM and deletes the
 *   JVM's temporary folder (its settings and log, and its data unless a data folder outside it was
 *   given: that one is never deleted here).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

const WATCHDOG = `
"$@" </dev/null &
jvm=$!
# stop() signals the whole group; the watchdog must outlive the JVM to wait for it and clean up.
trap '' TERM
read _ignored || true
kill -TERM "$jvm" 2>/dev/null
waited=0
while kill -0 "$jvm" 2>/dev/null; do
  waited=$((waited + 1))
  if [ "$waited" -ge 150 ]; then kill -KILL "$jvm" 2>/dev/null; fi
  sleep 0.1
done
if [ -n "$STACK_CLEANUP_DIR" ]; then rm -rf "$STACK_CLEANUP_DIR"; fi
`;

export interface JvmProcess {
  readonly name: string;
  /** The process group id: the watchdog's pid, shared by the JVM. */
  readonly pid: number;
  readonly logFile: string;
  /** Set once the watchdog exited (after the JVM did). */
  readonly exited: Promise<number | null>;
  hasExited(): boolean;
  /** The last lines of the JVM's output, for error messages. */
  logTail(lines?: number): string;
  /** Freezes the JVM (SIGSTOP): it keeps its sockets but answers nothing, like a hung broker. */
  pause(): void;
  resume(): void;
  /** SIGTERM to the group, then SIGKILL after `graceMs`; resolves when everything is gone. */
  stop(graceMs?: number): Promise<void>;
  /**
   * SIGKILL to the group at once, a crash: the JVM flushes and closes nothing (what is in its data
   * folder is what it had written). Resolves when everything is gone.
   */
  kill(): Promise<void>;
}

export interface JvmOptions {
  name: string;
  java: string;
  args: string[];
  cwd: string;
  logFile: string;
  /** Deleted once the JVM has exited, whoever stopped it. */
  cleanupDir: string;
}

export function startJvm(options: JvmOptions): JvmProcess {
  const log = openSync(options.logFile, 'a');
  const child: ChildProcess = spawn(
    '/bin/sh',
    ['-c', WATCHDOG, 'stack-watchdog', options.java, ...options.args],
    {
      cwd: options.cwd,
      detached: true,
      stdio: ['pipe', log, log],
      env: { ...process.env, STACK_CLEANUP_DIR: options.cleanupDir },
    },
  );
  closeSync(log);
  // Node must not wait for the watchdog to exit, nor keep the pipe in its event loop.
  child.unref();
  (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  child.stdin?.on('error', () => {});
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${options.name}`);

  let done = false;
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      done = true;
      resolve(code);
    });
  });

  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-pid, signal);
    } catch {
      // ESRCH: the group is already gone.
    }
  };

  return {
    name: options.name,
    pid,
    logFile: options.logFile,
    exited,
    hasExited: () => done,
    logTail: (lines = 20) => tailOf(options.logFile, lines),
    pause: () => signalGroup('SIGSTOP'),
    resume: () => signalGroup('SIGCONT'),
    async stop(graceMs = 15_000) {
      if (!done) {
        // Closing the pipe is what tells the watchdog to stop the JVM; SIGTERM only makes it quicker.
        child.stdin?.end();
        signalGroup('SIGCONT');
        signalGroup('SIGTERM');
        const timer = setTimeout(() => signalGroup('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      // The watchdog removes it too; this covers a watchdog that was itself killed.
      await rm(options.cleanupDir, { recursive: true, force: true });
    },
    async kill() {
      // The watchdog dies with the JVM (same group), so its clean-up is done here. Its exit says nothing
      // of the JVM's: that one is gone (its data folder's lock released) once the group is.
      if (!done) {
        signalGroup('SIGKILL');
        await exited;
      }
      while (groupAlive(pid)) await sleep(50);
      await rm(options.cleanupDir, { recursive: true, force: true });
    },
  };
}

function tailOf(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** True while any process of the group `pgid` is alive. */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}
