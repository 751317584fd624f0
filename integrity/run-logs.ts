/**
 * A run's folder of service logs, a file per process (ingress.log, connector-1.log, intake.log…): kept,
 * and named in the run's line, when the run failed or never came to a verdict; removed when it held.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export class RunLogs {
  readonly dir: string;
  #held = false;

  constructor(run: string) {
    this.dir = mkdtempSync(join(tmpdir(), `${run}-logs-`));
  }

  file(process: string): string {
    return join(this.dir, `${process}.log`);
  }

  /** The run's verdict: what its line says of the logs (their folder, when it failed). */
  verdict(failures: readonly string[]): { logs?: string } {
    this.#held = failures.length === 0;
    return this.#held ? {} : { logs: this.dir };
  }

  /** Once the processes have ended: a run that held leaves nothing behind. */
  close(): void {
    if (this.#held) rmSync(this.dir, { recursive: true, force: true });
  }
}
