/**
 * The one module that knows which Kafka client the project uses: its interfaces, and their
 * implementation on @platformatic/kafka. Everything else talks to these small interfaces, so a switch
 * to another client touches this file and nothing more.
 */
import {
  Admin,
  type BaseOptions,
  type CommitOptionsPartition,
  type CompressionAlgorithmValue,
  ConfigResourceTypes,
  type ConnectionPoolEventPayload,
  type ExtendedGroupProtocolSubscription,
  FetchIsolationLevels,
  type GroupPartitionsAssignments,
  ListOffsetTimestamps,
  type Message,
  type MessagesStream,
  MessagesStreamFallbackModes,
  type MessagesStreamFallbackModeValue,
  MessagesStreamModes,
  type MessageToProduce,
  Consumer as PlatformaticConsumer,
  Producer as PlatformaticProducer,
  ProduceAcks,
  ROUNDROBIN_ASSIGNOR,
} from '@platformatic/kafka';
import { settleWithin } from './deadline.ts';
import { ConnectorError } from './errors.ts';
import type { Logger } from './logger.ts';

/** TLS and SASL towards the brokers (core/cluster-security.ts reads them from the environment). */
export interface KafkaSecurity {
  /** TLS; `ca` replaces the system's CAs, `cert` and `key` are the client's for mutual TLS (PEM). */
  tls?: { ca?: string; cert?: string; key?: string };
  sasl?: { mechanism: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512'; username: string; password: string };
}

export interface KafkaSettings {
  brokers: string[];
  clientId: string;
  logger: Logger;
  /** How long one connection attempt may take; the client retries on its own after that. */
  connectionTimeoutMs?: number;
  /** Retries of one request before it fails; probes use 0 to poll on their own schedule. */
  retries?: number;
  security?: KafkaSecurity;
  /** Codec of the batches this client's producers write (consumers read every codec). Default none. */
  compression?: ProducerCompression;
}

/** What the producers may write; consumers read all of them (test/core/kafka-codecs.test.ts, against Kafka's Java client). */
export const producerCompressions = ['none', 'gzip', 'snappy', 'zstd', 'lz4'] as const;
export type ProducerCompression = (typeof producerCompressions)[number];

export interface OutgoingRecord {
  key: string | Buffer | null;
  value: Buffer | null;
  headers?: Record<string, string | Buffer>;
  /** Milliseconds since the epoch; unset, the producer stamps the time of sending. */
  timestamp?: number;
}

export interface IncomingRecord {
  topic: string;
  partition: number;
  offset: string;
  timestamp: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer | undefined>;
}

export interface TopicSpec {
  topic: string;
  partitions?: number;
  /** Log-compacted topics keep the newest record per key (identity tables). */
  compacted?: boolean;
  /** The topic's max.message.bytes: the largest record batch it takes. Unset: the broker's default. */
  maxMessageBytes?: number;
  /** Unset: the broker's default.replication.factor. */
  replicationFactor?: number;
  /** Replicas that must have a record before acks=all answers. Unset: the broker's default. */
  minInsyncReplicas?: number;
}

/** What start-up checks of an existing topic: its settings as the broker applies them. */
export interface TopicDescription {
  topic: string;
  /** The fewest replicas any of its partitions has. */
  replicationFactor: number;
  maxMessageBytes: number;
  minInsyncReplicas: number;
}

export interface GroupDescription {
  state: string;
  members: { memberId: string; partitions: Record<string, number[]> }[];
}

export interface ClusterInfo {
  clusterId: string;
  brokers: { nodeId: number; host: string; port: number }[];
}

export interface TopicRecords {
  topic: string;
  records: OutgoingRecord[];
}

export interface Producer {
  /** Sends records of one or more topics in one request per broker; resolves once all are acked (acks=all). */
  send(batches: TopicRecords[]): Promise<void>;
  disconnect(): Promise<void>;
}

export interface TransactionalProducer {
  /** Starts a transaction; one at a time per producer. */
  begin(): Promise<KafkaTransaction>;
  /**
   * Gives the transaction under way up without waiting for the cluster (one that hangs past its
   * deadline): the coordinator aborts it after its timeout, and the next begin() starts a new client
   * with the same transactional id, whose registration fences the old one.
   */
  abandon(): void;
  disconnect(): Promise<void>;
}

export interface KafkaTransaction {
  send(batches: TopicRecords[]): Promise<void>;
  /**
   * Commits `offsets` (the next offset to read, per partition) for `consumer`'s group as part of the
   * transaction: the read-process-write step is then all or nothing. The consumer must have joined its
   * group (its generation fences a member that lost the partitions meanwhile).
   */
  sendOffsets(
    consumer: Consumer,
    offsets: { topic: string; partition: number; offset: string }[],
    /**
     * The group generation the records were read in (default: the consumer's current one). A member
     * that joined a newer generation meanwhile may no longer own those partitions, and the coordinator
     * checks the generation, not the assignment: the commit must carry the old one, to be refused.
     */
    generation?: GroupGeneration,
  ): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

/** A member's generation in its group, as a transaction's offsets carry it (KIP-447). */
export interface GroupGeneration {
  generationId: number;
  memberId: string;
}

export interface RecordBatch {
  topic: string;
  partition: number;
  records: IncomingRecord[];
  /**
   * Tells the group coordinator we are alive. The client heartbeats on its own timer whatever the handler
   * does, so this resolves at once; kept for handlers written against a client that needed it.
   */
  heartbeat(): Promise<void>;
}

export interface BatchRunOptions {
  partitionsConcurrently?: number;
  /**
   * Largest batch handed to the handler: a fetched batch is split into pieces of at most this many
   * records, each committed after its handler resolved, so a stop or crash loses less work.
   */
  maxBatchRecords?: number;
  /**
   * Bounded reading: the first offset not to read, per partition (undefined: unbounded). Records at or
   * past it are never handed over, the commit stops there, and the partition is paused once reached.
   */
  endOffsetOf?: (topic: string, partition: number) => string | undefined;
  /**
   * Asked for every partition this member is assigned, each time the group is joined and before the
   * first fetch: the offset to read from, or undefined to go on from the committed offset.
   */
  startOffsetOf?: (topic: string, partition: number) => string | undefined;
  /**
   * Once aborted, no further records are handed over (nor committed); the batch in the handler finishes.
   * Stop this way rather than by throwing from the handler: a throw means "this batch failed", and its
   * records come again from the committed offset.
   */
  signal?: AbortSignal;
  /** Off: offsets are never committed (dry runs must leave no progress behind). Default on. */
  commit?: boolean;
  /** Called after a batch was committed (or handled, with commit off) with the next offset to read. */
  onCommitted?: (topic: string, partition: number, nextOffset: string) => void;
}

export interface Consumer {
  subscribe(topics: string[], options?: { fromBeginning?: boolean }): Promise<void>;
  /** Hands over records one by one; the offset of a record is committed after its handler resolved. */
  run(handler: (record: IncomingRecord) => Promise<void>): Promise<void>;
  /**
   * Hands over the records of one partition at a time. The batch's offsets are committed only after the
   * handler resolved; if it throws, nothing is committed and the records come again. While handlers
   * wait, fetching stops once a bounded buffer is full: back-pressure instead of buffering.
   */
  runBatches(handler: (batch: RecordBatch) => Promise<unknown>, options?: BatchRunOptions): Promise<void>;
  /**
   * Read-process-write, exactly once: the handler returns what its batch becomes (records of any
   * topics), and those records and the batch's next offset are committed in one transaction of
   * `producer`, or neither is. A batch whose transaction failed (a rebalance fenced this member, a
   * broker away) was aborted whole: it comes again from the committed offset, to whichever member has
   * the partition, and read_committed readers never see its first attempt. Batches of several
   * partitions finished together share one transaction. Committed offsets are read stable (a
   * transaction still open on them is waited for), so a partition that moved is not read from before
   * the batch its last owner was committing.
   */
  runTransactions(
    producer: TransactionalProducer,
    handler: (batch: RecordBatch) => Promise<TopicRecords[]>,
    options?: Omit<BatchRunOptions, 'commit'>,
  ): Promise<void>;
  /** Finishes the batches in progress, then leaves the group. */
  disconnect(): Promise<void>;
  /** Called when the client gives up for good (after its own retries); the process should stop. */
  onCrash(listener: (error: Error) => void): void;
  /** Called when this member got partitions assigned (the group is joined). */
  onGroupJoin(listener: () => void): void;
}

export interface KafkaClient {
  describeCluster(): Promise<ClusterInfo>;
  ensureTopics(topics: TopicSpec[]): Promise<void>;
  /** The settings of existing topics (missing ones are left out). */
  describeTopics(topics: string[]): Promise<TopicDescription[]>;
  /** The offsets a consumer group committed on a topic, per partition ('-1' where none). */
  committedOffsets(groupId: string, topic: string): Promise<Map<number, string>>;
  /** The next offset to be written, per partition (the high watermark). */
  endOffsets(topic: string): Promise<Map<number, string>>;
  /**
   * A consumer group as its coordinator sees it: its state (`Stable` once a rebalance is over,
   * `PreparingRebalance` and `CompletingRebalance` during one, `Empty`, `Dead`) and each member's
   * partitions, by topic.
   */
  describeGroup(groupId: string): Promise<GroupDescription>;
  /**
   * Per partition, the first offset whose record timestamp is at or after `timestampMs`; the high
   * watermark where no record is that late.
   */
  offsetsForTime(topic: string, timestampMs: number): Promise<Map<number, string>>;
  /** Whether the topic exists on the cluster. */
  topicExists(topic: string): Promise<boolean>;
  producer(options?: { idempotent?: boolean }): Promise<Producer>;
  /**
   * A transactional producer: what it sends in a transaction, and the consumer offsets it adds, become
   * visible to read_committed consumers together when the transaction commits, or never.
   */
  transactionalProducer(options: { transactionalId: string }): Promise<TransactionalProducer>;
  consumer(options: {
    groupId: string;
    /** Most bytes one fetch brings per partition: what one batch in the handler holds (256 KiB). */
    maxBytesPerPartition?: number;
    /**
     * Isolation level: read_committed (the default, as Java's) hands over only records of
     * committed transactions; off, records of open and aborted transactions too.
     */
    readCommitted?: boolean;
    /**
     * How long the group waits for a member that stopped heartbeating (a SIGKILLed or frozen process)
     * before its partitions go to the others; a member that leaves cleanly hands them over at once.
     * Default 30 s. The broker refuses values outside its group.min/max.session.timeout.ms.
     */
    sessionTimeoutMs?: number;
  }): Promise<Consumer>;
  /** Closes the admin connection this client opened lazily; producers and consumers close themselves. */
  close(): Promise<void>;
}

export function createKafkaClient(settings: KafkaSettings): KafkaClient {
  const log = settings.logger.child({ component: 'kafka' });
  const compression = settings.compression ?? 'none';
  const base = () => baseOptions(settings);
  // What every producer of the project shares, transactional or not: acks=all, the codec of
  // KAFKA_COMPRESSION, Java's partitioning, and never a topic created by a send.
  const producerOptions = () => ({
    ...base(),
    acks: ProduceAcks.ALL,
    compression: compression as CompressionAlgorithmValue,
    partitioner: javaCompatiblePartitioner(),
    autocreateTopics: false,
  });
  const connect = async (client: Connectable) => {
    // A TLS alert after the handshake (a listener requiring a client certificate) reaches the request
    // only as "Connection closed": the socket's own error is kept from the connection's events.
    const socketErrors: unknown[] = [];
    const watch = ({ connection }: ConnectionPoolEventPayload) => {
      connection.on('error', (err: Error) => socketErrors.push(err));
    };
    client.on('client:broker:connect', watch);
    try {
      // The clients connect lazily: ask something at once, so a wrong password or CA fails the start.
      await client.metadata({ topics: [] });
    } catch (err) {
      throw connectError(err, settings, socketErrors);
    } finally {
      client.off('client:broker:connect', watch);
    }
  };
  // The connecting admin, shared: concurrent first calls must wait for one connection rather than each
  // open their own, which close() would never see (their sockets kept the process alive).
  let admin: Promise<Admin> | undefined;
  const connectedAdmin = (): Promise<Admin> => {
    admin ??= (async () => {
      const created = new Admin(base());
      try {
        await connect(created);
      } catch (err) {
        await created.close().catch(() => {});
        admin = undefined; // The next call tries again.
        throw err;
      }
      return created;
    })();
    return admin;
  };
  /**
   * A group's committed offsets, stable only: those a transaction committed become visible once its
   * markers are written, a moment after the commit returned, and those of a transaction still open are
   * waited for; until then the broker answers UNSTABLE_OFFSET_COMMIT, which the client retries, instead
   * of the offsets from before the transaction. By topic, indexed by partition (-1: none).
   */
  const stableCommitted = async (
    groupId: string,
    partitions: { topic: string; partitions: number[] }[],
  ): Promise<Map<string, bigint[]>> => {
    const [group] = await (await connectedAdmin()).listConsumerGroupOffsets({
      groups: [
        { groupId, topics: partitions.map((p) => ({ name: p.topic, partitionIndexes: p.partitions })) },
      ],
      requireStable: true,
    });
    const committed = new Map<string, bigint[]>();
    for (const { name, partitions: found } of group?.topics ?? []) {
      const offsets: bigint[] = [];
      for (const { partitionIndex, committedOffset } of found) offsets[partitionIndex] = committedOffset;
      committed.set(name, offsets);
    }
    return committed;
  };
  const partitionCount = async (topic: string): Promise<number> => {
    const metadata = await (await connectedAdmin()).metadata({ topics: [topic], forceUpdate: true });
    const count = metadata.topics.get(topic)?.partitionsCount;
    if (count === undefined) throw new Error(`Kafka has no topic ${topic}`);
    return count;
  };
  const listOffsets = async (topic: string, timestamp: bigint): Promise<Map<number, bigint>> => {
    const count = await partitionCount(topic);
    const [result] = await (await connectedAdmin()).listOffsets({
      // The high watermark, not the last stable offset: what the end of a partition is for lag and replay.
      isolationLevel: FetchIsolationLevels.READ_UNCOMMITTED,
      topics: [
        {
          name: topic,
          partitions: Array.from({ length: count }, (_, partitionIndex) => ({ partitionIndex, timestamp })),
        },
      ],
    });
    return new Map((result?.partitions ?? []).map((p) => [p.partitionIndex, p.offset]));
  };

  return {
    async describeCluster() {
      const metadata = await (await connectedAdmin()).metadata({ topics: [] });
      return {
        clusterId: metadata.id,
        brokers: [...metadata.brokers].map(([nodeId, { host, port }]) => ({ nodeId, host, port })),
      };
    },
    async ensureTopics(topics) {
      const admin = await connectedAdmin();
      const existing = new Set(await admin.listTopics());
      const missing = topics.filter((t) => !existing.has(t.topic));
      if (missing.length === 0) return;
      // One request per topic: the configs of a request apply to all its topics.
      await Promise.all(
        missing.map(async (t) => {
          try {
            await admin.createTopics({
              topics: [t.topic],
              partitions: t.partitions ?? 1,
              // -1: the broker's default.replication.factor.
              replicas: t.replicationFactor ?? -1,
              configs: topicConfigs(t),
            });
          } catch (err) {
            // Another process created it meanwhile: what was asked for exists.
            if (!hasApiError(err, 'TOPIC_ALREADY_EXISTS')) throw withBrokerReasons(err, t.topic);
          }
        }),
      );
      await waitUntilServed(
        admin,
        missing.map((t) => t.topic),
      );
    },
    async describeTopics(topics) {
      const admin = await connectedAdmin();
      const existing = new Set(await admin.listTopics());
      const names = topics.filter((topic) => existing.has(topic));
      if (names.length === 0) return [];
      const [metadata, configs] = await Promise.all([
        // A copy: the client sorts the array it is given, in place.
        admin.metadata({ topics: [...names], forceUpdate: true }),
        admin.describeConfigs({
          includeSynonyms: false,
          resources: names.map((resourceName) => ({
            resourceType: ConfigResourceTypes.TOPIC,
            resourceName,
            configurationKeys: ['max.message.bytes', 'min.insync.replicas'],
          })),
        }),
      ]);
      return names.map((topic) => {
        const partitions = metadata.topics.get(topic)?.partitions ?? [];
        const entries = configs.find((r) => r.resourceName === topic)?.configs ?? [];
        const value = (name: string) => Number(entries.find((e) => e.name === name)?.value);
        return {
          topic,
          replicationFactor: Math.min(...partitions.map((p) => p.replicas.length)),
          maxMessageBytes: value('max.message.bytes'),
          minInsyncReplicas: value('min.insync.replicas'),
        };
      });
    },
    async committedOffsets(groupId, topic) {
      const count = await partitionCount(topic);
      const partitionIndexes = Array.from({ length: count }, (_, i) => i);
      const found = (await stableCommitted(groupId, [{ topic, partitions: partitionIndexes }])).get(topic);
      return new Map(partitionIndexes.map((p) => [p, String(found?.[p] ?? -1n)]));
    },
    async describeGroup(groupId) {
      const groups = await (await connectedAdmin()).describeGroups({ groups: [groupId] });
      const group = groups.get(groupId);
      return {
        state: group?.state ?? 'Dead',
        members: [...(group?.members.values() ?? [])].map((member) => ({
          memberId: member.id,
          partitions: Object.fromEntries(
            [...(member.assignments?.values() ?? [])].map((a) => [a.topic, [...a.partitions]]),
          ),
        })),
      };
    },
    async endOffsets(topic) {
      const offsets = await listOffsets(topic, ListOffsetTimestamps.LATEST);
      return new Map([...offsets].map(([partition, offset]) => [partition, String(offset)]));
    },
    async offsetsForTime(topic, timestampMs) {
      const [byTime, end] = await Promise.all([
        listOffsets(topic, BigInt(timestampMs)),
        listOffsets(topic, ListOffsetTimestamps.LATEST),
      ]);
      // -1 where no record is that late: the high watermark then, as the interface promises.
      return new Map(
        [...end].map(([partition, high]) => {
          const offset = byTime.get(partition) ?? -1n;
          return [partition, String(offset < 0n ? high : offset)];
        }),
      );
    },
    async topicExists(topic) {
      return (await (await connectedAdmin()).listTopics()).includes(topic);
    },
    async producer(options = {}) {
      const producer = new PlatformaticProducer({
        ...producerOptions(),
        idempotent: options.idempotent ?? true,
      });
      await connectOrClose(producer, connect);
      return wrapProducer(producer, options.idempotent ?? true);
    },
    async transactionalProducer({ transactionalId }) {
      const create = async () => {
        const producer = new PlatformaticProducer({
          ...producerOptions(),
          transactionalId,
          idempotent: true,
        });
        await connectOrClose(producer, connect);
        return producer;
      };
      return wrapTransactionalProducer(await create(), create);
    },
    async consumer({
      groupId,
      maxBytesPerPartition = 256 * 1024,
      readCommitted = true,
      sessionTimeoutMs = DEFAULT_SESSION_TIMEOUT_MS,
    }) {
      // The user data of this member's JoinGroup: the partitions it has (see stickyAssignment), updated
      // at each join. A Buffer the client encodes as it joins, not a protocolsMetadata callback: the
      // client resolves that one asynchronously before each JoinGroup, so two joins asked at once (a
      // heartbeat's and a refused commit's) went out as two, and the leader's second started another
      // rebalance, and so on for good. The protocol keeps the name earlier versions of this project
      // announced (the client's round robin): a group takes only a protocol every member names, so a
      // rolling upgrade's members still share one; led by an older member, the group is round robin.
      const protocol = { name: ROUNDROBIN_ASSIGNOR, version: 1, metadata: ownershipUserData([]) };
      const consumer: PlatformaticConsumer = new PlatformaticConsumer({
        ...base(),
        groupId,
        autocommit: false,
        // What one batch in a handler holds: 256 KiB is about 450 raw events. A batch waits for its sinks
        // (Segment, Mailjet, the topics), so its records' objects outlive the young generation and the old
        // one grows with them; smaller fetches keep the connector's peak memory down (npm run bench:connector).
        maxBytesPerPartition,
        // An idle fetch returns after this long; closing the stream waits for it, so it bounds shutdown.
        maxWaitTime: 1000,
        isolationLevel: readCommitted
          ? FetchIsolationLevels.READ_COMMITTED
          : FetchIsolationLevels.READ_UNCOMMITTED,
        ...groupTimeouts(sessionTimeoutMs),
        // Sticky: each member tells what it had when it rejoins, and the leader leaves it there.
        protocols: [protocol],
        partitionAssigner: stickyAssigner,
      });
      consumer.on('consumer:group:join', () => {
        protocol.metadata = ownershipUserData(consumer.assignments ?? []);
      });
      await connectOrClose(consumer, connect);
      return wrapConsumer(consumer, {
        log: log.child({ groupId }),
        maxBytesPerPartition,
        sessionTimeoutMs,
        stableCommitted: (assigned) => stableCommitted(groupId, assigned),
      });
    },
    async close() {
      const closing = admin;
      admin = undefined;
      await closing?.then(
        (connected) => connected.close(),
        () => {},
      );
    },
  };
}

/** Java's default session: a member that died without leaving is replaced after 30 s (the client's own is 60). */
export const DEFAULT_SESSION_TIMEOUT_MS = 30_000;

/**
 * A group member's timeouts from its session timeout. Heartbeats every tenth of the session (Java's
 * 3 s of its 30 s), so a member misses several before the coordinator gives up on it. The rebalance
 * timeout (how long the coordinator waits for the members to rejoin, each finishing its batches in
 * flight first) stays 60 s, never below the session, which the client requires.
 */
export function groupTimeouts(sessionTimeoutMs: number): {
  sessionTimeout: number;
  heartbeatInterval: number;
  rebalanceTimeout: number;
} {
  return {
    sessionTimeout: sessionTimeoutMs,
    heartbeatInterval: Math.max(100, Math.floor(sessionTimeoutMs / 10)),
    rebalanceTimeout: Math.max(60_000, sessionTimeoutMs),
  };
}

/** Partitions by topic. */
export type TopicPartitions = Record<string, number[]>;

/** A member of a group as the leader sees it when it assigns: its topics and what it had. */
export interface GroupMemberClaim {
  memberId: string;
  topics: string[];
  /** The partitions it had; absent for a new member. */
  owned?: TopicPartitions;
}

/**
 * A balanced assignment that moves as few partitions as it can (Kafka's StickyAssignor, for the
 * classic eager protocol): each member keeps what it had, up to its share, and only the partitions
 * of members gone, or beyond a member's share, go to the others. With round robin a member leaving
 * moved partitions between the members that stayed: the batches each had in flight during the
 * rebalance could not be committed, and came again to another member (duplicates). A partition two
 * members claim (one was cut off and came back) stays with neither: the claims are not to be trusted.
 */
export function stickyAssignment(
  members: GroupMemberClaim[],
  partitionCounts: ReadonlyMap<string, number>,
): Map<string, TopicPartitions> {
  const ids = members.map((m) => m.memberId).sort();
  const byId = new Map(members.map((m) => [m.memberId, m]));
  const all: { topic: string; partition: number; key: string }[] = [];
  for (const topic of [...partitionCounts.keys()].sort()) {
    if (!members.some((m) => m.topics.includes(topic))) continue;
    for (let partition = 0; partition < (partitionCounts.get(topic) ?? 0); partition++) {
      all.push({ topic, partition, key: `${topic}:${partition}` });
    }
  }
  const claims = new Map<string, { memberId: string; contested: boolean }>();
  for (const id of ids) {
    const member = byId.get(id) as GroupMemberClaim;
    for (const [topic, partitions] of Object.entries(member.owned ?? {})) {
      if (!member.topics.includes(topic)) continue;
      for (const partition of partitions) {
        const key = `${topic}:${partition}`;
        const claim = claims.get(key);
        if (claim) claim.contested = true;
        else claims.set(key, { memberId: id, contested: false });
      }
    }
  }
  const kept = new Map<string, typeof all>(ids.map((id) => [id, []]));
  const pool: typeof all = [];
  for (const tp of all) {
    const claim = claims.get(tp.key);
    if (claim && !claim.contested) kept.get(claim.memberId)?.push(tp);
    else pool.push(tp);
  }
  // Shares: floor(total / members) each, one more for as many as the remainder, given first to those
  // that had the most (so fewer partitions move).
  const base = Math.floor(all.length / Math.max(1, ids.length));
  let larger = all.length - base * ids.length;
  const share = new Map<string, number>();
  for (const id of [...ids].sort((a, b) => (kept.get(b)?.length ?? 0) - (kept.get(a)?.length ?? 0))) {
    share.set(id, base + (larger-- > 0 ? 1 : 0));
  }
  for (const id of ids) {
    const mine = kept.get(id) as typeof all;
    pool.push(...mine.splice(share.get(id) as number));
  }
  pool.sort((a, b) => (a.topic === b.topic ? a.partition - b.partition : a.topic < b.topic ? -1 : 1));
  for (const tp of pool) {
    const eligible = ids.filter((id) => byId.get(id)?.topics.includes(tp.topic));
    const size = (id: string) => kept.get(id)?.length ?? 0;
    const below = eligible.filter((id) => size(id) < (share.get(id) as number));
    const candidates = below.length > 0 ? below : eligible;
    const to = candidates.reduce((best, id) => (size(id) < size(best) ? id : best), candidates[0] as string);
    kept.get(to)?.push(tp);
  }
  return new Map(
    ids.map((id) => {
      const partitions: TopicPartitions = {};
      for (const { topic, partition } of kept.get(id) ?? []) {
        partitions[topic] = [...(partitions[topic] ?? []), partition];
      }
      for (const list of Object.values(partitions)) list.sort((a, b) => a - b);
      return [id, partitions];
    }),
  );
}

/**
 * What a member tells the leader when it (re)joins: the partitions it had, and nothing that changes
 * with each generation. A member joining again while the group is stable (the client does, after
 * some errors) with other metadata than before starts a new rebalance, and each would start the next.
 */
function ownershipUserData(assignments: { topic: string; partitions: number[] }[]): Buffer {
  const partitions: TopicPartitions = {};
  for (const { topic, partitions: list } of assignments) {
    partitions[topic] = [...list].sort((a, b) => a - b);
  }
  return Buffer.from(JSON.stringify({ partitions }));
}

/** The leader's side of the sticky assignment, on @platformatic/kafka's assigner interface. */
function stickyAssigner(
  _current: string,
  members: Map<string, ExtendedGroupProtocolSubscription>,
  topics: Set<string>,
  metadata: { topics: Map<string, { partitionsCount: number }> },
): GroupPartitionsAssignments[] {
  const claims: GroupMemberClaim[] = [...members].map(([memberId, member]) => {
    const claim: GroupMemberClaim = { memberId, topics: member.topics ?? [] };
    try {
      // Another client in the group (or an older version of this one) sends other user data, or none.
      const data = JSON.parse(String(member.metadata ?? '')) as { partitions?: TopicPartitions };
      if (data && typeof data.partitions === 'object') claim.owned = data.partitions;
    } catch {}
    return claim;
  });
  const counts = new Map<string, number>();
  for (const topic of topics) {
    const count = metadata.topics.get(topic)?.partitionsCount;
    if (count !== undefined) counts.set(topic, count);
  }
  return [...stickyAssignment(claims, counts)].map(([memberId, partitions]) => ({
    memberId,
    assignments: new Map(
      Object.entries(partitions).map(([topic, list]) => [topic, { topic, partitions: list }]),
    ),
  }));
}

/** The topic-level configs a TopicSpec asks for, as CreateTopics takes them. */
export function topicConfigs(spec: TopicSpec): { name: string; value: string }[] {
  const configs: { name: string; value: string }[] = [];
  if (spec.compacted) configs.push({ name: 'cleanup.policy', value: 'compact' });
  if (spec.maxMessageBytes !== undefined) {
    configs.push({ name: 'max.message.bytes', value: String(spec.maxMessageBytes) });
  }
  if (spec.minInsyncReplicas !== undefined) {
    configs.push({ name: 'min.insync.replicas', value: String(spec.minInsyncReplicas) });
  }
  return configs;
}

/** What connect() needs of a client: the first request, and the events of its connections. */
interface Connectable {
  metadata(options: { topics: string[] }): Promise<unknown>;
  on(event: 'client:broker:connect', listener: (payload: ConnectionPoolEventPayload) => void): unknown;
  off(event: 'client:broker:connect', listener: (payload: ConnectionPoolEventPayload) => void): unknown;
}

async function connectOrClose(
  client: Connectable & { close(): Promise<void> },
  connect: (client: Connectable) => Promise<void>,
): Promise<void> {
  try {
    await connect(client);
  } catch (err) {
    await client.close().catch(() => {});
    throw err;
  }
}

/**
 * Retries of one request: 5, from 300 ms, doubling, at most 5 s each (some 10 s in all), so a broker restart or a coordinator still loading at start-up is waited out quietly.
 */
function baseOptions(settings: KafkaSettings): BaseOptions {
  const { tls, sasl } = settings.security ?? {};
  return {
    clientId: settings.clientId,
    bootstrapBrokers: settings.brokers,
    connectTimeout: settings.connectionTimeoutMs ?? 3000,
    retries: settings.retries ?? 5,
    retryDelay: (_client, _operation, attempt, _retries, error) =>
      // A transaction's first request after the previous one committed is refused until the
      // coordinator wrote its markers, a few ms later: asked again soon, as Java's producer does (20 ms),
      // not after the 300 ms that suit a broker away, which held each transaction that long.
      hasApiError(error, 'CONCURRENT_TRANSACTIONS')
        ? 20 * 2 ** Math.max(0, attempt - 1)
        : Math.min(300 * 2 ** Math.max(0, attempt - 1), 5000),
    ...(tls ? { tls: { ...tls } } : {}),
    ...(sasl
      ? { sasl: { mechanism: sasl.mechanism, username: sasl.username, password: sasl.password } }
      : {}),
  };
}

/**
 * Waits until every partition of the new topics is served by its leader. The metadata names a leader
 * before that broker has taken the partition on: a ListOffsets then still fails NOT_LEADER_OR_FOLLOWER,
 * so a partition counts as ready only once its offsets list without error.
 */
async function waitUntilServed(admin: Admin, topics: string[]): Promise<void> {
  const served = async (): Promise<boolean> => {
    const metadata = await admin.metadata({ topics, forceUpdate: true });
    const described = topics.map((name) => ({
      name,
      partitions: metadata.topics.get(name)?.partitions ?? [],
    }));
    const led = described.every(
      (t) => t.partitions.length > 0 && t.partitions.every((p) => p && p.leader >= 0),
    );
    if (!led) return false;
    await admin.listOffsets({
      isolationLevel: FetchIsolationLevels.READ_UNCOMMITTED,
      topics: described.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((_, partitionIndex) => ({ partitionIndex, timestamp: -1n })),
      })),
    });
    return true;
  };
  for (let attempt = 0; ; attempt++) {
    // Each look bounded: a request left unanswered must not hold a process's start for good.
    const ready = await settleWithin(
      served().catch(() => false),
      10_000,
      () => false,
    );
    if (ready || attempt >= 200) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Errors of @platformatic/kafka nest: retries gather attempts in `errors`, wrappers keep a `cause`. */
function* errorChain(err: unknown, depth = 0): Generator<Record<string, unknown>> {
  if (!err || typeof err !== 'object' || depth > 8) return;
  const error = err as Record<string, unknown>;
  yield error;
  if (Array.isArray(error.errors)) for (const inner of error.errors) yield* errorChain(inner, depth + 1);
  if (error.cause) yield* errorChain(error.cause, depth + 1);
}

/**
 * The client says only "Creating topics failed."; the broker's reason (a replication factor above the
 * brokers there are, a config value refused) is in the nested protocol errors.
 */
function withBrokerReasons(err: unknown, topic: string): unknown {
  const reasons = [...errorChain(err)]
    .filter((error) => typeof error.apiId === 'string')
    .map((error) =>
      typeof error.serverErrorMessage === 'string' && error.serverErrorMessage !== ''
        ? `${topic}: ${error.message} (${error.serverErrorMessage})`
        : `${topic}: ${error.message}`,
    );
  if (reasons.length === 0) return err;
  return new Error(`${(err as Error).message} ${reasons.join('; ')}`, { cause: err });
}

function hasApiError(err: unknown, apiId: string): boolean {
  for (const error of errorChain(err)) if (error.apiId === apiId) return true;
  return false;
}

/**
 * An error no waiting heals: a refused login, a missing permission, a request the client itself
 * refuses. Everything else (a broker down, a timeout, a coordinator moving or still loading, a
 * rebalance) is worth another attempt.
 */
function isFatal(err: unknown): boolean {
  for (const error of errorChain(err)) {
    if (error.code === 'PLT_KFK_AUTHENTICATION' || error.code === 'PLT_KFK_USER') return true;
    if (
      typeof error.apiId === 'string' &&
      /AUTHORIZATION_FAILED|SASL_AUTHENTICATION_FAILED|INVALID_SESSION_TIMEOUT/.test(error.apiId)
    )
      return true;
  }
  return false;
}

/** A consumer's fatal error as the catalogue's code when it has one: the setting to fix is then named. */
function consumerFatalError(err: unknown, sessionTimeoutMs: number): Error {
  if (hasApiError(err, 'INVALID_SESSION_TIMEOUT')) {
    return new ConnectorError(
      'KAFKA_SESSION_TIMEOUT_REFUSED',
      `The group coordinator refused a session timeout of ${sessionTimeoutMs} ms (KAFKA_SESSION_TIMEOUT_MS)`,
      { cause: err },
    );
  }
  return err as Error;
}

/** Certificate errors of Node's TLS: the brokers' certificate is not one the configured CAs vouch for. */
const certificateCodes = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * A failed first connection, as the catalogue's KAFKA_AUTH_FAILED or KAFKA_TLS_FAILED when it is one of
 * those (neither heals by waiting: the process must stop and say which setting to fix); anything else
 * as it came. The client wraps the cause in retry and connection errors, so the whole chain is searched.
 */
function connectError(err: unknown, settings: KafkaSettings, socketErrors: unknown[] = []): unknown {
  const where = settings.brokers.join(',');
  const chain = [...errorChain(err), ...socketErrors.flatMap((socketError) => [...errorChain(socketError)])];
  for (const error of chain) {
    const { message, code, apiId } = error as { message?: string; code?: string; apiId?: string };
    if (code === 'PLT_KFK_AUTHENTICATION' || apiId === 'SASL_AUTHENTICATION_FAILED') {
      const mechanism = settings.security?.sasl?.mechanism ?? 'PLAIN';
      const said = (error as { serverErrorMessage?: string }).serverErrorMessage ?? message;
      return new ConnectorError(
        'KAFKA_AUTH_FAILED',
        `Kafka (${where}) refused the SASL login: SASL ${mechanism} authentication failed: ${said}`,
        { cause: err },
      );
    }
  }
  for (const error of chain) {
    const { message, code } = error as { message?: string; code?: string };
    if ((code && certificateCodes.has(code)) || (message && /certificate|ssl|tls/i.test(message))) {
      return new ConnectorError('KAFKA_TLS_FAILED', `TLS with Kafka (${where}) failed: ${message}`, {
        cause: err,
      });
    }
  }
  return err;
}

/**
 * Java-compatible partitioning: murmur2 of the key, or of the value for a keyless record (see
 * partitionOf), so keys land where Kafka Streams or Connect would put them. The client takes the
 * result modulo the topic's partition count, so the non-negative hash is returned as it is.
 */
function javaCompatiblePartitioner() {
  let roundRobin = 0;
  return (message: MessageToProduce): number => {
    const basis = message.key ?? message.value;
    if (basis === null || basis === undefined) return roundRobin++ & 0x7fffffff;
    return murmur2(basis) & 0x7fffffff;
  };
}

function toMessages(batches: TopicRecords[]): MessageToProduce[] {
  const messages: MessageToProduce[] = [];
  for (const { topic, records } of batches) {
    for (const record of records) {
      const message: MessageToProduce = {
        topic,
        key: typeof record.key === 'string' ? Buffer.from(record.key) : (record.key ?? undefined),
        // A null value is a tombstone (compacted topics): written as null, not as empty bytes.
        value: record.value ?? (undefined as unknown as Buffer),
      };
      if (record.timestamp !== undefined) message.timestamp = BigInt(record.timestamp);
      if (record.headers) {
        message.headers = new Map(
          Object.entries(record.headers).map(([name, value]) => [
            Buffer.from(name),
            typeof value === 'string' ? Buffer.from(value) : value,
          ]),
        );
      }
      messages.push(message);
    }
  }
  return messages;
}

/**
 * Sends one request at a time when idempotent: the client itself sends concurrent sends concurrently,
 * and a retried earlier one would then land after a later one (out of order, though nothing is lost).
 * The project's producers already coalesce their callers (core/batching-producer.ts), so this costs
 * nothing there. A failed send makes the client start a new producer id: the sequence numbers of the
 * partitions it did store are never reused, so a later send is never taken for a duplicate.
 */
function wrapProducer(producer: PlatformaticProducer, idempotent: boolean): Producer {
  let previous: Promise<unknown> = Promise.resolve();
  return {
    async send(batches) {
      const messages = toMessages(batches);
      if (messages.length === 0) return;
      if (!idempotent) {
        await producer.send({ messages });
        return;
      }
      const sending = previous.then(() => producer.send({ messages }));
      previous = sending.catch(() => {});
      await sending;
    },
    disconnect: () => producer.close(),
  };
}

/** The platformatic consumer behind each of this module's consumers, for offsets sent in a transaction. */
const platformaticConsumers = new WeakMap<Consumer, PlatformaticConsumer>();

/**
 * A producer whose transactions can fail at any step (a rebalance fences its offsets, a broker goes
 * away, the coordinator times the transaction out): a failed transaction is aborted, and when even the
 * abort fails the client's state is no longer known, so the next begin() starts a new client with the
 * same transactional id, whose registration aborts whatever the old one left open. A failed send starts
 * it over too: the client numbered the records it could not write, and in a transaction it never takes
 * those sequence numbers back, so after the abort the broker refused every later produce of the
 * producer as out of order, for good. A new client registers with a new epoch and numbers from 0.
 */
function wrapTransactionalProducer(
  first: PlatformaticProducer,
  create: () => Promise<PlatformaticProducer>,
): TransactionalProducer {
  let producer = first;
  let broken = false;
  const replace = async () => {
    // Forced, and not waited for long: the old client may hang on a connection that black-holes.
    await settleWithin(
      producer.close(true).catch(() => {}),
      5000,
      () => undefined,
    );
    producer = await create();
    broken = false;
  };
  return {
    async begin() {
      if (broken) await replace();
      let transaction: Awaited<ReturnType<PlatformaticProducer['beginTransaction']>>;
      try {
        transaction = await producer.beginTransaction();
      } catch (err) {
        broken = true;
        throw err;
      }
      const failing = async <T>(step: () => Promise<T>): Promise<T> => {
        try {
          return await step();
        } catch (err) {
          broken = true;
          throw err;
        }
      };
      return {
        async send(batches) {
          const messages = toMessages(batches);
          if (messages.length > 0) await failing(() => transaction.send({ messages }));
        },
        async sendOffsets(consumer, offsets, generation) {
          const member = platformaticConsumers.get(consumer);
          if (!member) throw new Error('sendOffsets takes a consumer of this module');
          await addOffsets(transaction, member, offsets, generation);
        },
        commit: () => failing(() => transaction.commit()),
        abort: () => failing(() => transaction.abort()),
      };
    },
    abandon: () => {
      broken = true;
    },
    disconnect: () => producer.close(),
  };
}

/** Adds a group's offsets to a transaction, fenced by the member's generation (KIP-447). */
async function addOffsets(
  transaction: Awaited<ReturnType<PlatformaticProducer['beginTransaction']>>,
  member: PlatformaticConsumer,
  offsets: { topic: string; partition: number; offset: string | bigint }[],
  generation?: GroupGeneration,
): Promise<void> {
  await transaction.addConsumer(member);
  const consumerMetadata = {
    groupId: member.groupId,
    generationId: generation?.generationId ?? member.generationId,
    memberId: generation?.memberId ?? member.memberId ?? '',
    coordinatorId: member.coordinatorId ?? (await member.findGroupCoordinator()),
  };
  for (const { topic, partition, offset } of offsets) {
    // The client commits the offset after the message it is given: the one before the next.
    await transaction.addOffset({
      topic,
      partition,
      offset: BigInt(offset) - 1n,
      metadata: { consumer: consumerMetadata },
    } as unknown as Message);
  }
}

/**
 * The consumer of one group. @platformatic/kafka hands a group's records out as one stream per member,
 * with no per-partition pause or seek; runBatches builds the project's batch semantics on it (see there).
 */
function wrapConsumer(
  consumer: PlatformaticConsumer,
  settings: {
    log: Logger;
    maxBytesPerPartition: number;
    sessionTimeoutMs: number;
    stableCommitted: CommittedOffsetsReader;
  },
): Consumer {
  let topics: string[] = [];
  let fallbackMode: MessagesStreamFallbackModeValue = MessagesStreamFallbackModes.LATEST;
  let runner: BatchRunner | undefined;
  const crashListeners: ((error: Error) => void)[] = [];
  // The client emits 'error' when a rejoin failed for good; an 'error' without a listener would throw.
  consumer.on('error', (error: Error) => runner?.clientFailed(error));
  const startRunner = async (
    handler: (batch: RecordBatch) => Promise<unknown>,
    options: BatchRunOptions,
    transactions?: RunnerTransactions,
  ): Promise<void> => {
    if (runner) throw new Error('runBatches, runTransactions or run was already called on this consumer');
    runner = createBatchRunner(consumer, {
      topics,
      fallbackMode,
      log: settings.log,
      maxBytesPerPartition: settings.maxBytesPerPartition,
      sessionTimeoutMs: settings.sessionTimeoutMs,
      handler,
      options,
      ...(transactions ? { transactions, committed: settings.stableCommitted } : {}),
      crashed: (error) => {
        for (const listener of crashListeners) listener(error);
      },
    });
    await runner.start();
  };
  const wrapped: Consumer = {
    async subscribe(subscribed, options = {}) {
      topics = subscribed;
      fallbackMode = options.fromBeginning
        ? MessagesStreamFallbackModes.EARLIEST
        : MessagesStreamFallbackModes.LATEST;
    },
    // One record at a time per handler call; a partition's offsets committed after each batch of them.
    run: (handler) =>
      wrapped.runBatches(async (batch) => {
        for (const record of batch.records) await handler(record);
      }),
    runBatches: (handler, options = {}) => startRunner(handler, options),
    runTransactions: (producer, handler, options = {}) =>
      startRunner(handler, options, { producer, consumer: wrapped }),
    async disconnect() {
      await runner?.stop();
      // Leaves the group: its partitions go to the other members at once rather than after the session.
      await consumer.close(true);
    },
    onCrash: (listener) => {
      crashListeners.push(listener);
    },
    onGroupJoin: (listener) => {
      consumer.on('consumer:group:join', () => listener());
    },
  };
  platformaticConsumers.set(wrapped, consumer);
  return wrapped;
}

/** Read-process-write: batches of one partition handled and waiting for their transaction, at most. */
const MAX_UNCOMMITTED_BATCHES = 2;

/** How long one transaction of the batch runner may take before it is given up (see oneTransaction). */
const TRANSACTION_DEADLINE_MS = 30_000;

/** A group's committed offsets for the partitions given: by topic, indexed by partition. */
type CommittedOffsetsReader = (
  partitions: { topic: string; partitions: number[] }[],
) => Promise<Map<string, bigint[]>>;

/** What a runner of read-process-write transactions commits with. */
interface RunnerTransactions {
  producer: TransactionalProducer;
  /** The consumer whose group the offsets are committed for. */
  consumer: Consumer;
}

interface BatchRunner {
  start(): Promise<void>;
  /** Hands out nothing more, lets the batches in the handlers finish and commit, closes the stream. */
  stop(): Promise<void>;
  clientFailed(error: Error): void;
}

interface PartitionQueue {
  topic: string;
  partition: number;
  records: Message[];
  bytes: number;
  /** A batch of this partition is in the handler (or, without transactions, committing). */
  busy: boolean;
  /** Waiting in `ready` for a free handler slot. */
  ready: boolean;
  /** Bounded reading: the first offset not to hand over. */
  end: bigint | undefined;
  /** The end was reached and committed: nothing more of this partition is handed over. */
  ended: boolean;
  /** Read-process-write: batches handled, their transaction not yet committed (see handleOne). */
  uncommittedBatches: number;
}

/**
 * The batch loop over @platformatic/kafka's MessagesStream, which fetches every assigned partition at
 * once and has no per-partition pause or seek:
 *
 * - Records are queued per partition; a partition's queue is handed to the handler one batch at a time
 *   (at most maxBatchRecords records, about maxBytesPerPartition bytes), at most partitionsConcurrently
 *   partitions at once, round robin. A batch holds one partition's records, in order.
 * - A batch is committed (the next offset) only after its handler resolved; then onCommitted.
 * - Back-pressure: the queues hold at most twice what one fetch may bring; once full the stream is
 *   paused, which stops fetching (the stream's own buffer keeps at most the fetch already under way).
 *   So nothing more is fetched while a sink waits, whichever partition waits.
 * - Lacking seek, every rewind is a new stream with explicit offsets (MANUAL mode): after a failed
 *   batch (the handler threw), after a rebalance, after a stream error that waiting can heal. The
 *   restart stops handing out records, lets the batches in the handlers finish and commit, drops what
 *   is queued, closes the stream and opens a new one at the offsets the group committed (where none,
 *   the subscription's earliest or latest; with commit off, where this run's handled records end, so
 *   a dry run does not start over). So a failed batch comes again from the committed offset,
 *   and no record of a partition this member lost is handed over after the rebalance (those in the
 *   handlers at that moment finish: duplicates at worst, as with any at-least-once consumer).
 * - A batch handled whose commit was refused (during a rebalance no commit is made) is not handed
 *   over again by this member: after the join the new stream starts after it on the partitions this
 *   member kept, and its offset is committed with the first commit that goes through. With the sticky
 *   assignment (stickyAssignment) the members that stay keep their partitions when one leaves
 *   cleanly, so a clean leave hands no record out twice; only the partitions that move (those of a
 *   member that died, or given to one that joined) may bring back a batch in flight.
 * - Read-process-write (runTransactions): a batch's output and offsets go in a transaction, one at a time
 *   per producer; the batches handled while one commits go together in the next, and a partition goes
 *   on with its next batches meanwhile (MAX_UNCOMMITTED_BATCHES at most). A failed transaction fails
 *   every batch waiting behind it too, and they all come again from the committed offsets.
 * - startOffsetOf is asked for the assigned partitions at each join (the first stream and the one
 *   after each rebalance), before anything is read; its offsets replace the committed ones.
 * - A stream error gives up for good (onCrash) only when waiting cannot heal it (isFatal: a refused
 *   login or permission, a request the client refuses); otherwise the stream restarts, with a backoff
 *   doubling from 300 ms to 30 s while nothing succeeds.
 */
function createBatchRunner(
  consumer: PlatformaticConsumer,
  context: {
    topics: string[];
    fallbackMode: MessagesStreamFallbackModeValue;
    log: Logger;
    maxBytesPerPartition: number;
    sessionTimeoutMs: number;
    handler: (batch: RecordBatch) => Promise<unknown>;
    options: BatchRunOptions;
    /** Read-process-write: the handler's output and the batch's offsets committed in one transaction. */
    transactions?: RunnerTransactions;
    /** Where the committed offsets are read at each (re)start; default: the consumer's own reading. */
    committed?: CommittedOffsetsReader;
    crashed: (error: Error) => void;
  },
): BatchRunner {
  const { topics, log, handler, options } = context;
  const concurrency = Math.max(1, options.partitionsConcurrently ?? 1);
  const maxBatchRecords = options.maxBatchRecords ?? Number.POSITIVE_INFINITY;
  const commit = options.commit ?? true;
  const maxBatchBytes = context.maxBytesPerPartition;
  // One fetch brings about what the handler slots take at once; the queues hold at most two of them.
  const maxFetchBytes = context.maxBytesPerPartition * concurrency;
  const maxQueuedBytes = 2 * maxFetchBytes;

  let stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined;
  let queues = new Map<string, PartitionQueue>();
  const ready: PartitionQueue[] = [];
  let queuedBytes = 0;
  let pausedForSpace = false;
  let working = 0;
  const inFlight = new Set<Promise<void>>();
  /** Nothing new is handed out: a restart or the stop is under way. */
  let halted = false;
  let stopped = false;
  let restarting: Promise<void> | undefined;
  let restartAgain = false;
  let failures = 0;
  /** Joins seen, and the count when startOffsetOf was last asked: asked again after each join. */
  let joins = 0;
  let joinsAsked = -1;
  /** Where each partition's handled records end, this run: a rebalance restart never goes back before. */
  const positions = new Map<string, bigint>();
  /**
   * Batches handled whose commit was refused or failed (a rebalance under way, mostly), per partition:
   * the next offset to commit. Committed after the join if the partition is still this member's,
   * rather than handled again from the committed offset.
   */
  const uncommitted = new Map<
    string,
    { topic: string; partition: number; next: bigint; leaderEpoch: number }
  >();
  /** The partitions assigned at the last join (empty while a rebalance is under way). */
  let ownedNow = new Set<string>();
  let backoffTimer: { timer: NodeJS.Timeout; wake: () => void } | undefined;

  const accepting = () => !halted && !stopped && !options.signal?.aborted;
  const keyOf = (topic: string, partition: number) => `${topic}:${partition}`;
  const sizeOf = (message: Message) => (message.value?.length ?? 0) + (message.key?.length ?? 0) + 64;

  /** The group generation of the current stream's assignment (see openStream). */
  let streamGeneration: GroupGeneration = { generationId: -1, memberId: '' };
  /** Between a rebalance's first sign and the join that ends it: nothing is committed (see commitNext). */
  let rebalancing = false;
  /** Commits go one at a time (see commitNext). */
  let committing: Promise<unknown> = Promise.resolve();
  const onJoin = () => {
    joins++;
    rebalancing = false;
    if (stream && !stopped) restart('rebalance', 0);
  };
  // A rebalance started: stop handing out records at once (those of partitions about to move included).
  // The restart waits for the join under way; the join event restarts again if the assignment came
  // after the new stream was opened.
  const onRebalance = () => {
    rebalancing = true;
    if (stream && !stopped) restart('rebalance', 0);
  };
  consumer.on('consumer:group:join', onJoin);
  consumer.on('consumer:group:rebalance', onRebalance);
  const onAbort = () => {
    stream?.pause();
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });

  async function openStream(): Promise<void> {
    transactionFailed = false;
    // The first stream's join, or a rejoin after the membership was lost (the member id expired).
    if (!consumer.isActive()) await consumer.joinGroup({});
    const seenJoins = joins;
    const askStart = joinsAsked !== joins;
    joinsAsked = joins;
    const assigned = (consumer.assignments ?? []).filter((a) => topics.includes(a.topic));
    // Read with the assignment: the client may join a newer generation while this stream's batches
    // are handled, and their transactions must carry the one the partitions were assigned in.
    streamGeneration = { generationId: consumer.generationId, memberId: consumer.memberId ?? '' };
    const offsets: { topic: string; partition: number; offset: bigint }[] = [];
    const owned = new Set<string>();
    if (assigned.length > 0) {
      const committed = context.committed
        ? await context.committed(assigned)
        : await consumer.listCommittedOffsets({ topics: assigned });
      for (const { topic, partitions } of assigned) {
        for (const partition of partitions) {
          const key = keyOf(topic, partition);
          owned.add(key);
          const start = askStart ? options.startOffsetOf?.(topic, partition) : undefined;
          const done = committed.get(topic)?.[partition] ?? -1n;
          const pending = uncommitted.get(key);
          let handled = positions.get(key) ?? -1n;
          if (pending && pending.next > done && start === undefined) {
            if (pending.next > handled) handled = pending.next;
          } else uncommitted.delete(key);
          const from = start !== undefined ? BigInt(start) : done > handled ? done : handled;
          // Omitted: the stream starts it at the earliest or latest offset (fallbackMode).
          if (from >= 0n) offsets.push({ topic, partition, offset: from });
          // Committed (or handled) up to there: what commitSkipped may go past, a marker left after the
          // last record by a process that stopped (killed mid-transaction: its abort marker) included.
          if (start === undefined && from >= 0n) positions.set(key, from);
        }
      }
    }
    // Once the join is over, a partition no longer assigned is another member's: it hands those
    // records out again from the committed offset (a duplicate, never a loss).
    if (!rebalancing) for (const key of uncommitted.keys()) if (!owned.has(key)) uncommitted.delete(key);
    ownedNow = rebalancing ? new Set() : owned;
    const opened = await consumer.consume({
      topics,
      mode: MessagesStreamModes.MANUAL,
      offsets,
      fallbackMode: context.fallbackMode,
      autocommit: false,
      maxBytesPerPartition: context.maxBytesPerPartition,
      maxBytes: maxFetchBytes,
    });
    if (stopped) {
      await opened.close();
      return;
    }
    stream = opened;
    queues = new Map();
    for (const { topic, partitions } of assigned) {
      for (const partition of partitions) {
        const end = options.endOffsetOf?.(topic, partition);
        const queue: PartitionQueue = {
          topic,
          partition,
          records: [],
          bytes: 0,
          busy: false,
          ready: false,
          end: end === undefined ? undefined : BigInt(end),
          ended: false,
          uncommittedBatches: 0,
        };
        queues.set(keyOf(topic, partition), queue);
      }
    }
    const current = opened;
    current.on('data', (message: Message) => {
      if (stream !== current) return;
      enqueue(message);
    });
    current.on('error', (error: Error) => {
      if (stream !== current || stopped) return;
      streamFailed(error);
    });
    // 'fetch' comes with a fetch's answer, before its records are handed over: looked at once they are.
    // Only bounded reading has ends to reach.
    if (options.endOffsetOf) {
      current.on('fetch', () =>
        setImmediate(() => {
          if (stream === current) reachEnds(current);
        }),
      );
    } else if (commit && !context.transactions) {
      current.on('fetch', () =>
        setImmediate(() => {
          if (stream === current) commitSkipped(current);
        }),
      );
    }
    // A join while this stream was being opened: its assignment may already be another.
    if (joins !== seenJoins) restart('rebalance', 0);
    else if (options.signal?.aborted) current.pause();
  }

  function enqueue(message: Message): void {
    const queue = queues.get(keyOf(message.topic, message.partition));
    // Not in the assignment this stream was opened for (a rebalance is under way): left for its owner.
    if (!queue || queue.ended) return;
    if (queue.end !== undefined && message.offset >= queue.end) {
      markEnd(queue);
      return;
    }
    const size = sizeOf(message);
    queue.records.push(message);
    queue.bytes += size;
    queuedBytes += size;
    if (queuedBytes >= maxQueuedBytes && !pausedForSpace) {
      pausedForSpace = true;
      stream?.pause();
    }
    schedule(queue);
  }

  /**
   * A bounded range may end in records never handed over (a transaction's commit or abort markers),
   * so no record at or past its end ever arrives. Once the stream's fetch position passed the end and
   * it holds nothing more to hand over, every record of the range is queued or handled: the end is
   * reached.
   */
  function reachEnds(current: MessagesStream<Buffer, Buffer, Buffer, Buffer>): void {
    if (current.readableLength > 0) return;
    for (const queue of queues.values()) {
      if (queue.end === undefined || queue.ended) continue;
      const fetched = current.offsetsToFetch.get(keyOf(queue.topic, queue.partition));
      if (fetched !== undefined && fetched >= queue.end) markEnd(queue);
    }
  }

  /**
   * A topic written in transactions has offsets no record is handed over for (commit and abort markers,
   * aborted records), the last of them after the last record: committed at the last record, the group
   * would lag by one marker for good (lag alerts, autoscaling on lag). So once a partition this run
   * handled is idle and the fetch position went past what was committed, the position is committed, as
   * Java's consumer does: every offset before it was handed over and committed, or is no record.
   */
  function commitSkipped(current: MessagesStream<Buffer, Buffer, Buffer, Buffer>): void {
    if (current.readableLength > 0 || rebalancing || !accepting()) return;
    for (const queue of queues.values()) {
      if (queue.busy || queue.ready || queue.records.length > 0) continue;
      const fetched = current.offsetsToFetch.get(keyOf(queue.topic, queue.partition));
      const position = positions.get(keyOf(queue.topic, queue.partition));
      if (fetched === undefined || position === undefined || fetched <= position) continue;
      void track(queue, () => commitNext(queue, fetched, -1));
    }
  }

  /** A record at or past the end arrived: once what is queued before it is handled, the end is committed. */
  function markEnd(queue: PartitionQueue): void {
    if (queue.ended) return;
    queue.ended = true;
    void finishEnd(queue);
  }

  async function finishEnd(queue: PartitionQueue): Promise<void> {
    // Not while a restart is under way: the batch that caused it failed, and the end committed now
    // would pass over its records. Nor for a queue of a stream already closed.
    if (!accepting() || queues.get(keyOf(queue.topic, queue.partition)) !== queue || queue.busy) return;
    if (queue.records.length > 0) return;
    const end = queue.end as bigint;
    const position = positions.get(keyOf(queue.topic, queue.partition));
    if (position !== undefined && position >= end) return;
    await track(queue, () => commitNext(queue, end, -1));
  }

  function schedule(queue: PartitionQueue): void {
    if (queue.busy || queue.ready || queue.records.length === 0) return;
    if (queue.uncommittedBatches >= MAX_UNCOMMITTED_BATCHES) return;
    queue.ready = true;
    ready.push(queue);
    // After the current fetch's records are all queued: a batch takes what that fetch brought.
    queueMicrotask(pump);
  }

  function pump(): void {
    while (working < concurrency && ready.length > 0 && accepting()) {
      const queue = ready.shift() as PartitionQueue;
      queue.ready = false;
      if (queues.get(keyOf(queue.topic, queue.partition)) !== queue || queue.records.length === 0) continue;
      void track(queue, () => handleOne(queue));
    }
  }

  /** Runs one unit of a partition's work in a handler slot; the partition is busy meanwhile. */
  async function track(queue: PartitionQueue, work: () => Promise<void>): Promise<void> {
    working++;
    queue.busy = true;
    const running = work().finally(() => {
      working--;
      queue.busy = false;
      inFlight.delete(running);
      if (queue.ended) void finishEnd(queue);
      schedule(queue);
      pump();
    });
    inFlight.add(running);
    await running;
  }

  function take(queue: PartitionQueue): Message[] {
    let count = 0;
    let bytes = 0;
    while (count < queue.records.length && count < maxBatchRecords) {
      const size = sizeOf(queue.records[count] as Message);
      if (count > 0 && bytes + size > maxBatchBytes) break;
      bytes += size;
      count++;
    }
    const taken = queue.records.splice(0, count);
    queue.bytes -= bytes;
    queuedBytes -= bytes;
    if (pausedForSpace && queuedBytes < maxQueuedBytes / 2) {
      pausedForSpace = false;
      if (accepting()) stream?.resume();
    }
    return taken;
  }

  async function handleOne(queue: PartitionQueue): Promise<void> {
    const records = take(queue);
    const last = records.at(-1);
    if (!last) return;
    const { topic, partition } = queue;
    let output: unknown;
    try {
      output = await handler({
        topic,
        partition,
        records: records.map(toIncomingRecord),
        heartbeat: async () => {},
      });
    } catch (err) {
      log.warn(
        { err, topic, partition, offset: String(records[0]?.offset) },
        'a batch failed: it comes again from the committed offset',
      );
      restart('failed batch', backoff(++failures));
      return;
    }
    const next = last.offset + 1n;
    if (!context.transactions) {
      await commitNext(queue, next, last.leaderEpoch, output as TopicRecords[] | undefined);
      return;
    }
    // Read-process-write: the partition takes its next batch while this one's transaction commits (it
    // joins the next transaction), so a transaction carries more than one batch per partition and its
    // round trips are paid less often. Bounded: a few batches per partition wait at most.
    queue.uncommittedBatches++;
    const committed = commitNext(queue, next, last.leaderEpoch, output as TopicRecords[]).finally(() => {
      queue.uncommittedBatches--;
      inFlight.delete(committed);
      schedule(queue);
      pump();
    });
    inFlight.add(committed);
  }

  /**
   * Transactions go one at a time (one producer), and the batches finished while one commits go
   * together in the next: one transaction per batch would cost its round trips (begin, offsets,
   * commit markers) for every batch of every partition.
   */
  const waitingTransactions: {
    queue: PartitionQueue;
    next: bigint;
    output: TopicRecords[];
    settle: (error: unknown) => void;
  }[] = [];
  let transacting = false;
  /**
   * A transaction of this stream failed: the batches handled after it must not commit (their offsets
   * would pass over its records); they come again with it once the stream reopens at the committed offsets.
   */
  let transactionFailed = false;

  function commitInTransaction(queue: PartitionQueue, next: bigint, output: TopicRecords[]): Promise<void> {
    return new Promise((resolve, reject) => {
      if (transactionFailed) {
        reject(new Error('an earlier transaction of this stream failed'));
        return;
      }
      waitingTransactions.push({
        queue,
        next,
        output,
        settle: (error) => (error === undefined ? resolve() : reject(error)),
      });
      if (!transacting) void runTransactions();
    });
  }

  async function runTransactions(): Promise<void> {
    transacting = true;
    while (waitingTransactions.length > 0) {
      const together = waitingTransactions.splice(0);
      let failure: unknown;
      try {
        await oneTransaction(together);
      } catch (err) {
        failure = err ?? new Error('the transaction failed');
        // Before any other batch can join the next transaction: those waiting fail with this one.
        transactionFailed = true;
        together.push(...waitingTransactions.splice(0));
      }
      for (const batch of together) batch.settle(failure);
    }
    transacting = false;
  }

  async function oneTransaction(
    together: { queue: PartitionQueue; next: bigint; output: TopicRecords[] }[],
  ): Promise<void> {
    const { producer, consumer: member } = context.transactions as RunnerTransactions;
    // A member between a rebalance's start and its join has a generation the coordinator will refuse.
    if (rebalancing) throw new Error('a rebalance is under way');
    // A transaction is aborted by its coordinator after its timeout whatever the client does; one still
    // under way long after that waits on a request the network lost, and would hold its partitions for
    // good. So it is given up at a deadline (the producer starts over), and its batches come again.
    await settleWithin(completeTransaction(producer, member, together), TRANSACTION_DEADLINE_MS, () => {
      producer.abandon();
      throw new Error(`the transaction did not complete within ${TRANSACTION_DEADLINE_MS} ms`);
    });
  }

  async function completeTransaction(
    producer: TransactionalProducer,
    member: Consumer,
    together: { queue: PartitionQueue; next: bigint; output: TopicRecords[] }[],
  ): Promise<void> {
    const transaction = await producer.begin();
    try {
      await transaction.send(together.flatMap((batch) => batch.output));
      // Batches of one partition come in order: its last one's next offset covers them all.
      const furthest = new Map<PartitionQueue, bigint>();
      for (const { queue, next } of together) furthest.set(queue, next);
      await transaction.sendOffsets(
        member,
        [...furthest].map(([queue, next]) => ({
          topic: queue.topic,
          partition: queue.partition,
          offset: String(next),
        })),
        streamGeneration,
      );
      await transaction.commit();
    } catch (err) {
      // If even the abort fails, the producer starts over at the next begin (wrapTransactionalProducer).
      await transaction.abort().catch(() => {});
      throw err;
    }
  }

  async function commitNext(
    queue: PartitionQueue,
    next: bigint,
    leaderEpoch: number,
    output: TopicRecords[] = [],
  ): Promise<void> {
    const { topic, partition } = queue;
    if (context.transactions) {
      try {
        await commitInTransaction(queue, next, output);
      } catch (err) {
        // Aborted whole: nothing of the batch was written, so it must be handled again, by this member
        // or by the partition's new owner (no `uncommitted` here: its output is gone with the abort).
        log.warn(
          { err, topic, partition, offset: String(next) },
          'a transaction failed: its batches come again from the committed offsets',
        );
        restart('failed transaction', backoff(++failures));
        return;
      }
    } else if (commit) {
      const offset: CommitOptionsPartition = { topic, partition, offset: next, leaderEpoch };
      try {
        // The client answers a commit refused for a rebalance by joining the group again and repeating
        // it. A join from a member that already joined the new generation starts yet another rebalance,
        // so concurrent commits during one kept the group rebalancing for good (two members, four
        // partitions committed a record at a time: a new generation every 3 s, then stuck). So commits
        // go one at a time, and none is made while a rebalance is known to be under way: the batch is
        // then committed after the join if this member keeps the partition (see `uncommitted`), or
        // comes again from the committed offset to its new owner, a duplicate at worst.
        const attempt = committing.then(() => {
          if (rebalancing) throw new Error('a rebalance is under way');
          return consumer.commit({ offsets: [offset] });
        });
        committing = attempt.catch(() => {});
        await attempt;
      } catch (err) {
        // Handled but not committed: committed after the next join if this member keeps the partition,
        // else handed out again by its new owner (a duplicate, never a loss).
        const key = keyOf(topic, partition);
        if ((uncommitted.get(key)?.next ?? -1n) < next) {
          uncommitted.set(key, { topic, partition, next, leaderEpoch });
        }
        log.warn({ err, topic, partition, offset: String(next) }, 'a batch was handled but not committed');
        restart('failed commit', backoff(++failures));
        return;
      }
      const pending = uncommitted.get(keyOf(topic, partition));
      if (pending && pending.next <= next) uncommitted.delete(keyOf(topic, partition));
      // A commit went through in this generation: the batches this member handled before the join, on
      // partitions it kept, are committed now. Not at the join itself: a commit sent then may still
      // meet the rebalance's end, and the client answers that by joining again, which from the leader
      // starts another rebalance, and so on for good.
      if (!rebalancing && uncommitted.size > 0) void commitPending();
    }
    failures = 0;
    positions.set(keyOf(topic, partition), next);
    if (queue.end !== undefined && next >= queue.end) queue.ended = true;
    options.onCommitted?.(topic, partition, String(next));
  }

  /**
   * One commit of the batches handled before the last join on partitions this member kept, queued at
   * once (no batch's later commit of a partition goes before it). Tried once: if it fails, those
   * records come again to whoever has the partition next (a duplicate, never a loss).
   */
  async function commitPending(): Promise<void> {
    const pending = [...uncommitted].filter(([key]) => ownedNow.has(key));
    for (const [key] of pending) uncommitted.delete(key);
    if (pending.length === 0) return;
    const offsets = pending.map(([, { topic, partition, next, leaderEpoch }]) => ({
      topic,
      partition,
      offset: next,
      leaderEpoch,
    }));
    const attempt = committing.then(() => {
      if (rebalancing) throw new Error('a rebalance is under way');
      return consumer.commit({ offsets });
    });
    committing = attempt.catch(() => {});
    try {
      await attempt;
    } catch (err) {
      log.debug({ err }, 'batches handled before the rebalance were not committed');
      return;
    }
    for (const { topic, partition, offset } of offsets) {
      const key = keyOf(topic, partition);
      if ((positions.get(key) ?? -1n) < offset) positions.set(key, offset);
      options.onCommitted?.(topic, partition, String(offset));
    }
  }

  function backoff(attempt: number): number {
    return Math.min(300 * 2 ** Math.max(0, attempt - 1), 30_000);
  }

  function streamFailed(error: Error): void {
    if (isFatal(error)) {
      crash(error);
      return;
    }
    log.debug({ err: error }, 'the consumer stream failed; it starts again from the committed offsets');
    restart('stream error', backoff(++failures));
  }

  function crash(failure: Error): void {
    if (stopped) return;
    const error = consumerFatalError(failure, context.sessionTimeoutMs);
    log.error({ err: error }, 'the Kafka consumer gives up');
    void stop().finally(() => context.crashed(error));
  }

  function restart(reason: string, delayMs: number): void {
    if (stopped) return;
    halted = true;
    stream?.pause();
    if (restarting) {
      restartAgain = true;
      return;
    }
    log.debug({ reason, delayMs }, 'restarting the consumer stream');
    restarting = (async () => {
      do {
        restartAgain = false;
        await settle();
        await closeStream();
        if (delayMs > 0) await sleep(delayMs);
        if (stopped) return;
        halted = false;
        try {
          await openStream();
        } catch (err) {
          if (isFatal(err)) {
            crash(err as Error);
            return;
          }
          log.debug({ err }, 'the consumer stream did not open; trying again');
          halted = true;
          restartAgain = true;
          delayMs = backoff(++failures);
        }
      } while (restartAgain && !stopped);
    })().finally(() => {
      restarting = undefined;
      pump();
    });
  }

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        backoffTimer = undefined;
        resolve();
      };
      const timer = setTimeout(wake, ms);
      backoffTimer = { timer, wake };
    });
  }

  /** Resolves once no batch is in a handler or committing (new ones may not start: halted). */
  async function settle(): Promise<void> {
    while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
  }

  async function closeStream(): Promise<void> {
    const closing = stream;
    stream = undefined;
    for (const queue of queues.values()) queue.records = [];
    queues = new Map();
    ready.length = 0;
    queuedBytes = 0;
    pausedForSpace = false;
    if (!closing) return;
    closing.removeAllListeners('data');
    // The stream's fetch may still fail while it closes: already handled, nothing to do.
    closing.on('error', () => {});
    await closing.close().catch((err: unknown) => log.debug({ err }, 'closing the consumer stream failed'));
  }

  async function stop(): Promise<void> {
    if (stopped) return;
    stopped = true;
    halted = true;
    stream?.pause();
    backoffTimer?.wake();
    await restarting;
    await settle();
    await closeStream();
    consumer.off('consumer:group:join', onJoin);
    consumer.off('consumer:group:rebalance', onRebalance);
    options.signal?.removeEventListener('abort', onAbort);
  }

  return {
    async start() {
      // The subscription stays tracked for the whole run, so the streams opened after a failure or a
      // rebalance do not make the member join again (the client re-joins when its topics change).
      consumer.topics.trackAll(...topics);
      try {
        await openStream();
      } catch (err) {
        if (isFatal(err)) {
          stopped = true;
          throw consumerFatalError(err, context.sessionTimeoutMs);
        }
        // A coordinator still loading past the client's retries (a broker just started) or a broker
        // away: joined later, quietly, as after any restart; onGroupJoin tells when.
        log.debug({ err }, 'the consumer group is not joined yet; trying again');
        restart('start', backoff(++failures));
      }
    },
    stop,
    clientFailed(error) {
      if (stopped) return;
      if (isFatal(error)) crash(error);
      else restart('rejoin failed', backoff(++failures));
    },
  };
}

function toIncomingRecord(message: Message): IncomingRecord {
  const headers: Record<string, Buffer | undefined> = {};
  for (const [name, value] of message.headerEntries) {
    const key = name.toString();
    // A repeated header: the first, as before.
    if (!(key in headers)) headers[key] = value ?? undefined;
  }
  return {
    topic: message.topic,
    partition: message.partition,
    offset: String(message.offset),
    timestamp: String(message.timestamp),
    key: message.key ?? null,
    value: message.value ?? null,
    headers,
  };
}

/**
 * The partition of a record: murmur2 of its key; a keyless record (a dead letter of input without email)
 * by murmur2 of its value. A client that partitions a send again when it retries part of it (kafkajs
 * did) would, with round robin, send a keyless record to another partition than its first attempt, where the
 * idempotent producer's sequence numbers make the broker drop it as a duplicate (one letter lost,
 * another stored twice). A function of the record gives it the same partition on every attempt, whatever
 * the client does on a retry.
 * Undefined only for a record with neither key nor value bytes.
 */
export function partitionOf(
  message: { key?: Buffer | string | null; value: Buffer | string | null },
  partitionCount: number,
): number | undefined {
  const basis = message.key ?? message.value;
  if (basis === null || basis === undefined) return undefined;
  return (murmur2(basis) & 0x7fffffff) % partitionCount;
}

/** Kafka's murmur2 (Java `Utils.murmur2`) of a key's bytes; a string key is hashed as its UTF-8 bytes. */
export function murmur2(key: Buffer | string): number {
  const data = typeof key === 'string' && !isAscii(key) ? Buffer.from(key) : key;
  // An ASCII string's characters are its bytes: most keys (emails) are hashed without a Buffer.
  const byteAt =
    typeof data === 'string' ? (i: number) => data.charCodeAt(i) : (i: number) => data[i] as number;
  const length = data.length;
  const m = 0x5bd1e995;
  let h = 0x9747b28c ^ length;
  const end = length & ~3;
  for (let i = 0; i < end; i += 4) {
    let k = byteAt(i) | (byteAt(i + 1) << 8) | (byteAt(i + 2) << 16) | (byteAt(i + 3) << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  // The last 1 to 3 bytes; Java's switch falls through from case 3 to case 1.
  const tail = length & 3;
  if (tail === 3) h ^= byteAt(end + 2) << 16;
  if (tail >= 2) h ^= byteAt(end + 1) << 8;
  if (tail >= 1) h = Math.imul(h ^ byteAt(end), m);
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return false;
  return true;
}
