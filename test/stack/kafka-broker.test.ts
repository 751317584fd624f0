import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createKafkaClient } from '../../core/kafka.ts';
import { silentLogger } from '../../core/logger.ts';
import { freePort } from '../../stack/free-port.ts';
import { startKafkaBroker } from '../../stack/kafka-broker.ts';
import { ToxiproxyServer } from '../../stack/toxiproxy.ts';
import { uniqueName } from '../helpers/stack.ts';

test('clients bootstrapped on the PROXIED listener are told the proxy’s address, the others the broker’s', async (t) => {
  const advertisedPort = await freePort();
  const options = { port: 0, heapMb: 256, readyTimeoutMs: 120_000, proxiedAdvertisedPort: advertisedPort };
  const broker = await startKafkaBroker(options);
  t.after(() => broker.process.stop());
  assert.ok(broker.proxied);
  assert.equal(broker.proxied.advertised, `127.0.0.1:${advertisedPort}`);
  const toxiproxy = await ToxiproxyServer.start();
  t.after(() => toxiproxy.stop());
  const proxy = await toxiproxy.proxy('kafka', broker.proxied.advertised, broker.proxied.bound);
  const client = (bootstrap: string) => {
    const kafka = createKafkaClient({
      brokers: [bootstrap],
      clientId: uniqueName('proxied'),
      logger: silentLogger(),
      connectionTimeoutMs: 1000,
      retries: 0,
    });
    t.after(() => kafka.close());
    return kafka;
  };

  const [direct] = (await client(broker.bootstrap).describeCluster()).brokers;
  assert.equal(`${direct?.host}:${direct?.port}`, broker.bootstrap);
  const proxied = client(proxy.listen);
  const [throughProxy] = (await proxied.describeCluster()).brokers;
  assert.equal(`${throughProxy?.host}:${throughProxy?.port}`, proxy.listen);
  // Every request of such a client goes through the proxy: topics are created and read through it.
  const topic = uniqueName('proxied');
  await proxied.ensureTopics([{ topic, partitions: 1 }]);
  assert.deepEqual([...(await proxied.endOffsets(topic))], [[0, '0']]);

  await proxy.setEnabled(false);
  await assert.rejects(client(proxy.listen).describeCluster());
  await proxy.setEnabled(true);

  // A broker started again on the PROXIED port it had is behind the same proxy, unchanged.
  await broker.process.stop();
  const again = await startKafkaBroker({
    ...options,
    proxiedPort: Number(broker.proxied.bound.split(':')[1]),
  });
  t.after(() => again.process.stop());
  assert.deepEqual(again.proxied, broker.proxied);
  const [restarted] = (await client(proxy.listen).describeCluster()).brokers;
  assert.equal(`${restarted?.host}:${restarted?.port}`, proxy.listen);
});
