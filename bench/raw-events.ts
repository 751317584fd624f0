/** The benchmarks' Mailjet events, as the ingress would store them. */
import { randomBytes } from 'node:crypto';
import { rawEventValue } from '../ingress/event-publisher.ts';
import { readWebhookBody } from '../ingress/webhook-body.ts';
import type { MailjetEventRaw } from '../schemas/index.ts';
import { mailjetSamples } from '../test/fixtures/mailjet-events.ts';

/**
 * Mailjet's samples, each with a recipient and MessageID of its own, as the ingress would store them
 * (read with its own pure body reader): what the connector and the replay find in the raw topic.
 */
export function mailjetRawEvents(count: number): MailjetEventRaw[] {
  const samples = Object.values(mailjetSamples);
  const receivedAt = Date.now();
  return Array.from({ length: count }, (_, i) => {
    const text = (samples[i % samples.length] as string)
      .replace(/"email":"[^"]*"/, `"email":"recipient-${i % 50_000}@example.com"`)
      .replace(/"MessageID":\d+/, `"MessageID":${19421777835146490n + BigInt(i)}`)
      .replace(/"mj_message_id":"\d+"/, `"mj_message_id":"${19421777835146490n + BigInt(i)}"`);
    const event = readWebhookBody(Buffer.from(text)).accepted[0];
    if (!event) throw new Error(`bench event not accepted by the ingress reader: ${text}`);
    return rawEventValue(event, { requestId: randomBytes(16).toString('hex'), receivedAt: receivedAt + i });
  });
}
