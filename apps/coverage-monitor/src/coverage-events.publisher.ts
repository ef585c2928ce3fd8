import { Inject, Injectable } from '@nestjs/common';
import {
  TOPICS,
  stableEventId,
  type CoverageEventRecord,
  type CoverageEventType,
} from '@meterlink/contracts';
import { jsonRecord, type BatchingProducer } from '@meterlink/kafka';
import { counter, histogram } from '@meterlink/observability';
import { PRODUCER } from './tokens';

const transitions = counter('coverage_transitions_total', 'Coverage transitions emitted', [
  'type',
  'carrier',
  'region',
]);
const detectionLatency = histogram(
  'coverage_detection_latency_seconds',
  'From the triggering report (or deadline) to the event being acknowledged',
  ['type'],
  [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10],
);

export interface MeterTransition {
  type: CoverageEventType;
  meterId: string;
  carrierId: string;
  region: string;
  iccid: string;
  reason: string;
  /** When the triggering report was sent, or the deadline passed: also the event's identity. */
  at: number;
  correlationId?: string | undefined;
}

@Injectable()
export class CoverageEventsPublisher {
  constructor(@Inject(PRODUCER) private readonly producer: BatchingProducer) {}

  async publishMeterTransitions(items: MeterTransition[]): Promise<void> {
    if (items.length === 0) return;
    await this.producer.send(
      items.map((t) => {
        const record: CoverageEventRecord = {
          // Same input, same id: a replay after a crash emits a duplicate that consumers can drop.
          eventId: stableEventId('coverage', t.type, t.meterId, t.at),
          type: t.type,
          at: new Date(t.at).toISOString(),
          ...(t.correlationId ? { correlationId: t.correlationId } : {}),
          carrierId: t.carrierId,
          region: t.region,
          meterId: t.meterId,
          iccid: t.iccid,
          reason: t.reason,
        };
        return jsonRecord(TOPICS.coverageEvents, t.meterId, record);
      }),
    );
    const now = Date.now();
    for (const t of items) {
      transitions.inc({ type: t.type, carrier: t.carrierId, region: t.region });
      detectionLatency.observe({ type: t.type }, Math.max(0, now - t.at) / 1000);
    }
  }
}
