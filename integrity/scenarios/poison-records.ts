import { setTimeout as sleep } from 'node:timers/promises';
import {
  type MailjetEventRaw,
  mailjetEventRawSchema,
  type SegmentIdentify,
  segmentIdentifySchema,
  valueSubject,
} from '../../schemas/index.ts';
import type { Scenario } from '../scenario.ts';

export const poisonRecords: Scenario = {
  name: 'poison-records',
  number: 6,
  description:
    'Records no ingress would write are produced straight into the raw topic under load: a bad magic byte, an unknown schema id, the schema id of another subject, an event that cannot be mapped. Each must be dead-lettered exactly once while the valid traffic flows.',
  async inject({ pipeline, random, kafka, registry, loadMs, messageIdPrefix, quick }) {
    const topic = pipeline.topics.RAW_TOPIC;
    const rawSerializer = await registry.serializer(valueSubject(topic), mailjetEventRawSchema);
    const otherSerializer = await registry.serializer(
      valueSubject(`${topic}.other-subject`),
      segmentIdentifySchema,
    );
    const producer = await kafka.producer({ idempotent: true });
    const rounds = quick ? 2 : 5;
    const unmappable = new Set<string>();
    try {
      for (let round = 0; round < rounds; round++) {
        await sleep(random.between(0.1, 0.7) * ((loadMs * 0.8) / rounds));
        // MessageIDs the sender never makes (its own have 8 digits after the prefix).
        const id = `${messageIdPrefix}9${String(round).padStart(8, '0')}`;
        unmappable.add(id);
        const noIdentity: MailjetEventRaw = {
          event: 'open',
          time: Math.floor(Date.now() / 1000),
          email: null,
          message_id: id,
          message_guid: null,
          event_json: `{"event":"open","time":${Math.floor(Date.now() / 1000)},"MessageID":${id}}`,
          received_at: Date.now(),
          request_id: `integrity-poison-${round}`,
        };
        const records = [
          { key: 'poison', value: Buffer.from([0x01, 0x00, 0x00, 0x00, 0x01, 0x02]) },
          { key: 'poison', value: Buffer.from([0x00, 0x7f, 0xff, 0xff, 0x00 + round, 0x02, 0x02]) },
          {
            key: 'poison',
            value: otherSerializer.encode({
              message_id: `poison-${round}`,
              user_id: 'someone',
              anonymous_id: null,
              email: 'someone@example.com',
              traits_json: '{}',
              audience_key: null,
              call_json: '{}',
              timestamp: Date.now(),
              received_at: Date.now(),
              request_id: `integrity-poison-${round}`,
            } satisfies SegmentIdentify),
          },
          { key: 'poison', value: rawSerializer.encode(noIdentity) },
        ];
        await producer.send([{ topic, records }]);
      }
    } finally {
      await producer.disconnect();
    }
    return { unreadablePoison: rounds * 3, unmappable };
  },
  check(records, { unreadablePoison = 0, unmappable = new Set() }) {
    const problems: string[] = [];
    const unreadable = records.deadLetters.filter((letter) => letter.mailjetMessageId === undefined).length;
    if (unreadable !== unreadablePoison) {
      problems.push(`${unreadable} unreadable records dead-lettered, ${unreadablePoison} written`);
    }
    for (const id of unmappable) {
      const letters = records.deadLetters.filter((letter) => letter.mailjetMessageId === id).length;
      if (letters !== 1) problems.push(`unmappable event ${id} dead-lettered ${letters} times, not once`);
    }
    return problems;
  },
};
