import { z } from 'zod';
import { carrierIdSchema, eidSchema, iccidSchema } from '../primitives';

/**
 * The carrier SM-DP+ interfaces the platform uses (issue 6, contract A): ES2+ (eIM/operator →
 * SM-DP+) and a simplified ES9+ download (device → SM-DP+), JSON over HTTP POST. Shared by the
 * orchestrator (ES2+ client), the meter simulator (ES9+ client) and the SM-DP+ simulator (server),
 * so that the three cannot drift.
 */

export const ES2_PATHS = {
  downloadOrder: '/gsma/rsp2/es2plus/downloadOrder',
  confirmOrder: '/gsma/rsp2/es2plus/confirmOrder',
  cancelOrder: '/gsma/rsp2/es2plus/cancelOrder',
} as const;
export const ES9_PATHS = { downloadProfile: '/gsma/rsp2/es9plus/downloadProfile' } as const;
export const SMDP_SIM_PATHS = { config: '/sim/config', stats: '/sim/stats', reset: '/sim/reset' };

/** Where a carrier's SM-DP+ lives: `{carrierId}` in the template is replaced. */
export const DEFAULT_SMDP_URL_TEMPLATE = 'http://127.0.0.1:3090/{carrierId}';
export function smdpBaseUrl(template: string, carrierId: string): string {
  return template.replaceAll('{carrierId}', encodeURIComponent(carrierId)).replace(/\/+$/, '');
}

/** `functionCallIdentifier` is an idempotency key: the same id gets the same answer. */
export const es2RequestHeaderSchema = z.object({
  functionRequesterIdentifier: z.string().min(1).max(256),
  functionCallIdentifier: z.string().min(1).max(256),
});
export type Es2RequestHeader = z.infer<typeof es2RequestHeaderSchema>;

export const es2StatusCodeDataSchema = z.object({
  /** SGP.22-style subject code, e.g. `8.2.1` (Profile ICCID). */
  subjectCode: z.string(),
  /** SGP.22-style reason code, e.g. `3.9` (Unknown). */
  reasonCode: z.string(),
  message: z.string().optional(),
});
export type Es2StatusCodeData = z.infer<typeof es2StatusCodeDataSchema>;

export const es2ResponseHeaderSchema = z.object({
  functionExecutionStatus: z.object({
    status: z.enum(['Executed-Success', 'Failed']),
    statusCodeData: es2StatusCodeDataSchema.optional(),
  }),
});
export type Es2ResponseHeader = z.infer<typeof es2ResponseHeaderSchema>;

export const downloadOrderRequestSchema = z.object({
  header: es2RequestHeaderSchema,
  eid: eidSchema,
  profileType: z.string().min(1).max(64).optional(),
});
export type DownloadOrderRequest = z.infer<typeof downloadOrderRequestSchema>;
/** `iccid` is present on success: a profile of that carrier, bound to the EID. */
export const downloadOrderResponseSchema = z.object({
  header: es2ResponseHeaderSchema,
  iccid: iccidSchema.optional(),
});
export type DownloadOrderResponse = z.infer<typeof downloadOrderResponseSchema>;

export const confirmOrderRequestSchema = z.object({
  header: es2RequestHeaderSchema,
  iccid: iccidSchema,
  eid: eidSchema,
  /** The simulator supports only released orders (`true`). */
  releaseFlag: z.boolean(),
  /** Optional operator-chosen matching id; the SM-DP+ makes one otherwise. */
  matchingId: z
    .string()
    .regex(/^[A-Za-z0-9-]{1,64}$/)
    .optional(),
});
export type ConfirmOrderRequest = z.infer<typeof confirmOrderRequestSchema>;
/** On success: activation code = `1$<smdpAddress>$<matchingId>`. */
export const confirmOrderResponseSchema = z.object({
  header: es2ResponseHeaderSchema,
  matchingId: z.string().optional(),
  smdpAddress: z.string().optional(),
});
export type ConfirmOrderResponse = z.infer<typeof confirmOrderResponseSchema>;

export const cancelOrderRequestSchema = z.object({
  header: es2RequestHeaderSchema,
  iccid: iccidSchema,
  eid: eidSchema,
  /** Absent for an order that was never confirmed. */
  matchingId: z.string().min(1).max(64).optional(),
  finalProfileStatusIndicator: z.enum(['Available', 'Unavailable']),
});
export type CancelOrderRequest = z.infer<typeof cancelOrderRequestSchema>;
export const cancelOrderResponseSchema = z.object({ header: es2ResponseHeaderSchema });
export type CancelOrderResponse = z.infer<typeof cancelOrderResponseSchema>;

export const ES9_DOWNLOAD_REFUSALS = [
  'matchingIdRefused',
  'noEligibleProfile',
  'downloadOrderExpired',
] as const;
export type Es9DownloadRefusal = (typeof ES9_DOWNLOAD_REFUSALS)[number];

export const es9DownloadProfileRequestSchema = z.object({
  eid: eidSchema,
  matchingId: z.string().min(1).max(64),
});
export type Es9DownloadProfileRequest = z.infer<typeof es9DownloadProfileRequestSchema>;
/** HTTP 200. */
export const es9DownloadProfileResponseSchema = z.object({ iccid: iccidSchema });
/** HTTP 409. */
export const es9DownloadRefusedSchema = z.object({ reason: z.enum(ES9_DOWNLOAD_REFUSALS) });

/** `1$<smdpAddress>$<matchingId>` (SGP.22 activation code, format 1, no confirmation code). */
export function activationCode(smdpAddress: string, matchingId: string): string {
  return `1$${smdpAddress}$${matchingId}`;
}
export function parseActivationCode(
  code: string,
): { smdpAddress: string; matchingId: string } | undefined {
  const [format, smdpAddress, matchingId] = code.split('$');
  if (format !== '1' || !smdpAddress || matchingId === undefined) return undefined;
  return { smdpAddress, matchingId };
}

/** The simulator's knobs, per carrier (`POST {base}/sim/config` replaces them all). */
export const smdpSimConfigSchema = z.object({
  /** Probability (0..1) that a call fails (a transient 503, or `Failed` with `failMode`). */
  failRate: z
    .object({
      downloadOrder: z.number().min(0).max(1).optional(),
      confirmOrder: z.number().min(0).max(1).optional(),
      cancelOrder: z.number().min(0).max(1).optional(),
      downloadProfile: z.number().min(0).max(1).optional(),
    })
    .optional(),
  /** `transient` (default): HTTP 503, retry later; `failed`: ES2+ `Failed` (reason 4.2), final. */
  failMode: z.enum(['transient', 'failed']).optional(),
  /** Every ES9+ downloadProfile is refused with this reason. */
  refuse: z.enum(['noEligibleProfile', 'matchingIdRefused']).optional(),
  /** Added to every ES2+ and ES9+ answer. */
  latencyMs: z.number().int().min(0).max(60_000).optional(),
  /** New downloadOrders accepted per rolling minute; above it HTTP 503 with Retry-After. */
  capacityPerMin: z.number().int().min(0).optional(),
  /** Answered by confirmOrder; default `smdp.<carrierId>.example` (SMDP_ADDRESS_TEMPLATE). */
  smdpAddress: z.string().min(1).max(255).optional(),
});
export type SmdpSimConfig = z.infer<typeof smdpSimConfigSchema>;

export const smdpSimStatsSchema = z.object({
  carrierId: carrierIdSchema.optional(),
  /** New orders executed (idempotent replays not counted), confirmations, ES9+ downloads, cancellations. */
  orders: z.number(),
  confirmations: z.number(),
  downloads: z.number(),
  cancellations: z.number(),
  /** Calls answered from the idempotency store (same functionCallIdentifier). */
  replays: z.number(),
  /** Orders neither downloaded, cancelled nor expired. */
  openOrders: z.number(),
  /** Non-success answers per function, and why: injected, over capacity, expired, refused. */
  failures: z.object({
    downloadOrder: z.number(),
    confirmOrder: z.number(),
    cancelOrder: z.number(),
    downloadProfile: z.number(),
    injected: z.number(),
    capacity: z.number(),
    expired: z.number(),
    refused: z.number(),
  }),
});
export type SmdpSimStats = z.infer<typeof smdpSimStatsSchema>;
