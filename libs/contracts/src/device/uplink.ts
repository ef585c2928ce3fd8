import { z } from 'zod';
import {
  REGISTERS_BY_KIND,
  eidSchema,
  iccidSchema,
  isoDateTimeSchema,
  meterKindSchema,
  plmnSchema,
  ratSchema,
  registerSchema,
  uint,
} from '../primitives';

/** Every uplink message carries the interface version and the meter's uplink counter (§1). */
const uplinkBase = { v: z.literal(1), seq: uint };

export const intervalReadingSchema = z.object({
  at: isoDateTimeSchema,
  register: registerSchema,
  value: uint,
});
export type IntervalReading = z.infer<typeof intervalReadingSchema>;

const nullableNumber = z.number().finite().nullable();

export const radioStatusSchema = z.object({
  rat: ratSchema,
  iccid: iccidSchema,
  plmn: plmnSchema,
  cellId: z.string().max(32).nullable(),
  rsrp: nullableNumber,
  rsrq: nullableNumber,
  sinr: nullableNumber,
  attachFailures: uint,
});
export type RadioStatus = z.infer<typeof radioStatusSchema>;

/** §2 telemetry. Unknown fields are stripped, never rejected (forward compatibility). */
export const telemetryMessageSchema = z
  .object({
    ...uplinkBase,
    sentAt: isoDateTimeSchema,
    kind: meterKindSchema,
    readings: z.array(intervalReadingSchema).max(96),
    radio: radioStatusSchema,
    battery: z.object({ pct: z.number().min(0).max(100) }).optional(),
    usage: z.object({ bytesUp: uint, bytesDown: uint }),
  })
  .superRefine((msg, ctx) => {
    const allowed = REGISTERS_BY_KIND[msg.kind];
    msg.readings.forEach((reading, index) => {
      if (!allowed.includes(reading.register)) {
        ctx.addIssue({
          code: 'custom',
          path: ['readings', index, 'register'],
          message: `register ${reading.register} is not reported by ${msg.kind} meters`,
        });
      }
    });
  });
export type TelemetryMessage = z.infer<typeof telemetryMessageSchema>;

export const ALARM_CODES = [
  'tamper',
  'reverse_flow',
  'leak',
  'low_battery',
  'power_outage',
  'power_restored',
] as const;
export const alarmCodeSchema = z.enum(ALARM_CODES);

export const profileStateSchema = z.enum(['enabled', 'disabled']);
export const deviceProfileSchema = z.object({
  iccid: iccidSchema,
  state: profileStateSchema,
  fallback: z.boolean(),
});

/** §3 events: alarms and boot. */
export const alarmEventMessageSchema = z.object({
  ...uplinkBase,
  sentAt: isoDateTimeSchema,
  type: z.literal('alarm'),
  code: alarmCodeSchema,
  at: isoDateTimeSchema,
});
export const bootEventMessageSchema = z.object({
  ...uplinkBase,
  sentAt: isoDateTimeSchema,
  type: z.literal('boot'),
  fw: z.string().min(1).max(64),
  eid: eidSchema,
  profiles: z.array(deviceProfileSchema).max(16),
});
export const deviceEventMessageSchema = z.discriminatedUnion('type', [
  alarmEventMessageSchema,
  bootEventMessageSchema,
]);
export type DeviceEventMessage = z.infer<typeof deviceEventMessageSchema>;

/** §4.2 IPA → eIM. */
export const STATE_CHANGE_CAUSES = ['fallback', 'local', 'reset'] as const;
export const getEimPackageSchema = z.object({
  ...uplinkBase,
  type: z.literal('getEimPackage'),
  eid: eidSchema,
  notifyStateChange: z.boolean().optional(),
  stateChangeCause: z.enum(STATE_CHANGE_CAUSES).optional(),
  rplmn: plmnSchema.optional(),
});
export type GetEimPackage = z.infer<typeof getEimPackageSchema>;

export const eimPackageResultMessageSchema = z.object({
  ...uplinkBase,
  type: z.literal('eimPackageResult'),
  jws: z.string().min(1).max(12_000),
});

export const DOWNLOAD_RESULTS = [
  'installed',
  'matchingIdRefused',
  'noEligibleProfile',
  'downloadOrderExpired',
  'insufficientMemory',
  // §4.3: a battery meter low on battery may refuse the energy-hungry download.
  'catBusy',
] as const;
export const profileDownloadResultSchema = z.object({
  ...uplinkBase,
  type: z.literal('profileDownloadResult'),
  eimTransactionId: z.string().min(1).max(128),
  seqNumber: uint,
  iccid: iccidSchema.optional(),
  result: z.enum(DOWNLOAD_RESULTS),
});
export type ProfileDownloadResult = z.infer<typeof profileDownloadResultSchema>;

export const NOTIFICATION_EVENTS = [
  'install',
  'enable',
  'disable',
  'delete',
  'fallback',
  'rollback',
] as const;
export const notificationEventSchema = z.enum(NOTIFICATION_EVENTS);
export const deviceNotificationSchema = z.object({
  seqNumber: uint,
  event: notificationEventSchema,
  iccid: iccidSchema,
  at: isoDateTimeSchema,
});
export type DeviceNotification = z.infer<typeof deviceNotificationSchema>;
export const notificationsMessageSchema = z.object({
  ...uplinkBase,
  type: z.literal('notifications'),
  eid: eidSchema,
  notifications: z.array(deviceNotificationSchema).min(1).max(64),
});

export const esipaUplinkMessageSchema = z.discriminatedUnion('type', [
  getEimPackageSchema,
  eimPackageResultMessageSchema,
  profileDownloadResultSchema,
  notificationsMessageSchema,
]);
export type EsipaUplinkMessage = z.infer<typeof esipaUplinkMessageSchema>;

/** §5: a signed message is `{"jws": "<compact JWS>"}` as the whole payload. */
export const signedEnvelopeSchema = z.object({ jws: z.string().min(1) });
