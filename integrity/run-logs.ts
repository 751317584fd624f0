/**
 * A run's folder of service logs, a file per process (ingress.log, connector-1.log, intake.log…): kept,
 * and named in the run's line, when the run failed; removed when it held.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export class RunLogs {
  readonly dir: string;

  constructor(run: string) {
    this.dir = mkdtempSync(join(tmpdir(), `${run}-logs-`));
  }

  file(process: string): string {
    return join(this.dir, `${process}.log`);
  }

  discard(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
