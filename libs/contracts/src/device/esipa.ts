import { z } from 'zod';
import { eidSchema, iccidSchema, uint } from '../primitives';

/** §4.1 PSMOs the eIM may send; the meter runs them in order and stops at the first failure. */
export const psmoSchema = z.discriminatedUnion('op', [
  z.object({ op: z.literal('enable'), iccid: iccidSchema, rollback: z.boolean() }),
  z.object({ op: z.literal('disable'), iccid: iccidSchema }),
  z.object({ op: z.literal('delete'), iccid: iccidSchema }),
  z.object({ op: z.literal('listProfileInfo') }),
  z.object({ op: z.literal('setFallbackAttribute'), iccid: iccidSchema }),
  z.object({ op: z.literal('unsetFallbackAttribute') }),
]);
export type Psmo = z.infer<typeof psmoSchema>;
export type PsmoOp = Psmo['op'];
export const PSMO_OPS = [
  'enable',
  'disable',
  'delete',
  'listProfileInfo',
  'setFallbackAttribute',
  'unsetFallbackAttribute',
] as const;

/** Payload of the eIM-signed JWS in an `eimPackage`. */
export const eimPackagePayloadSchema = z.object({
  eimId: z.string().min(1).max(128),
  eid: eidSchema,
  counterValue: uint,
  eimTransactionId: z.string().min(1).max(128),
  psmoList: z.array(psmoSchema).min(1).max(16),
});
export type EimPackagePayload = z.infer<typeof eimPackagePayloadSchema>;

/**
 * Result codes (§4.2). `replayError` and `invalidSignature` concern the whole package: the meter
 * reports them on the first PSMO of the package, having executed none.
 */
export const PSMO_RESULT_CODES = [
  'ok',
  'iccidOrAidNotFound',
  'profileNotInDisabledState',
  'disallowedByPolicy',
  'catBusy',
  'rollbackNotAvailable',
  'fallbackNotAllowed',
  'replayError',
  'invalidSignature',
] as const;
export const psmoResultCodeSchema = z.enum(PSMO_RESULT_CODES);
export type PsmoResultCode = z.infer<typeof psmoResultCodeSchema>;

/** Payload of the meter-signed JWS in an `eimPackageResult`. */
export const eimPackageResultPayloadSchema = z.object({
  eid: eidSchema,
  eimTransactionId: z.string().min(1).max(128),
  counterValue: uint,
  seqNumber: uint,
  results: z
    .array(
      z.object({
        op: z.enum(PSMO_OPS),
        iccid: iccidSchema.optional(),
        code: psmoResultCodeSchema,
      }),
    )
    .max(16),
  rolledBack: z.boolean(),
});
export type EimPackageResultPayload = z.infer<typeof eimPackageResultPayloadSchema>;

/** §4.1 eIM → IPA messages on `down/esipa`. */
export const eimPackageMessageSchema = z.object({
  type: z.literal('eimPackage'),
  jws: z.string().min(1),
});
export const profileDownloadTriggerSchema = z.object({
  type: z.literal('profileDownloadTrigger'),
  eimTransactionId: z.string().min(1).max(128),
  activationCode: z
    .string()
    .regex(
      /^1\$[^$]+\$[^$]*(\$.*)?$/,
      'activation code must be an SGP.22 "1$SM-DP+$MatchingId" string',
    ),
});
export const eimAcknowledgementsSchema = z.object({
  type: z.literal('eimAcknowledgements'),
  seqNumbers: z.array(uint).min(1).max(256),
});
export const noEimPackageAvailableSchema = z.object({ type: z.literal('noEimPackageAvailable') });
export const esipaDownlinkMessageSchema = z.discriminatedUnion('type', [
  eimPackageMessageSchema,
  profileDownloadTriggerSchema,
  eimAcknowledgementsSchema,
  noEimPackageAvailableSchema,
]);
export type EsipaDownlinkMessage = z.infer<typeof esipaDownlinkMessageSchema>;
