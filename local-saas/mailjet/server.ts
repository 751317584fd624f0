/**
 * Runs the local Mailjet server on a loopback port. Point a Mailjet client at `url` (its REST API is
 * under `${url}/v3/REST`) and read what it wrote from `store`, or over HTTP from `<url>/_local/contacts`.
 */
import { listenOn } from '../../core/http-listen.ts';
import type { Logger } from '../../core/logger.ts';
import { buildMailjetApp, type MailjetCredentials } from './app.ts';
import { FaultInjector } from './faults.ts';
import { MailjetStore } from './store.ts';

export interface LocalMailjetOptions {
  /** Loopback by default: the admin routes are unauthenticated. */
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  credentials: MailjetCredentials[];
  /** Lists that exist besides list 1, e.g. `[{ id: 2, name: 'Newsletter' }]`. */
  lists?: { id: number; name: string }[];
  /** How long a bulk job stays `In Progress` (default 10 ms); `'manual'` waits for `store.runPendingJobs()`. */
  jobDelayMs?: number | 'manual';
  logger?: Logger | false;
}

export interface LocalMailjet {
  /** Base URL without a trailing slash, e.g. `http://127.0.0.1:41234`. */
  url: string;
  store: MailjetStore;
  faults: FaultInjector;
  stop(): Promise<void>;
}

export async function startLocalMailjet(options: LocalMailjetOptions): Promise<LocalMailjet> {
  const { host = '127.0.0.1', port = 0, credentials, logger = false } = options;
  const store = new MailjetStore({ lists: options.lists, jobDelayMs: options.jobDelayMs });
  const faults = new FaultInjector();
  const app = buildMailjetApp({ credentials, store, faults, logger });
  const { url } = await listenOn(app, host, port, 'local Mailjet server');

  let stopping: Promise<void> | undefined;
  return {
    url,
    store,
    faults,
    // Idempotent: a test's cleanup and a signal handler may both call it.
    stop() {
      stopping ??= app.close();
      return stopping;
    },
  };
}
