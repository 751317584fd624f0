import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createBatchingProducer } from '../../core/batching-producer.ts';
import { ConnectorError } from '../../core/errors.ts';
import { createEventPublisher } from '../../ingress/event-publisher.ts';
import { readWebhookBody } from '../../ingress/webhook-body.ts';
import { mailjetEventRawSchema, valueSubject } from '../../schemas/index.ts';
import { groupedBody, mailjetSamples } from '../fixtures/mailjet-events.ts';
import { recordCount } from '../helpers/ingress.ts';
import { readRecords, testKafka, testRegistry, uniqueName } from '../helpers/stack.ts';

// The overload limit once refused any body with more events than INGRESS_MAX_PENDING_EVENTS, even with
// nothing waiting: Mailjet would have retried it for 24 hours and then dropped it.
test('past INGRESS_MAX_PENDING_EVENTS new bodies are refused as overloaded; an idle producer takes any body', async (t) => {
  const kafka = testKafka(t);
  const rawTopic = uniqueName('raw');
  const deadLetterTopic = uniqueName('dlq');
  await kafka.ensureTopics([{ topic: rawTopic, partitions: 3 }, { topic: deadLetterTopic }]);
  const rawSerializer = await testRegistry().serializer(valueSubject(rawTopic), mailjetEventRawSchema);
  const producer = await kafka.producer({ idempotent: true });
  t.after(() => producer.disconnect());
  const publisher = createEventPublisher({
    producer: createBatchingProducer(producer),
    rawSerializer,
    rawTopic,
    deadLetterTopic,
    ackTimeoutMs: 30_000,
    maxPendingEvents: 2,
    maxRawRecordBytes: 1024 * 1024,
    maxDeadLetterBytes: 1024 * 1024,
  });
  const context = { requestId: 'req-1', receivedAt: Date.now() };
  const body = (text: string) => readWebhookBody(Buffer.from(text));

  const first = publisher.publish(body(`[${mailjetSamples.open},${mailjetSamples.click}]`), context);
  assert.equal(publisher.pending(), 2);
  await assert.rejects(publisher.publish(body(mailjetSamples.sent), context), (err: unknown) => {
    assert.ok(err instanceof ConnectorError);
    assert.equal(err.code, 'INGRESS_OVERLOADED');
    assert.equal(err.retriable, true);
    assert.match(
      err.message,
      /2 records already wait for Kafka; 1 more would pass INGRESS_MAX_PENDING_EVENTS=2/,
    );
    return true;
  });
  await first;
  // Seven events, more than the limit, with nothing waiting: taken.
  await publisher.publish(body(groupedBody()), context);
  assert.equal(await recordCount(kafka, rawTopic), 9);
});

// An event too large for the raw topic was produced anyway and refused on every retry; its dead letter
// repeats the email as key, so an email of that size could make the letter too large as well.
test('an event over maxRawRecordBytes is dead-lettered whole; a letter over maxDeadLetterBytes goes without its key', async (t) => {
  const kafka = testKafka(t);
  const rawTopic = uniqueName('raw');
  const deadLetterTopic = uniqueName('dlq');
  await kafka.ensureTopics([{ topic: rawTopic }, { topic: deadLetterTopic }]);
  const rawSerializer = await testRegistry().serializer(valueSubject(rawTopic), mailjetEventRawSchema);
  const producer = await kafka.producer({ idempotent: true });
  t.after(() => producer.disconnect());
  const publisher = createEventPublisher({
    producer: createBatchingProducer(producer),
    rawSerializer,
    rawTopic,
    deadLetterTopic,
    ackTimeoutMs: 30_000,
    maxPendingEvents: 100,
    maxRawRecordBytes: 4000,
    maxDeadLetterBytes: 6000,
  });
  const longPayload = mailjetSamples.open.replace('"Payload":""', `"Payload":"${'p'.repeat(4000)}"`);
  const longEmail = mailjetSamples.click.replace('api@mailjet.com', `${'e'.repeat(4000)}@example.com`);
  const outcome = await publisher.publish(
    readWebhookBody(Buffer.from(`[${mailjetSamples.sent},${longPayload},${longEmail}]`)),
    { requestId: 'req-1', receivedAt: Date.now() },
  );
  assert.equal(outcome.stored, 1);
  assert.deepEqual(
    outcome.deadLettered.map((letter) => letter.code),
    ['EVENT_TOO_LARGE', 'EVENT_TOO_LARGE'],
  );
  const letters = await readRecords(t, kafka, deadLetterTopic, 2);
  const values = letters.map((letter) => letter.value?.toString());
  assert.deepEqual(values.sort(), [longPayload, longEmail].sort(), 'each event whole');
  const keyOf = (value: string) => letters.find((l) => l.value?.toString() === value)?.key?.toString();
  assert.equal(keyOf(longPayload), 'api@mailjet.com');
  assert.equal(keyOf(longEmail), undefined, 'the letter fits without its 4 KB key');
  assert.equal(await recordCount(kafka, rawTopic), 1);
});
