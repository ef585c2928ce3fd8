import { z } from 'zod';
import {
  DOWNLOAD_RESULTS,
  NOTIFICATION_EVENTS,
  STATE_CHANGE_CAUSES,
  carrierIdSchema,
  eidSchema,
  eimPackageResultPayloadSchema,
  iccidSchema,
  intervalReadingSchema,
  isoDateTimeSchema,
  meterIdSchema,
  meterKindSchema,
  regionSchema,
} from '@meterlink/contracts';

/**
 * The simulator's own secret state (fleet-state.json): device private keys, MQTT passwords and
 * what each meter's firmware and eUICC keep across reboots (counters, profiles, unacknowledged
 * items). Never handed to the platform.
 */

const uint = z.number().int().nonnegative();

export const privateJwkSchema = z.object({
  kty: z.literal('EC'),
  crv: z.literal('P-256'),
  x: z.string().min(1),
  y: z.string().min(1),
  d: z.string().min(1),
});

export const simProfileSchema = z.object({
  iccid: iccidSchema,
  carrierId: carrierIdSchema,
  state: z.enum(['enabled', 'disabled']),
  fallback: z.boolean(),
});
export type SimProfile = z.infer<typeof simProfileSchema>;

export const pendingItemSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('result'),
    seqNumber: uint,
    eimTransactionId: z.string().min(1),
    jws: z.string().min(1),
  }),
  z.object({
    kind: z.literal('download'),
    seqNumber: uint,
    eimTransactionId: z.string().min(1),
    iccid: iccidSchema.optional(),
    result: z.enum(DOWNLOAD_RESULTS),
  }),
  z.object({
    kind: z.literal('notification'),
    seqNumber: uint,
    event: z.enum(NOTIFICATION_EVENTS),
    iccid: iccidSchema,
    at: isoDateTimeSchema,
  }),
]);
export type PendingItem = z.infer<typeof pendingItemSchema>;

/** A swap with rollback that was still attaching when the simulator stopped. */
export const interruptedSwapSchema = z.object({
  previousIccid: iccidSchema,
  targetIccid: iccidSchema,
  eimTransactionId: z.string().min(1),
  counterValue: uint,
  results: eimPackageResultPayloadSchema.shape.results,
});

export const meterRuntimeSchema = z.object({
  /** Last uplink seq sent (the next message carries seq + 1). */
  seq: uint,
  /** Last seqNumber given to a result, download result or notification. */
  seqNumber: uint,
  /** Last counterValue accepted from the eIM (0 at manufacture). */
  eimCounter: uint,
  profiles: z.array(simProfileSchema).min(1).max(16),
  register: uint,
  batteryPct: z.number().min(0).max(100).optional(),
  readings: z.array(intervalReadingSchema).max(96),
  pending: z.array(pendingItemSchema),
  /** Results of executed packages by eimTransactionId, re-sent when a package comes again. */
  executed: z.array(
    z.object({ eimTransactionId: z.string().min(1), seqNumber: uint, jws: z.string().min(1) }),
  ),
  downloads: z.array(
    z.object({
      eimTransactionId: z.string().min(1),
      seqNumber: uint,
      iccid: iccidSchema.optional(),
      result: z.enum(DOWNLOAD_RESULTS),
    }),
  ),
  downloadsInstalled: uint,
  stateChangeCause: z.enum(STATE_CHANGE_CAUSES).optional(),
  interruptedSwap: interruptedSwapSchema.optional(),
});
export type MeterRuntime = z.infer<typeof meterRuntimeSchema>;

export const fleetStateMeterSchema = z.object({
  meterId: meterIdSchema,
  meterIndex: uint,
  eid: eidSchema,
  kind: meterKindSchema,
  region: regionSchema,
  signedTelemetry: z.boolean(),
  /** Field seconds between readings (what the meter measures over). */
  fieldReportIntervalS: z.number().positive(),
  /** Real seconds, as in the manifest. */
  reportIntervalS: z.number().int().positive(),
  rollbackWindowS: z.number().int().positive(),
  fallbackDelayS: z.number().int().positive(),
  mqttPassword: z.string().min(24),
  deviceKey: privateJwkSchema,
  runtime: meterRuntimeSchema,
});
export type FleetStateMeter = z.infer<typeof fleetStateMeterSchema>;

export const fleetStateSchema = z.object({
  version: z.literal(1),
  scenario: z.string().min(1),
  seed: uint,
  speedup: z.number().positive(),
  meters: z.array(fleetStateMeterSchema),
});
export type FleetState = z.infer<typeof fleetStateSchema>;
