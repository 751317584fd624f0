/**
 * Runs the local Segment server on a loopback port. Point a Segment client at `url` (analytics-node:
 * `host: url`) and read what it sent from `recorder`, or over HTTP from `<url>/_local/stats`.
 */
import { listenOn } from '../../core/http-listen.ts';
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
  const { url } = await listenOn(app, host, port, 'local Segment server');

  let stopping: Promise<void> | undefined;
  return {
    url,
    recorder,
    faults,
    // Idempotent: a test's cleanup and a signal handler may both call it.
    stop() {
      stopping ??= app.close();
      return stopping;
    },
  };
}
