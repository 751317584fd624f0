import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createIdentityMap, startIdentityView } from '../../connector/identity-view.ts';
import { silentLogger } from '../../core/logger.ts';
import { testKafka, uniqueName } from '../helpers/stack.ts';

test('emails match without case or surrounding spaces', () => {
  const map = createIdentityMap(10);
  map.set(' Ann@Example.com', 'user-1');
  assert.equal(map.get('ann@example.com'), 'user-1');
});

test('an empty or null value deletes the email', () => {
  const map = createIdentityMap(10);
  map.set('a@x.io', 'user-1');
  map.set('a@x.io', '');
  assert.equal(map.get('a@x.io'), undefined);
  map.set('b@x.io', 'user-2');
  map.set('b@x.io', null);
  assert.equal(map.size(), 0);
});

test('the view is bounded: the least recently used email leaves first', () => {
  const map = createIdentityMap(2);
  map.set('a@x.io', '1');
  map.set('b@x.io', '2');
  assert.equal(map.get('a@x.io'), '1', 'a is now the most recently used');
  map.set('c@x.io', '3');
  assert.equal(map.size(), 2);
  assert.equal(map.get('b@x.io'), undefined, 'b was the least recently used');
  assert.equal(map.get('a@x.io'), '1');
  assert.equal(map.get('c@x.io'), '3');
});

test('the view reads the compacted identity topic from the beginning, tombstones included', async (t) => {
  const kafka = testKafka(t);
  const topic = uniqueName('identities');
  await kafka.ensureTopics([{ topic, compacted: true }]);
  const producer = await kafka.producer();
  t.after(() => producer.disconnect());
  await producer.send([
    {
      topic,
      records: [
        { key: 'a@x.io', value: Buffer.from('user-a') },
        { key: 'b@x.io', value: Buffer.from('user-b') },
        { key: 'b@x.io', value: null },
      ],
    },
  ]);
  const view = await startIdentityView({
    kafka,
    topic,
    groupPrefix: uniqueName('view'),
    maxEntries: 100,
    logger: silentLogger(),
  });
  t.after(() => view.close());
  await view.ready;
  assert.equal(view.caughtUp(), true);
  assert.equal(view.applied(), 3, 'ready means every record the topic held at start was applied');
  assert.equal(view.userIdOf('A@x.io'), 'user-a');
  assert.equal(view.userIdOf('b@x.io'), undefined);
  assert.equal(view.userIdOf(null), undefined);
});

test('a view of an empty identity topic is caught up at once', async (t) => {
  const kafka = testKafka(t);
  const topic = uniqueName('identities');
  await kafka.ensureTopics([{ topic, compacted: true }]);
  const view = await startIdentityView({
    kafka,
    topic,
    groupPrefix: uniqueName('view'),
    maxEntries: 100,
    logger: silentLogger(),
  });
  t.after(() => view.close());
  assert.equal(view.caughtUp(), true);
  await view.ready;
});
