/**
 * Memory and CPU of processes on this machine, read from Linux's /proc: the ingress child's resident
 * memory must be its own, so it is read from its /proc/<pid>/status, not estimated from the bench.
 * Where /proc is missing (not Linux), every figure is undefined and the bench prints "n/a".
 */
import { readdirSync, readFileSync } from 'node:fs';

/** USER_HZ, the unit of utime/stime in /proc/<pid>/stat: 100 on every Linux architecture Node runs on. */
const CLOCK_TICKS_PER_SECOND = 100;

export interface Memory {
  /** Resident set size now (VmRSS), MB. */
  rssMb: number;
  /** Peak resident set size since the process started (VmHWM), MB. */
  peakMb: number;
}

export function memoryOf(pid: number | 'self'): Memory | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  const rss = kb('VmRSS');
  const peak = kb('VmHWM');
  return Number.isNaN(rss) ? undefined : { rssMb: rss / 1024, peakMb: peak / 1024 };
}

/** CPU time (user + system) a process used so far, seconds. */
export function cpuSecondsOf(pid: number | 'self'): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses; the fields after its last ')' do not.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the line, 11 and 12 after the name.
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/**
 * The processes of a process group, e.g. a JVM the local stack started in a group of its own under a
 * shell watchdog: the member whose name is `name`, or undefined.
 */
export function processInGroup(groupId: number, name: string): number | undefined {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((entry) => /^\d+$/.test(entry));
  } catch {
    return undefined;
  }
  for (const entry of entries) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // Field 5 of the line (process group) is the third after the name.
      if (comm === name && Number(fields[2]) === groupId) return Number(entry);
    } catch {
      // The process ended while we looked.
    }
  }
  return undefined;
}

/**
 * Samples the resident memory of some processes at a fixed interval while a phase runs, keeping the
 * highest value seen per process (VmHWM covers the whole life of a process, not one phase).
 */
export function sampleMemory(
  pids: Record<string, number | 'self'>,
  intervalMs = 100,
): { stop(): Map<string, number> } {
  const peaks = new Map<string, number>();
  const sample = () => {
    for (const [label, pid] of Object.entries(pids)) {
      const rss = memoryOf(pid)?.rssMb;
      if (rss !== undefined) peaks.set(label, Math.max(peaks.get(label) ?? 0, rss));
    }
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      sample();
      return peaks;
    },
  };
}

/** CPU time every process of the machine used so far (first line of /proc/stat minus idle and iowait), s. */
export function machineCpuSeconds(): number | undefined {
  try {
    const firstLine = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
    // cpu user nice system idle iowait irq softirq steal …
    const [user, nice, system, , , irq, softirq, steal] = firstLine.split(/\s+/).slice(1).map(Number);
    const busy = [user, nice, system, irq, softirq, steal].reduce<number>((sum, t) => sum + (t ?? 0), 0);
    return Number.isNaN(busy) ? undefined : busy / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/**
 * CPU used by some processes between start() and stop(), as a share of one core (1.0 = one core busy);
 * `machine` is every process together, which shows what else competed for the cores.
 */
export function cpuMeter(pids: Record<string, number | 'self'>): { stop(): Map<string, number> } {
  const started = performance.now();
  const before = new Map(Object.entries(pids).map(([label, pid]) => [label, cpuSecondsOf(pid)]));
  const machineBefore = machineCpuSeconds();
  return {
    stop() {
      const seconds = (performance.now() - started) / 1000;
      const shares = new Map<string, number>();
      const machineAfter = machineCpuSeconds();
      if (machineBefore !== undefined && machineAfter !== undefined) {
        shares.set('machine', (machineAfter - machineBefore) / seconds);
      }
      for (const [label, pid] of Object.entries(pids)) {
        const start = before.get(label);
        const end = cpuSecondsOf(pid);
        if (start !== undefined && end !== undefined) shares.set(label, (end - start) / seconds);
      }
      return shares;
    },
  };
}
