import { setTimeout as sleep } from 'node:timers/promises';
import { ConnectorError } from '../core/errors.ts';
import type { JvmProcess } from './jvm-process.ts';

/**
 * Polls `probe` until it answers true. Fails early, with the log tail, when the process died (a port
 * clash shows up here as "Address already in use"), and with `notReady` when time runs out.
 */
export async function waitUntil(options: {
  timeoutMs: number;
  process: JvmProcess;
  probe: () => Promise<boolean>;
  notReady: (logTail: string) => Error;
}): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  while (Date.now() < deadline) {
    if (options.process.hasExited()) {
      const tail = options.process.logTail();
      if (/Address already in use|BindException/.test(tail)) {
        throw new ConnectorError(
          'PORT_TAKEN',
          `${options.process.name} could not bind its port. Log tail:\n${tail}`,
        );
      }
      throw new ConnectorError(
        'STACK_PROCESS_EXITED',
        `${options.process.name} exited during start-up. Log tail:\n${tail}`,
      );
    }
    if (await options.probe().catch(() => false)) return;
    await sleep(250);
  }
  throw options.notReady(options.process.logTail());
}
