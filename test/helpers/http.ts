import { request } from 'node:http';
import type { TestContext } from 'node:test';
import type { FastifyInstance } from 'fastify';

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface SlowUpload {
  /** The answer, whenever the server sends it: before the body is complete if it does not wait for it. */
  answer: Promise<Answer>;
  /** Sends the rest of the announced body (what a client that was not answered early does next). */
  finish(): void;
}

/**
 * Closes the app when the test ends, cutting every connection first: a test that failed may leave an
 * upload unfinished or a request held, which a graceful close would wait for.
 */
export function closeWhenDone(t: TestContext, app: FastifyInstance): void {
  t.after(() => {
    app.server.closeAllConnections();
    return app.close();
  });
}

/**
 * A POST that announces `contentLength` bytes (or none: chunked) and sends only `sent` of them, as a
 * slow client (or one on a slow link) does. Whether the server answers before the rest arrives tells
 * whether it waited for the body.
 */
export function slowUpload(
  url: string,
  options: { headers: Record<string, string>; contentLength?: number; sent?: string; signal: AbortSignal },
): SlowUpload {
  const sent = options.sent ?? '';
  // The test's signal: a test that timed out waiting for the answer gives the request up.
  const client = request(url, {
    signal: options.signal,
    method: 'POST',
    headers: {
      ...options.headers,
      ...(options.contentLength === undefined ? {} : { 'content-length': String(options.contentLength) }),
    },
  });
  const answer = new Promise<Answer>((resolve, reject) => {
    client.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          headers: response.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
      response.on('error', reject);
    });
    // A server that answered early may close the connection while we still write: not an error here.
    client.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') reject(err);
      else if (options.signal.aborted) reject(options.signal.reason);
    });
  });
  client.flushHeaders();
  if (sent !== '') client.write(sent);
  return {
    answer,
    finish() {
      const rest = (options.contentLength ?? 0) - Buffer.byteLength(sent);
      if (!client.destroyed) client.end(' '.repeat(Math.max(0, rest)));
    },
  };
}
