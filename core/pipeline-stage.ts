/**
 * One consuming stage's batch, the same steps for every stage (the normalizer, the Segment sink, the
 * Mailjet destination's worker; replay runs the same stages over a range):
 *
 *   decode each record → map each value (pure) → deliver what was mapped (the stage's I/O) → output
 *
 * A record that cannot be decoded or mapped, or that the stage's SaaS refuses for good, becomes its own
 * dead letter, with its bytes, origin and reason; anything else throws: a failure a retry may heal (the
 * registry, a SaaS or Kafka away) and the whole batch comes again, or a refusal no retry can fix (a wrong
 * key), which stops the process (startGroupConsumer). What the batch becomes (the stage's own records, its dead letters) is
 * returned, for the batch loop to write before or with the commit (startGroupConsumer): so in every
 * stage a batch is committed only after its outcome is written.
 */
import type { Counter, Gauge, Histogram } from 'prom-client';
import { consumedDeadLetter, decodeRecords } from './consumed-records.ts';
import type { DeadLetterStage } from './dead-letter.ts';
import { type ErrorCode, firstLine } from './errors.ts';
import type { IncomingRecord, OutgoingRecord, RecordBatch, TopicRecords } from './kafka.ts';
import type { Logger } from './logger.ts';

/** One value's fate in `map`: an item to deliver, a refusal (its dead letter), or nothing to do. */
export type Mapped<Item> =
  | { ok: true; item: Item }
  | { ok: false; code: ErrorCode; message: string }
  | { ok: 'skip' };

/** An item the stage's SaaS refused for good. */
export interface Refusal<Item> {
  item: Item;
  code: ErrorCode;
  message: string;
}

export interface Delivered<Item> {
  record: IncomingRecord;
  item: Item;
}

export interface StageDefinition<Value, Item> {
  /** The stage its dead letters name (`dlq.stage`), which tells a re-drive where they go back to. */
  stage: DeadLetterStage;
  decode(buffer: Buffer): Promise<Value>;
  /** Pure. A throw is about this record alone (a bug, a limit of the runtime): its dead letter. */
  map(value: Value, record: IncomingRecord): Mapped<Item>;
  /** The code and words of a dead letter when `map` threw: "Mapping the event failed". */
  mapFailure: { code: ErrorCode; what: string };
  /**
   * Delivers the mapped items, in order, and resolves those refused for good; throws what a retry may
   * heal. Absent: the stage writes its output only (the normalizer).
   */
  deliver?(items: Delivered<Item>[], signal: AbortSignal): Promise<Refusal<Delivered<Item>>[]>;
  /** The records the stage writes for what it mapped and delivered (the normalizer's normalized records). */
  output?(delivered: Delivered<Item>[]): TopicRecords[];
  /** What replay's summary counts an item as (its Mailjet event type). */
  typeOf(item: Item): string;
}

/** What became of one batch's records, for replay's summary and the stages' counters. */
export interface StageOutcome {
  /** Items delivered (in a dry run: mapped), by type. */
  delivered: Record<string, number>;
  /** Records dead-lettered (in a dry run: that would be). */
  deadLettered: number;
  /** Records with nothing to do (an identify call without an email). */
  skipped: number;
}

/** Items delivered, of every type. */
export function deliveredCount(outcome: StageOutcome): number {
  let total = 0;
  for (const n of Object.values(outcome.delivered)) total += n;
  return total;
}

export interface StageBatch {
  /** The records to write before or with the commit: the stage's own, then its dead letters. */
  output: TopicRecords[];
  outcome: StageOutcome;
}

export interface StageOptions {
  deadLetterTopic: string;
  logger: Logger;
  /**
   * Aborted at the shutdown deadline: waiting on the stage's SaaS stops; nothing more is committed.
   * Only a stage that delivers waits on anything.
   */
  signal?: AbortSignal;
  metrics: {
    batchSeconds: Histogram;
    inFlight?: Gauge;
    deadLettered?: Counter<'stage' | 'code'>;
  };
  /** After each batch, for the stage's own counters. */
  onOutcome?: (outcome: StageOutcome) => void;
  /** Decode and map only: nothing delivered, nothing to write (replay --dry-run). */
  dryRun?: boolean;
}

const neverAborted = new AbortController().signal;

export function createStageHandler<Value, Item>(
  definition: StageDefinition<Value, Item>,
  options: StageOptions,
): (batch: RecordBatch) => Promise<StageBatch> {
  const { metrics } = options;
  return async (batch) => {
    const started = process.hrtime.bigint();
    metrics.inFlight?.inc(batch.records.length);
    try {
      const deadLetters: OutgoingRecord[] = [];
      const deadLetter = (record: IncomingRecord, code: ErrorCode, message: string) => {
        options.logger.warn(
          { topic: record.topic, partition: record.partition, offset: record.offset, code },
          `dead-lettered: ${message}`,
        );
        metrics.deadLettered?.inc({ stage: definition.stage, code });
        deadLetters.push(consumedDeadLetter(record, definition.stage, code, message));
      };
      let skipped = 0;
      let mapped: Delivered<Item>[] = [];
      for (const { record, value } of await decodeRecords(batch.records, definition.decode, deadLetter)) {
        let result: Mapped<Item>;
        try {
          result = definition.map(value, record);
        } catch (err) {
          const { code, what } = definition.mapFailure;
          deadLetter(record, code, `${what} failed: ${firstLine(err)}`);
          continue;
        }
        if (result.ok === true) mapped.push({ record, item: result.item });
        else if (result.ok === 'skip') skipped += 1;
        else deadLetter(record, result.code, result.message);
      }

      if (definition.deliver && !options.dryRun && mapped.length > 0) {
        const refused = await definition.deliver(mapped, options.signal ?? neverAborted);
        if (refused.length > 0) {
          const gone = new Set<Delivered<Item>>();
          for (const { item, code, message } of refused) {
            gone.add(item);
            deadLetter(item.record, code, message);
          }
          mapped = mapped.filter((delivered) => !gone.has(delivered));
        }
      }

      const delivered: Record<string, number> = {};
      for (const { item } of mapped) {
        const type = definition.typeOf(item);
        delivered[type] = (delivered[type] ?? 0) + 1;
      }
      const outcome = { delivered, deadLettered: deadLetters.length, skipped };
      options.onOutcome?.(outcome);
      if (options.dryRun) return { output: [], outcome };
      const output = mapped.length > 0 ? (definition.output?.(mapped) ?? []) : [];
      if (deadLetters.length > 0) output.push({ topic: options.deadLetterTopic, records: deadLetters });
      return { output, outcome };
    } finally {
      metrics.inFlight?.dec(batch.records.length);
      metrics.batchSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    }
  };
}
