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
  /** Aborted: give up at once (the other half of the stack failed, so this one is not needed). */
  signal?: AbortSignal | undefined;
  /**
   * Asked with the log tail at each poll: an error when the log shows a failure the process does not
   * exit for (a locked data folder: both Kafka and the registry keep running, or retrying, for minutes).
   */
  failedWhen?: ((logTail: string) => Error | undefined) | undefined;
}): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  while (Date.now() < deadline) {
    if (options.signal?.aborted) {
      throw new DOMException(`${options.process.name}: start abandoned`, 'AbortError');
    }
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
    const failure = options.failedWhen?.(options.process.logTail(50));
    if (failure) throw failure;
    if (await options.probe().catch(() => false)) return;
    await sleep(250);
  }
  throw options.notReady(options.process.logTail());
}
