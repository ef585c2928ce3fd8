import type { z } from 'zod';
import {
  billingChargeRecordSchema,
  coverageCarrierStatsRecordSchema,
  coverageEventRecordSchema,
  deadLetterRecordSchema,
  esipaInboundRecordSchema,
  esipaOutboundRecordSchema,
  fleetCarrierRecordSchema,
  fleetMeterRecordSchema,
  fleetRegionRecordSchema,
  ingestRejectedRecordSchema,
  meterConnectivityRecordSchema,
  meterEventRecordSchema,
  meterReadingRecordSchema,
  profileSwapRecordSchema,
} from './platform/records';

export interface TopicDefinition<S extends z.ZodType = z.ZodType> {
  readonly name: string;
  readonly schema: S;
  readonly partitions: number;
  readonly cleanupPolicy: 'delete' | 'compact';
  /** -1 keeps records forever. */
  readonly retentionMs: number;
  readonly key: string;
  /** `public`: the downstream contract (platform-topics.md); `internal`: between services. */
  readonly audience: 'public' | 'internal';
  readonly summary: string;
}

const DAY_MS = 86_400_000;
/**
 * Partition counts are the development defaults; production overrides them in deploy/ (KafkaTopic
 * resources). Meter-keyed topics share one count so that a meter's records land on the same
 * partition index everywhere, which keeps co-partitioned consumers simple.
 */
export const METER_PARTITIONS = 6;

function topic<S extends z.ZodType>(def: TopicDefinition<S>): TopicDefinition<S> {
  return def;
}

export const TOPICS = {
  meterReadings: topic({
    name: 'meter.readings.v1',
    schema: meterReadingRecordSchema,
    partitions: METER_PARTITIONS,
    cleanupPolicy: 'delete',
    retentionMs: 30 * DAY_MS,
    key: 'meterId',
    audience: 'public',
    summary: 'One record per interval reading, as received (duplicates removed).',
  }),
  meterConnectivity: topic({
    name: 'meter.connectivity.v1',
    schema: meterConnectivityRecordSchema,
    partitions: METER_PARTITIONS,
    cleanupPolicy: 'delete',
    retentionMs: 30 * DAY_MS,
    key: 'meterId',
    audience: 'public',
    summary: 'One record per telemetry message: radio status, serving carrier and cellular usage.',
  }),
  meterEvents: topic({
    name: 'meter.events.v1',
    schema: meterEventRecordSchema,
    partitions: METER_PARTITIONS,
    cleanupPolicy: 'delete',
    retentionMs: 90 * DAY_MS,
    key: 'meterId',
    audience: 'public',
    summary: 'Device events: alarms, boots, and eUICC fallbacks and rollbacks.',
  }),
  coverageEvents: topic({
    name: 'coverage.events.v1',
    schema: coverageEventRecordSchema,
    partitions: METER_PARTITIONS,
    cleanupPolicy: 'delete',
    retentionMs: 90 * DAY_MS,
    key: 'meterId, or carrierId/region for carrier events',
    audience: 'public',
    summary: 'Coverage state changes of meters and of carriers in a region.',
  }),
  coverageCarriers: topic({
    name: 'coverage.carriers.v1',
    schema: coverageCarrierStatsRecordSchema,
    partitions: 1,
    cleanupPolicy: 'compact',
    retentionMs: -1,
    key: 'carrierId/region',
    audience: 'internal',
    summary:
      'Meters of each carrier in each region by coverage state, restated periodically (compacted).',
  }),
  profileSwaps: topic({
    name: 'profile.swaps.v1',
    schema: profileSwapRecordSchema,
    partitions: METER_PARTITIONS,
    cleanupPolicy: 'delete',
    retentionMs: -1,
    key: 'meterId',
    audience: 'public',
    summary: 'Every state change of every eSIM profile swap, in order per swap.',
  }),
  billingCharges: topic({
    name: 'billing.charges.v1',
    schema: billingChargeRecordSchema,
    partitions: METER_PARTITIONS,
    cleanupPolicy: 'delete',
    retentionMs: -1,
    key: 'meterId, or carrierId for carrier-level lines',
    audience: 'public',
    summary:
      'Rated charge lines: connectivity cost and consumption. While its month is open a line is ' +
      'restated under its chargeId with a higher revision; a closed month is corrected by new ' +
      'lines (correctionOf, servicePeriod) in the next open month.',
  }),
  ingestRejected: topic({
    name: 'ingest.rejected.v1',
    schema: ingestRejectedRecordSchema,
    partitions: METER_PARTITIONS,
    cleanupPolicy: 'delete',
    retentionMs: 14 * DAY_MS,
    key: 'meterId where known, else the MQTT topic',
    audience: 'public',
    summary: 'Uplink messages the platform refused, with a stable reason code.',
  }),
  esipaInbound: topic({
    name: 'esipa.inbound.v1',
    schema: esipaInboundRecordSchema,
    partitions: METER_PARTITIONS,
    cleanupPolicy: 'delete',
    retentionMs: 7 * DAY_MS,
    key: 'meterId',
    audience: 'internal',
    summary: 'ESipa messages from meters (polls, results, notifications) for the eIM.',
  }),
  esipaOutbound: topic({
    name: 'esipa.outbound.v1',
    schema: esipaOutboundRecordSchema,
    partitions: METER_PARTITIONS,
    cleanupPolicy: 'delete',
    retentionMs: 7 * DAY_MS,
    key: 'meterId',
    audience: 'internal',
    summary: 'ESipa messages from the eIM for delivery to meters.',
  }),
  fleetMeters: topic({
    name: 'fleet.meters.v1',
    schema: fleetMeterRecordSchema,
    partitions: METER_PARTITIONS,
    cleanupPolicy: 'compact',
    retentionMs: -1,
    key: 'meterId',
    audience: 'internal',
    summary: 'The registry’s current view of every meter (compacted).',
  }),
  fleetCarriers: topic({
    name: 'fleet.carriers.v1',
    schema: fleetCarrierRecordSchema,
    partitions: 1,
    cleanupPolicy: 'compact',
    retentionMs: -1,
    key: 'carrierId',
    audience: 'internal',
    summary: 'Carrier catalogue with tariffs (compacted).',
  }),
  fleetRegions: topic({
    name: 'fleet.regions.v1',
    schema: fleetRegionRecordSchema,
    partitions: 1,
    cleanupPolicy: 'compact',
    retentionMs: -1,
    key: 'region',
    audience: 'internal',
    summary: 'Carriers under contract per region, in order of preference (compacted).',
  }),
  deadLetter: topic({
    name: 'deadletter.v1',
    schema: deadLetterRecordSchema,
    partitions: 3,
    cleanupPolicy: 'delete',
    retentionMs: 30 * DAY_MS,
    key: 'source topic',
    audience: 'internal',
    summary: 'Records a consumer could not process, with a reason code and their origin.',
  }),
} as const;

export type TopicKey = keyof typeof TOPICS;
export type TopicRecord<K extends TopicKey> = z.infer<(typeof TOPICS)[K]['schema']>;
export const ALL_TOPICS: readonly TopicDefinition[] = Object.values(TOPICS);
export function topicByName(name: string): TopicDefinition | undefined {
  return ALL_TOPICS.find((t) => t.name === name);
}
