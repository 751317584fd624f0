/**
 * The Mailjet destination's worker stage: an identify record → its contact update → Mailjet (the writer
 * fits each call's values, then folds the calls that fit into one write per contact); what did not fit
 * or Mailjet refused becomes its dead letter. Calls without an email are skipped: Mailjet contacts are
 * keyed by email. Anything that may pass on a retry (Mailjet or the registry down) throws, so nothing is
 * committed and the batch comes again.
 */
import type { RecordBatch } from '../core/kafka.ts';
import type { Logger } from '../core/logger.ts';
import { createStageHandler, type StageBatch, type StageDefinition } from '../core/pipeline-stage.ts';
import type { SegmentIdentify } from '../schemas/index.ts';
import { type ContactUpdate, contactUpdateOf } from './contact-mapping.ts';
import type { ContactWriter } from './contact-writer.ts';
import type { DestinationMetrics } from './metrics.ts';

export interface WorkerOptions {
  decode: (buffer: Buffer) => Promise<SegmentIdentify>;
  writer: ContactWriter;
  deadLetterTopic: string;
  metrics: DestinationMetrics;
  logger: Logger;
  /** Aborted when shutdown runs out of time: waiting for Mailjet stops, nothing more is committed. */
  signal: AbortSignal;
}

export function workerStage(
  options: Pick<WorkerOptions, 'decode' | 'writer'>,
): StageDefinition<SegmentIdentify, ContactUpdate> {
  return {
    stage: 'mailjet',
    decode: options.decode,
    map(identify) {
      const mapping = contactUpdateOf(identify);
      if (mapping.ok) return { ok: true, item: mapping.update };
      if (mapping.reason === 'no-email') return { ok: 'skip' };
      return { ok: false, code: 'IDENTIFY_INVALID', message: mapping.message };
    },
    mapFailure: { code: 'IDENTIFY_INVALID', what: 'Mapping the call' },
    async deliver(items, signal) {
      // In order, call by call: the writer folds each contact's calls into one write.
      const report = await options.writer.write(
        items.map((origin) => ({ update: origin.item, origin })),
        signal,
      );
      return report.rejected.map(({ item, code, message }) => ({ item: item.origin, code, message }));
    },
    typeOf: () => 'identify',
  };
}

export function createWorkerHandler(options: WorkerOptions): (batch: RecordBatch) => Promise<StageBatch> {
  const { metrics } = options;
  return createStageHandler(workerStage(options), {
    ...options,
    onOutcome: (outcome) => {
      metrics.workerCalls.inc({ outcome: 'upserted' }, outcome.delivered.identify ?? 0);
      metrics.workerCalls.inc({ outcome: 'dead_lettered' }, outcome.deadLettered);
      metrics.workerCalls.inc({ outcome: 'skipped' }, outcome.skipped);
    },
  });
}
