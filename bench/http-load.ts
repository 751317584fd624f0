/**
 * The load generator of the ingress benchmark: POSTs webhook bodies over keep-alive loopback
 * connections, closed-loop (C clients, each sends its next body when the last one was answered: finds
 * the maximum rate) or open-loop (bodies leave on a fixed schedule whatever the answers: latency at a
 * given rate). node:http rather than fetch: it does the same on fewer CPU cycles, and the benchmark
 * shares the machine with what it measures.
 */
import { Agent, request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

export interface WebhookTarget {
  host: string;
  port: number;
  path: string;
  headers: Record<string, string>;
}

export interface WebhookBody {
  bytes: Buffer;
  events: number;
  /** What the ingress answers when it stored every event: `{"stored":n,"deadLettered":0}`. */
  expectedAnswer: string;
}

export interface LoadResult {
  requests: number;
  /** Requests answered 200 with the expected body: every event stored. */
  acked: number;
  ackedEvents: number;
  /** Everything else, by status (or error code, or "unexpected answer"), with a count. */
  failures: Map<string, number>;
  /** Latency of each acked request, ms, in completion order. */
  latenciesMs: number[];
  seconds: number;
}

export interface LoadClient {
  post(body: WebhookBody): Promise<{ status: number; answer: string }>;
  close(): void;
}

export function createLoadClient(target: WebhookTarget, maxSockets: number): LoadClient {
  const agent = new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  return {
    post(body) {
      return new Promise((resolve, reject) => {
        const req = request(
          {
            agent,
            host: target.host,
            port: target.port,
            path: target.path,
            method: 'POST',
            headers: { ...target.headers, 'content-length': String(body.bytes.length) },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (chunk: Buffer) => chunks.push(chunk));
            res.on('end', () =>
              resolve({ status: res.statusCode ?? 0, answer: Buffer.concat(chunks).toString('utf8') }),
            );
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.end(body.bytes);
      });
    },
    close: () => agent.destroy(),
  };
}

function tally() {
  const result: LoadResult = {
    requests: 0,
    acked: 0,
    ackedEvents: 0,
    failures: new Map(),
    latenciesMs: [],
    seconds: 0,
  };
  const fail = (reason: string) => result.failures.set(reason, (result.failures.get(reason) ?? 0) + 1);
  /** Sends one body and books its outcome; latency counts from `since` (performance.now() time). */
  const send = async (client: LoadClient, body: WebhookBody, since: number) => {
    result.requests++;
    try {
      const { status, answer } = await client.post(body);
      if (status !== 200) fail(`HTTP ${status}`);
      else if (answer !== body.expectedAnswer) fail(`unexpected answer ${answer.slice(0, 80)}`);
      else {
        result.acked++;
        result.ackedEvents += body.events;
        result.latenciesMs.push(performance.now() - since);
      }
    } catch (err) {
      fail(`error ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  return { result, send };
}

/** C clients, each sending its next body as soon as the previous one was answered, for `seconds`. */
export async function closedLoop(options: {
  client: LoadClient;
  bodies: WebhookBody[];
  concurrency: number;
  seconds: number;
  /** A bound on requests whatever the speed, so a run always ends. */
  maxRequests: number;
}): Promise<LoadResult> {
  const { client, bodies } = options;
  const { result, send } = tally();
  const started = performance.now();
  const deadline = started + options.seconds * 1000;
  let next = 0;
  const worker = async () => {
    while (performance.now() < deadline && next < options.maxRequests) {
      const body = bodies[next++ % bodies.length] as WebhookBody;
      await send(client, body, performance.now());
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  result.seconds = (performance.now() - started) / 1000;
  return result;
}

/**
 * Bodies at a fixed rate for `seconds`, whatever the answers. Latency counts from the time a request
 * was due, not from when it left: when the client or server falls behind, the wait is measured
 * (no coordinated omission).
 */
export async function openLoop(options: {
  client: LoadClient;
  bodies: WebhookBody[];
  requestsPerSecond: number;
  seconds: number;
}): Promise<LoadResult> {
  const { client, bodies } = options;
  const { result, send } = tally();
  const total = Math.max(1, Math.round(options.requestsPerSecond * options.seconds));
  const intervalMs = 1000 / options.requestsPerSecond;
  const started = performance.now();
  const inFlight = new Set<Promise<void>>();
  for (let i = 0; i < total; ) {
    const now = performance.now();
    for (; i < total && started + i * intervalMs <= now; i++) {
      const sending = send(client, bodies[i % bodies.length] as WebhookBody, started + i * intervalMs);
      inFlight.add(sending);
      sending.finally(() => inFlight.delete(sending));
    }
    // Timers fire about a millisecond late at best; the loop above catches up on whatever fell due.
    if (i < total) await sleep(Math.max(0, started + i * intervalMs - performance.now()));
  }
  await Promise.all(inFlight);
  result.seconds = (performance.now() - started) / 1000;
  return result;
}

export interface LatencySummary {
  p50: number;
  p99: number;
  max: number;
}

export function summarize(latenciesMs: number[]): LatencySummary | undefined {
  if (latenciesMs.length === 0) return undefined;
  const sorted = Float64Array.from(latenciesMs).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number;
  return { p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] as number };
}
