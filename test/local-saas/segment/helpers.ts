import { Buffer } from 'node:buffer';
import type { TestContext } from 'node:test';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { buildSegmentApp } from '../../../local-saas/segment/app.ts';
import { FaultInjector, type FaultInjectorOptions } from '../../../local-saas/segment/faults.ts';
import { type RecorderOptions, SegmentRecorder } from '../../../local-saas/segment/recorder.ts';

export const writeKey = 'wk_test_local_segment';

/** The header analytics-node 3.1 sends: the write key as username, an empty password, colon included. */
export function basicAuth(key: string, colon = true): string {
  return `Basic ${Buffer.from(colon ? `${key}:` : key).toString('base64')}`;
}

export interface TestSegment {
  app: FastifyInstance;
  recorder: SegmentRecorder;
  faults: FaultInjector;
  /** POSTs a JSON body to a Segment path with our write key in a Basic header, unless headers say otherwise. */
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<LightMyRequestResponse>;
}

/** A Segment app that never listens, closed when the test ends. */
export function testSegment(
  t: TestContext,
  options: { recorder?: RecorderOptions; faults?: FaultInjectorOptions } = {},
): TestSegment {
  const recorder = new SegmentRecorder(options.recorder);
  const faults = new FaultInjector(options.faults);
  const app = buildSegmentApp({ writeKeys: [writeKey, 'wk_second_source'], recorder, faults });
  t.after(() => app.close());
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) => {
    const request: InjectOptions = {
      method: 'POST',
      url: path,
      headers: { 'content-type': 'application/json', authorization: basicAuth(writeKey), ...headers },
      payload: typeof body === 'string' ? body : JSON.stringify(body),
    };
    return app.inject(request);
  };
  return { app, recorder, faults, post };
}

let sequence = 0;

/** A valid track call in the connector's shape; fields can be overridden or removed (set to undefined). */
export function trackEvent(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  sequence += 1;
  return {
    type: 'track',
    event: 'Email Opened',
    userId: `contact-${sequence}`,
    messageId: `mailjet-test-${sequence}`,
    timestamp: '2026-01-02T03:04:05.000Z',
    properties: { email_id: `guid-${sequence}` },
    ...overrides,
  };
}

/** A batch of `count` track events whose JSON is about `eventBytes` each. */
export function bigBatch(count: number, eventBytes: number): Record<string, unknown>[] {
  return Array.from({ length: count }, () =>
    trackEvent({ properties: { padding: 'x'.repeat(eventBytes - 200) } }),
  );
}
