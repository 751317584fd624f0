/**
 * Runs the local Segment server on a loopback port. Point a Segment client at `url` (analytics-node:
 * `host: url`) and read what it sent from `recorder`, or over HTTP from `<url>/_local/stats`.
 */
import { ConnectorError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import { buildSegmentApp } from './app.ts';
import { FaultInjector } from './faults.ts';
import { type RecorderOptions, SegmentRecorder } from './recorder.ts';

export interface LocalSegmentOptions {
  /** Loopback by default: the admin routes are unauthenticated. */
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  writeKeys: string[];
  recorder?: RecorderOptions;
  logger?: Logger | false;
}

export interface LocalSegment {
  /** Base URL without a trailing slash, e.g. `http://127.0.0.1:41234`. */
  url: string;
  recorder: SegmentRecorder;
  faults: FaultInjector;
  stop(): Promise<void>;
}

export async function startLocalSegment(options: LocalSegmentOptions): Promise<LocalSegment> {
  const { host = '127.0.0.1', port = 0, writeKeys, logger = false } = options;
  const recorder = new SegmentRecorder(options.recorder);
  const faults = new FaultInjector();
  const app = buildSegmentApp({ writeKeys, recorder, faults, logger });
  try {
    await app.listen({ host, port });
  } catch (err) {
    await app.close();
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new ConnectorError(
        'PORT_TAKEN',
        `Port ${host}:${port} (local Segment server) is already in use.`,
        {
          cause: err,
        },
      );
    }
    throw err;
  }
  const address = app.server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  let stopping: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${bound}`,
    recorder,
    faults,
    // Idempotent: a test's cleanup and a signal handler may both call it.
    stop() {
      stopping ??= app.close();
      return stopping;
    },
  };
}
