/**
 * The Segment sink stage: a normalized record → its track call (from the normalized record alone) →
 * Segment, with today's batching, limits, retry and bisection (segment-sink.ts); what Segment refuses
 * for good becomes its dead letter. At least once: the batch loop commits after the batch's dead letters
 * are written, a batch comes again after a crash before that, and its deterministic messageIds make that
 * harmless in Segment. Replay's --redeliver runs the same stage over a range.
 */
import type { RecordBatch } from '../core/kafka.ts';
import {
  createStageHandler,
  deliveredCount,
  type StageBatch,
  type StageDefinition,
  type StageOptions,
} from '../core/pipeline-stage.ts';
import type { MailjetEventNormalized } from '../schemas/index.ts';
import type { ConnectorMetrics } from './metrics.ts';
import { type SegmentTrack, segmentTrackOf } from './segment-mapping.ts';
import type { SegmentSink } from './segment-sink.ts';

export interface TrackItem {
  track: SegmentTrack;
  eventType: string;
}

export interface SegmentDeliveryOptions extends Omit<StageOptions, 'metrics' | 'onOutcome' | 'signal'> {
  /** Aborted at the shutdown deadline: waiting on Segment stops. */
  signal: AbortSignal;
  decode: (buffer: Buffer) => Promise<MailjetEventNormalized>;
  sink: SegmentSink;
  metrics: ConnectorMetrics;
}

export function segmentSinkStage(
  options: Pick<SegmentDeliveryOptions, 'decode' | 'sink' | 'metrics'>,
): StageDefinition<MailjetEventNormalized, TrackItem> {
  const { metrics } = options;
  return {
    stage: 'segment',
    decode: options.decode,
    map(normalized) {
      const call = segmentTrackOf(normalized);
      return call.ok ? { ok: true, item: { track: call.track, eventType: normalized.event_type } } : call;
    },
    mapFailure: { code: 'UNMAPPABLE_EVENT', what: 'Building the track call' },
    async deliver(items, signal) {
      const byTrack = new Map<object, (typeof items)[number]>(items.map((item) => [item.item.track, item]));
      const report = await options.sink.deliver(
        items.map(({ item }) => item.track as unknown as { messageId: string }),
        signal,
      );
      const refused = report.rejected.flatMap(({ event, code, message }) => {
        const item = byTrack.get(event);
        return item ? [{ item, code, message }] : [];
      });
      // Counted per batch, then added once per label: a labelled inc per event cost more than counting.
      const refusedTracks = new Set(refused.map(({ item }) => item.item.track));
      const byEvent = new Map<string, number>();
      for (const { item } of items) {
        if (!refusedTracks.has(item.track))
          byEvent.set(item.track.event, (byEvent.get(item.track.event) ?? 0) + 1);
      }
      for (const [event, count] of byEvent) metrics.segmentEvents.inc({ event }, count);
      return refused;
    },
    typeOf: (item) => item.eventType,
  };
}

export function createSegmentDeliveryHandler(
  options: SegmentDeliveryOptions,
): (batch: RecordBatch) => Promise<StageBatch> {
  const { metrics } = options;
  return createStageHandler(segmentSinkStage(options), {
    ...options,
    onOutcome: (outcome) => {
      metrics.records.inc({ outcome: 'delivered' }, deliveredCount(outcome));
      metrics.records.inc({ outcome: 'dead_lettered' }, outcome.deadLettered);
    },
  });
}
