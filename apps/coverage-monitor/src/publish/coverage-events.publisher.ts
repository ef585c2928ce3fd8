import { Inject, Injectable } from '@nestjs/common';
import { TOPICS, stableEventId, type CoverageEventRecord } from '@meterlink/contracts';
import type { CarrierEvent, MeterTransition } from '@meterlink/coverage-domain';
import { jsonRecord, type BatchingProducer } from '@meterlink/kafka';
import { counter, histogram } from '@meterlink/observability';
import { PRODUCER } from '../tokens';

const transitions = counter('coverage_transitions_total', 'Coverage events emitted', [
  'type',
  'carrier',
  'region',
]);
const detectionLatency = histogram(
  'coverage_detection_latency_seconds',
  'From the platform receiving the report that caused a meter transition (or, for meter.lost, ' +
    'from the deadline) to Kafka acknowledging the event',
  ['type'],
  [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
);

export interface OutgoingEvent {
  key: string;
  record: CoverageEventRecord;
}

/** An event about to be published, with when what it reports was first observable. */
export interface Publication extends OutgoingEvent {
  observedAt?: number;
}

export function meterEventRecord(
  meterId: string,
  t: MeterTransition,
  options: { outageId: string | null; seq?: number; correlationId?: string | undefined },
): OutgoingEvent {
  // Same input, same id: a replay after a crash repeats the id, so a consumer drops the copy.
  const eventId =
    options.seq === undefined
      ? stableEventId('coverage', t.type, meterId, t.at)
      : stableEventId('coverage', t.type, meterId, t.at, options.seq);
  return {
    key: meterId,
    record: {
      eventId,
      type: t.type,
      at: new Date(t.at).toISOString(),
      ...(options.correlationId ? { correlationId: options.correlationId } : {}),
      carrierId: t.carrierId,
      region: t.region,
      meterId,
      ...(t.iccid ? { iccid: t.iccid } : {}),
      reason: t.reason,
      ...(options.outageId ? { outageId: options.outageId } : {}),
    },
  };
}

/**
 * The meters of a carrier and region that were already unhealthy when its outage was declared,
 * and so were reported without its id: those unhealthy without a break since `since` (epoch ms,
 * the start of the detection window), `meters` of them.
 */
export interface OutageAttribution {
  since: number;
  meters: number;
}

export function carrierEventRecord(
  carrierId: string,
  region: string,
  e: CarrierEvent,
): OutgoingEvent {
  const share = (x: number): number => Math.round(Math.min(1, Math.max(0, x)) * 10_000) / 10_000;
  return {
    key: `${carrierId}/${region}`,
    record: {
      eventId: stableEventId('coverage', e.type, carrierId, region, e.outageId),
      type: e.type,
      at: new Date(e.at).toISOString(),
      carrierId,
      region,
      reason: e.type === 'carrier.outage' ? 'share_above_normal' : 'share_back_to_normal',
      outageId: e.outageId,
      population: e.population,
      unhealthyMeters: e.unhealthy,
      share: share(e.share),
      baselineShare: share(e.baseline),
      ...(e.type === 'carrier.recovered'
        ? { outageStartedAt: new Date(e.openedAt).toISOString() }
        : {}),
    },
  };
}

/** A `carrier.outage` with the meters already unhealthy that belong to it. */
export function withAttribution(event: OutgoingEvent, a: OutageAttribution): OutgoingEvent {
  return {
    key: event.key,
    record: {
      ...event.record,
      attributedSince: new Date(a.since).toISOString(),
      attributedMeters: a.meters,
    },
  };
}

@Injectable()
export class CoverageEventsPublisher {
  constructor(@Inject(PRODUCER) private readonly producer: BatchingProducer) {}

  /** Resolves once Kafka acknowledged every event; per-key order is kept. */
  async publish(events: readonly Publication[]): Promise<void> {
    if (events.length === 0) return;
    await this.producer.send(events.map((e) => jsonRecord(TOPICS.coverageEvents, e.key, e.record)));
    const now = Date.now();
    for (const e of events) {
      transitions.inc({
        type: e.record.type,
        carrier: e.record.carrierId,
        region: e.record.region,
      });
      if (e.observedAt !== undefined)
        detectionLatency.observe({ type: e.record.type }, Math.max(0, now - e.observedAt) / 1000);
    }
  }
}

/** What a pending entry holds: who stored it, when, and the records to publish. */
export interface PendingValue {
  owner: string;
  storedAt: number;
  events: OutgoingEvent[];
}

export const encodePending = (p: PendingValue): string =>
  JSON.stringify({
    o: p.owner,
    ts: p.storedAt,
    e: p.events.map((e) => ({ k: e.key, r: e.record })),
  });

export function decodePending(raw: string): PendingValue {
  const json = JSON.parse(raw) as {
    o: string;
    ts: number;
    e: { k: string; r: CoverageEventRecord }[];
  };
  return {
    owner: json.o,
    storedAt: json.ts,
    events: json.e.map((e) => ({ key: e.k, record: e.r })),
  };
}
