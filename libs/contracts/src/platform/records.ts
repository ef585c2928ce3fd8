import { z } from 'zod';
import { envelopeShape } from '../envelope';
import {
  carrierIdSchema,
  ecPublicJwkSchema,
  eidSchema,
  iccidSchema,
  isoDateTimeSchema,
  meterIdSchema,
  meterKindSchema,
  plmnSchema,
  ratSchema,
  regionSchema,
  registerSchema,
  uint,
} from '../primitives';
import { alarmCodeSchema, deviceProfileSchema, esipaUplinkMessageSchema } from '../device/uplink';
import { esipaDownlinkMessageSchema } from '../device/esipa';
import {
  carrierSchema,
  manifestProfileSchema,
  regionContractSchema,
} from '../provisioning/manifest';

/** meter.readings.v1: one record per interval reading, as received. */
export const meterReadingRecordSchema = z.object({
  ...envelopeShape,
  type: z.literal('meter.reading'),
  meterId: meterIdSchema,
  kind: meterKindSchema,
  register: registerSchema,
  value: uint,
  seq: uint,
  receivedAt: isoDateTimeSchema,
  /** sentAt of the telemetry message, which tells buffered (late) readings apart. */
  sentAt: isoDateTimeSchema,
});
export type MeterReadingRecord = z.infer<typeof meterReadingRecordSchema>;

/** meter.connectivity.v1: one record per telemetry message; `at` is the message's sentAt. */
export const meterConnectivityRecordSchema = z.object({
  ...envelopeShape,
  type: z.literal('meter.connectivity'),
  meterId: meterIdSchema,
  receivedAt: isoDateTimeSchema,
  seq: uint,
  kind: meterKindSchema,
  iccid: iccidSchema,
  /** null when the ICCID is not on the meter's known inventory (counted, not guessed). */
  carrierId: carrierIdSchema.nullable(),
  plmn: plmnSchema,
  rat: ratSchema,
  cellId: z.string().nullable(),
  rsrp: z.number().nullable(),
  rsrq: z.number().nullable(),
  sinr: z.number().nullable(),
  attachFailures: uint,
  bytesUp: uint,
  bytesDown: uint,
  batteryPct: z.number().min(0).max(100).optional(),
});
export type MeterConnectivityRecord = z.infer<typeof meterConnectivityRecordSchema>;

/** meter.events.v1: device events (alarm, boot) and the eUICC's own changes (fallback, rollback). */
export const meterEventRecordSchema = z.object({
  ...envelopeShape,
  type: z.enum(['alarm', 'boot', 'fallback', 'rollback']),
  meterId: meterIdSchema,
  receivedAt: isoDateTimeSchema,
  seq: uint,
  code: alarmCodeSchema.optional(),
  fw: z.string().optional(),
  eid: eidSchema.optional(),
  profiles: z.array(deviceProfileSchema).optional(),
  iccid: iccidSchema.optional(),
});
export type MeterEventRecord = z.infer<typeof meterEventRecordSchema>;

export const METER_COVERAGE_EVENT_TYPES = [
  'meter.degraded',
  'meter.lost',
  'meter.restored',
] as const;
export const CARRIER_COVERAGE_EVENT_TYPES = ['carrier.outage', 'carrier.recovered'] as const;
export const COVERAGE_EVENT_TYPES = [
  ...METER_COVERAGE_EVENT_TYPES,
  ...CARRIER_COVERAGE_EVENT_TYPES,
] as const;
export type CoverageEventType = (typeof COVERAGE_EVENT_TYPES)[number];
const coverageEventShape = {
  ...envelopeShape,
  carrierId: carrierIdSchema,
  region: regionSchema,
  meterId: meterIdSchema.optional(),
  iccid: iccidSchema.optional(),
  /** Why the state changed, e.g. `signal_below_threshold`, `silent_past_deadline`. */
  reason: z.string().optional(),
  /** The carrier outage this meter event belongs to, when one is open. */
  outageId: z.string().optional(),
  /** Carrier events: the carrier's meters in the region the share was taken over... */
  population: uint.optional(),
  /** ...how many of them were lost or degraded... */
  unhealthyMeters: uint.optional(),
  /** ...that share (0..1)... */
  share: z.number().min(0).max(1).optional(),
  /** ...and the population's normal share before the outage (0..1). */
  baselineShare: z.number().min(0).max(1).optional(),
  /** `carrier.recovered`: when the outage it ends was declared. */
  outageStartedAt: isoDateTimeSchema.optional(),
  /**
   * `carrier.outage`: the meters of the carrier and region already lost or degraded when it was
   * declared belong to it if they have been so without a break since this time or later (the
   * start of the detection window); their events went out without an `outageId`...
   */
  attributedSince: isoDateTimeSchema.optional(),
  /** ...and how many of them there were when it was declared. */
  attributedMeters: uint.optional(),
};
/**
 * coverage.events.v1, one record per coverage state change: `type`, `carrierId`, `region` and
 * `at` always, `meterId` on meter events (platform-topics.md). Key: meterId, or
 * `carrierId/region` for carrier events.
 */
export const coverageEventRecordSchema = z.discriminatedUnion('type', [
  z.object({
    ...coverageEventShape,
    type: z.enum(METER_COVERAGE_EVENT_TYPES),
    meterId: meterIdSchema,
  }),
  z.object({ ...coverageEventShape, type: z.enum(CARRIER_COVERAGE_EVENT_TYPES) }),
]);
export type CoverageEventRecord = z.infer<typeof coverageEventRecordSchema>;

/**
 * coverage.carriers.v1: how a carrier's meters in a region stand, as the coverage monitor's
 * leader counts them, restated every `COVERAGE_STATS_INTERVAL_MS` (compacted, one per carrier ×
 * region). The orchestrator's swap policy judges candidate carriers by it.
 */
export const coverageCarrierStatsRecordSchema = z.object({
  ...envelopeShape,
  type: z.literal('coverage.carrier-stats'),
  carrierId: carrierIdSchema,
  region: regionSchema,
  /** Tracked meters of the carrier in the region (healthy + degraded + lost). */
  meters: uint,
  healthy: uint,
  degraded: uint,
  lost: uint,
  /** Of `meters`, those that report daily or less often (silence shows late on them). */
  slowMeters: uint,
  /** The carrier's open outage in the region, if any. */
  outageId: z.string().optional(),
});
export type CoverageCarrierStatsRecord = z.infer<typeof coverageCarrierStatsRecordSchema>;

export const SWAP_TRIGGERS = ['coverage', 'carrier-outage', 'operator', 'device-fallback'] as const;
export type SwapTrigger = (typeof SWAP_TRIGGERS)[number];
export const SWAP_STATES = [
  'requested',
  'dispatched',
  'completed',
  'rolled-back',
  'failed',
  'expired',
  'cancelled',
] as const;
export type SwapState = (typeof SWAP_STATES)[number];
/** profile.swaps.v1: one record per swap state change, in state order per swap. */
export const profileSwapRecordSchema = z.object({
  ...envelopeShape,
  type: z.literal('profile.swap'),
  swapId: z.uuid(),
  meterId: meterIdSchema,
  fromIccid: iccidSchema,
  toIccid: iccidSchema,
  fromCarrierId: carrierIdSchema,
  toCarrierId: carrierIdSchema,
  trigger: z.enum(SWAP_TRIGGERS),
  state: z.enum(SWAP_STATES),
  /** Result code for `failed`, `expired` and `cancelled`. */
  reasonCode: z.string().optional(),
  eimTransactionId: z.string().optional(),
  /** The eIM's internal step (`ordering`, `downloading`, `enabling`, `confirming`): extra to `state`. */
  phase: z.enum(['ordering', 'downloading', 'enabling', 'confirming']).optional(),
  /** The target profile was downloaded from the carrier's SM-DP+ for this swap. */
  needsDownload: z.boolean().optional(),
  /** The campaign that started the swap, if any. */
  campaignId: z.uuid().optional(),
});
export type ProfileSwapRecord = z.infer<typeof profileSwapRecordSchema>;

export {
  CHARGE_TYPES,
  billingChargeRecordSchema,
  billingPeriodSchema,
  type BillingChargeRecord,
  type ChargeType,
} from './billing-charges';

/** Stable reason codes for rejected uplink messages (ingest.rejected.v1 and the metric). */
export const REJECT_REASONS = [
  'payload_too_large',
  'malformed_payload',
  'schema_violation',
  'unknown_topic',
  'unknown_meter',
  'meter_decommissioned',
  'topic_owner_mismatch',
  'bad_signature',
  'unsigned_not_allowed',
  'duplicate',
  'replay_too_old',
  /** The platform failed to process a valid-looking message repeatedly (a defect, not the meter's fault). */
  'processing_failed',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];
export const ingestRejectedRecordSchema = z.object({
  ...envelopeShape,
  type: z.literal('ingest.rejected'),
  reason: z.enum(REJECT_REASONS),
  detail: z.string().max(1024).optional(),
  mqttTopic: z.string(),
  receivedAt: isoDateTimeSchema,
  /** base64 of the raw payload, truncated to 4 KiB. */
  payload: z.string(),
  payloadBytes: uint,
  meterId: meterIdSchema.optional(),
  seq: uint.optional(),
});
export type IngestRejectedRecord = z.infer<typeof ingestRejectedRecordSchema>;

// ---- internal topics between platform services (documented, not part of the downstream contract)

/** esipa.inbound.v1: ESipa messages from meters, decoded by ingestion, for the eIM. */
export const esipaInboundRecordSchema = z.object({
  ...envelopeShape,
  type: z.literal('esipa.inbound'),
  meterId: meterIdSchema,
  seq: uint,
  receivedAt: isoDateTimeSchema,
  message: esipaUplinkMessageSchema,
});
export type EsipaInboundRecord = z.infer<typeof esipaInboundRecordSchema>;

/** esipa.outbound.v1: what the eIM wants delivered to a meter's `down/esipa`. */
export const esipaOutboundRecordSchema = z.object({
  ...envelopeShape,
  type: z.literal('esipa.outbound'),
  meterId: meterIdSchema,
  message: esipaDownlinkMessageSchema,
  /** Not delivered after this instant (a package for a sleepy meter is re-sent on its next poll). */
  expiresAt: isoDateTimeSchema.optional(),
});
export type EsipaOutboundRecord = z.infer<typeof esipaOutboundRecordSchema>;

/** fleet.meters.v1 (compacted, key meterId): the registry's view of a meter, without secrets. */
export const fleetMeterRecordSchema = z.object({
  ...envelopeShape,
  type: z.literal('fleet.meter'),
  meterId: meterIdSchema,
  eid: eidSchema,
  kind: meterKindSchema,
  region: regionSchema,
  customerId: z.string(),
  tariffId: z.string(),
  reportIntervalS: z.number().int().positive(),
  signedTelemetry: z.boolean(),
  rollbackWindowS: z.number().int().positive(),
  fallbackDelayS: z.number().int().positive(),
  devicePublicKeyJwk: ecPublicJwkSchema,
  status: z.enum(['active', 'decommissioned']),
  profiles: z.array(manifestProfileSchema),
  /** Monotonic per meter, so that caches can refuse an older view that arrives late. */
  revision: uint,
});
export type FleetMeterRecord = z.infer<typeof fleetMeterRecordSchema>;

/** fleet.carriers.v1 (compacted, key carrierId). */
export const fleetCarrierRecordSchema = z.object({
  ...envelopeShape,
  type: z.literal('fleet.carrier'),
  ...carrierSchema.shape,
});
export type FleetCarrierRecord = z.infer<typeof fleetCarrierRecordSchema>;

/** fleet.regions.v1 (compacted, key region): carriers under contract, in order of preference. */
export const fleetRegionRecordSchema = z.object({
  ...envelopeShape,
  type: z.literal('fleet.region'),
  ...regionContractSchema.shape,
});
export type FleetRegionRecord = z.infer<typeof fleetRegionRecordSchema>;

/** deadletter.v1: a record a consumer could not process, with a stable reason code. */
export const deadLetterRecordSchema = z.object({
  ...envelopeShape,
  type: z.literal('deadletter'),
  reason: z.enum(['undecodable', 'schema_violation', 'handler_failed']),
  detail: z.string().max(2048),
  consumerGroup: z.string(),
  sourceTopic: z.string(),
  sourcePartition: uint,
  sourceOffset: z.string(),
  key: z.string().nullable(),
  /** base64 of the original value, truncated to 4 KiB. */
  value: z.string(),
});
export type DeadLetterRecord = z.infer<typeof deadLetterRecordSchema>;

export const manifestProfileRecordSchema = manifestProfileSchema;
