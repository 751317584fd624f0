import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { type MessageIdFields, segmentMessageId } from '../../connector/message-id.ts';

const open: MessageIdFields = {
  eventType: 'open',
  messageKey: '19421777396190490',
  time: 1433103519,
  email: 'api@mailjet.com',
  ip: '127.0.0.1',
  agent: 'Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0',
};

test('the id is "mj-" + sha256 hex of the JSON array of the fields, absent ones null', () => {
  // Pinned: computed outside Node (Python hashlib) from the text below. If this changes, every event
  // redelivered across the upgrade reaches Segment twice.
  const text =
    '["open","19421777396190490",1433103519,"api@mailjet.com",null,"127.0.0.1","Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0",null,null]';
  assert.equal(segmentMessageId(open), `mj-${createHash('sha256').update(text).digest('hex')}`);
  assert.equal(segmentMessageId(open), 'mj-aefbb39c2cbe7617a3b2e9838692684b2c2a182bf74439a80c865b52d21ac222');
});

test('the same fields give the same id, of at most 100 characters', () => {
  const id = segmentMessageId(open);
  assert.equal(segmentMessageId({ ...open }), id);
  assert.match(id, /^mj-[0-9a-f]{64}$/);
  assert.ok(id.length <= 100, `${id.length} characters`);
});

test('a change in any field of the tuple gives another id', () => {
  const changes: Partial<MessageIdFields>[] = [
    { eventType: 'click' },
    { messageKey: '19421777396190491' },
    { messageKey: '1ab23cd4-e567-8901-2345-6789f0gh1i2j' },
    { messageKey: undefined },
    { time: 1433103520 },
    { email: 'other@mailjet.com' },
    { email: undefined },
    { url: 'https://mailjet.com' },
    { ip: '::1' },
    { agent: 'List-Unsubscribe' },
    { listId: '1' },
    { source: 'JMRPP' },
  ];
  const ids = new Set([segmentMessageId(open)]);
  for (const change of changes) {
    const id = segmentMessageId({ ...open, ...change });
    assert.ok(!ids.has(id), `${JSON.stringify(change)} collides`);
    ids.add(id);
  }
  assert.equal(ids.size, changes.length + 1);
});

test('a value cannot pass for another field: the joining is unambiguous', () => {
  const base: MessageIdFields = { eventType: 'click', time: 1 };
  assert.notEqual(segmentMessageId({ ...base, url: 'x' }), segmentMessageId({ ...base, ip: 'x' }));
  assert.notEqual(
    segmentMessageId({ ...base, email: 'a","b' }),
    segmentMessageId({ ...base, email: 'a', url: 'b' }),
  );
  assert.notEqual(segmentMessageId({ ...base, email: 'null' }), segmentMessageId(base));
});

test('an empty string is the same as an absent field (Mailjet sends "" for none)', () => {
  assert.equal(segmentMessageId({ ...open, url: '' }), segmentMessageId(open));
});
