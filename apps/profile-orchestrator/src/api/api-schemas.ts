import { BadRequestException } from '@nestjs/common';
import { z } from 'zod';
import {
  SWAP_STATES,
  SWAP_TRIGGERS,
  carrierIdSchema,
  iccidSchema,
  isoDateTimeSchema,
  meterIdSchema,
  regionSchema,
} from '@meterlink/contracts';

/**
 * The orchestrator's operator API (ISSUE6 contract B) as zod schemas: controllers validate with
 * them and the OpenAPI document (openapi.ts) is generated from them.
 */

const share = z.number().min(0).max(1);

export const errorSchema = z
  .object({
    statusCode: z.number().int(),
    message: z.union([z.string(), z.array(z.string())]),
    error: z.string().optional(),
    code: z.string().optional().describe('a stable code, where the route defines them'),
  })
  .describe('An error answer (NestJS format).');

export const campaignSelectorSchema = z
  .object({
    region: regionSchema.optional().describe('meters installed in this region'),
    meterIds: z.array(meterIdSchema).min(1).max(100_000).optional(),
    fromCarrierId: carrierIdSchema
      .optional()
      .describe('only meters whose enabled profile is on this carrier'),
  })
  .refine((s) => s.region !== undefined || s.meterIds !== undefined, {
    message: 'a selector needs a region or meterIds',
  });

export const createCampaignSchema = z.object({
  name: z.string().min(1).max(200),
  reason: z.string().max(2000).optional(),
  selector: campaignSelectorSchema,
  targetCarrierId: carrierIdSchema,
  waves: z
    .object({
      canarySize: z.number().int().min(1).max(100_000).optional(),
      growthFactor: z.number().min(1).max(100).optional(),
      maxWaveSize: z.number().int().min(1).max(100_000).optional(),
    })
    .optional(),
  successRateGate: share.optional().describe('default 0.9'),
  errorThreshold: share.optional().describe('default 0.2'),
});

export const campaignStateSchema = z.enum([
  'pending-approval',
  'running',
  'paused',
  'completed',
  'stopped',
]);

export const campaignCreatedSchema = z.object({
  campaignId: z.uuid(),
  state: campaignStateSchema,
  meterCount: z.number().int(),
  requiresApproval: z.boolean(),
});

const count = z.number().int().min(0);
export const waveSchema = z.object({
  index: count,
  size: count,
  started: count,
  completed: count,
  rolledBack: count,
  failed: count,
  expired: count,
  cancelled: count,
  skipped: count.describe('already on the target, another swap in progress, no longer active'),
  inFlight: count,
});

export const campaignSchema = z.object({
  campaignId: z.uuid(),
  name: z.string(),
  reason: z.string().optional(),
  trigger: z.enum(['operator', 'carrier-outage']),
  state: campaignStateSchema,
  pausedReason: z
    .string()
    .optional()
    .describe(
      'operator, error_threshold, success_rate_gate, expired_threshold (the gates of @meterlink/campaign-policy), target_in_outage; for a stop: operator or carrier_recovered',
    ),
  selector: z.object({
    region: regionSchema.optional(),
    meterIds: z.array(meterIdSchema).optional(),
    fromCarrierId: carrierIdSchema.optional(),
  }),
  targetCarrierId: carrierIdSchema,
  meterCount: count,
  waves: z.array(waveSchema),
  totals: z.object({
    completed: count,
    rolledBack: count,
    failed: count,
    expired: count,
    cancelled: count,
    skipped: count,
    inFlight: count,
    pending: count.describe('meters whose swap has not started yet'),
  }),
  createdBy: z.string(),
  approvedBy: z.string().optional(),
  createdAt: isoDateTimeSchema,
});
export const campaignListSchema = z.object({
  items: z.array(campaignSchema).describe('newest first, at most 200'),
});

export const swapRequestSchema = z.object({ targetCarrierId: carrierIdSchema });
export const swapAcceptedSchema = z.object({ swapId: z.uuid() });

export const swapViewSchema = z.object({
  swapId: z.uuid(),
  trigger: z.enum(SWAP_TRIGGERS),
  state: z.enum(SWAP_STATES),
  phase: z.enum(['ordering', 'downloading', 'enabling', 'confirming']),
  needsDownload: z.boolean(),
  fromIccid: iccidSchema,
  toIccid: iccidSchema.optional().describe('absent until the SM-DP+ allocated it'),
  fromCarrierId: carrierIdSchema,
  toCarrierId: z.string(),
  reasonCode: z.string().optional(),
  campaignId: z.uuid().optional(),
  requestedBy: z.string().optional(),
  createdAt: isoDateTimeSchema,
  updatedAt: isoDateTimeSchema,
});
export const swapHistorySchema = z.object({
  meterId: meterIdSchema,
  swaps: z.array(swapViewSchema).describe('newest first'),
});

export const pendingPackageSchema = z.object({
  type: z.enum(['eimPackage', 'profileDownloadTrigger']),
  swapId: z.uuid(),
  eimTransactionId: z.string(),
  counterValue: z.number().int().optional(),
  expiresAt: isoDateTimeSchema.optional(),
});
export const pendingPackagesSchema = z.object({
  meterId: meterIdSchema,
  sleepy: z.boolean().describe('battery meter: packages wait for its next poll'),
  lastSeenAt: isoDateTimeSchema.optional(),
  nextExpectedAt: isoDateTimeSchema.optional(),
  packages: z.array(pendingPackageSchema),
});

export const carrierCoverageSchema = z.object({
  carrierId: carrierIdSchema,
  meters: z.number().int().nonnegative().describe('tracked meters of the carrier in the region'),
  healthy: z.number().int().nonnegative(),
  degraded: z.number().int().nonnegative(),
  lost: z.number().int().nonnegative(),
  slowMeters: z.number().int().nonnegative().describe('of them, reporting daily or less often'),
  outageId: z.string().optional().describe('the carrier’s open outage in the region'),
  at: isoDateTimeSchema.describe('when the coverage monitor counted them'),
  fresh: z
    .boolean()
    .describe('within COVERAGE_STATS_MAX_AGE_S: the swap policy judges the carrier by it'),
});
export const regionCoverageSchema = z.object({
  region: regionSchema,
  maxAgeS: z.number().int().positive(),
  carriers: z.array(carrierCoverageSchema),
});

export const auditQuerySchema = z.object({
  meterId: meterIdSchema.optional(),
  campaignId: z.uuid().optional(),
  before: z.coerce.number().int().positive().optional().describe('cursor: `nextBefore`'),
  limit: z.coerce.number().int().min(1).max(1000).default(100).describe('page size, at most 1000'),
});
export const auditEntrySchema = z.object({
  auditId: z.number().int().positive(),
  at: isoDateTimeSchema,
  actor: z
    .string()
    .describe('an API token id (token-<n>), `eim…` for the eIM itself, `device` for the meter'),
  action: z.string().describe('swap.requested, swap.completed, campaign.created, …'),
  meterId: meterIdSchema.optional(),
  eid: z.string().optional(),
  swapId: z.uuid().optional(),
  campaignId: z.uuid().optional(),
  detail: z.record(z.string(), z.unknown()),
});
export const auditListSchema = z.object({
  entries: z.array(auditEntrySchema).describe('newest first'),
  nextBefore: z.number().int().positive().optional(),
});

export const API_COMPONENTS = {
  Error: errorSchema,
  CreateCampaign: createCampaignSchema,
  CampaignCreated: campaignCreatedSchema,
  Campaign: campaignSchema,
  CampaignList: campaignListSchema,
  Wave: waveSchema,
  SwapRequest: swapRequestSchema,
  SwapAccepted: swapAcceptedSchema,
  Swap: swapViewSchema,
  SwapHistory: swapHistorySchema,
  PendingPackage: pendingPackageSchema,
  PendingPackages: pendingPackagesSchema,
  CarrierCoverage: carrierCoverageSchema,
  RegionCoverage: regionCoverageSchema,
  AuditEntry: auditEntrySchema,
  AuditList: auditListSchema,
} as const;
export type ApiComponent = keyof typeof API_COMPONENTS;

/** Parses a query string or body with its API schema; 400 names each problem. */
export function parseRequest<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const parsed = schema.safeParse(input ?? {});
  if (!parsed.success)
    throw new BadRequestException(
      parsed.error.issues.map((i) => `${i.path.join('.') || '(request)'}: ${i.message}`),
    );
  return parsed.data;
}
