import { z } from 'zod';
import {
  CHARGE_TYPES,
  billingPeriodSchema,
  carrierIdSchema,
  isoDateTimeSchema,
  meterIdSchema,
} from '@meterlink/contracts';

/**
 * The statements API's answers and queries as zod schemas: controllers parse with them and the
 * OpenAPI document (openapi.ts) is generated from them.
 */

export const errorSchema = z
  .object({
    statusCode: z.number().int(),
    message: z.union([z.string(), z.array(z.string())]),
    error: z.string().optional(),
    code: z.string().optional().describe('a stable code, where the route defines them'),
  })
  .describe('An error answer (NestJS format).');

export const statementQuerySchema = z.object({
  format: z.enum(['json', 'csv']).default('json').describe('csv: one line per charge line'),
});

export const statementLineSchema = z.object({
  chargeId: z.string(),
  period: billingPeriodSchema.describe('the month the line is billed in'),
  servicePeriod: billingPeriodSchema.describe('the month the service happened in'),
  type: z.enum(CHARGE_TYPES),
  meterId: meterIdSchema,
  carrierId: carrierIdSchema.nullable(),
  customerId: z.string().nullable(),
  register: z.string().nullable(),
  band: z.string().nullable(),
  quantity: z.number(),
  unit: z.string(),
  amountMinor: z.number().int(),
  currency: z.string(),
  estimated: z.boolean(),
  flags: z.array(z.string()),
  correctionOf: z.string().nullable().describe('a correction of a closed month’s line'),
  revision: z.number().int(),
});
export type StatementLine = z.infer<typeof statementLineSchema>;

export const statementSchema = z.object({
  subject: z.enum(['carrier', 'customer', 'meter']),
  id: z.string(),
  period: billingPeriodSchema,
  status: z.enum(['open', 'closed']).describe('closed: the lines never change again'),
  lines: z.array(statementLineSchema),
  totals: z
    .array(
      z.object({
        currency: z.string(),
        type: z.enum(CHARGE_TYPES),
        amountMinor: z.number().int(),
        lines: z.number().int(),
      }),
    )
    .describe('per currency and charge type'),
  totalMinor: z.record(z.string(), z.number().int()).describe('per currency'),
});
export type Statement = z.infer<typeof statementSchema>;

export const auditQuerySchema = z.object({
  period: billingPeriodSchema.optional().describe('only this service month'),
});
export const auditEntrySchema = z.object({
  auditId: z.number().int(),
  at: isoDateTimeSchema,
  chargeId: z.string(),
  meterId: meterIdSchema,
  servicePeriod: billingPeriodSchema,
  action: z.enum(['rated', 're-rated', 'corrected']),
  oldAmountMinor: z.number().int().nullable(),
  newAmountMinor: z.number().int(),
  oldQuantity: z.number().nullable(),
  newQuantity: z.number(),
  reason: z.string(),
  detail: z.record(z.string(), z.unknown()),
});
export const auditListSchema = z.object({ entries: z.array(auditEntrySchema) });

export const monthSchema = z.object({
  period: billingPeriodSchema,
  closedAt: isoDateTimeSchema,
  closedBy: z.string(),
});
export const monthListSchema = z.object({ closed: z.array(monthSchema) });
export const monthCloseResultSchema = monthSchema.extend({
  alreadyClosed: z.boolean(),
  pendingRatings: z
    .number()
    .int()
    .describe('months of meters still waiting to be rated: their changes become corrections'),
});

export const API_COMPONENTS = {
  Error: errorSchema,
  StatementLine: statementLineSchema,
  Statement: statementSchema,
  AuditEntry: auditEntrySchema,
  AuditList: auditListSchema,
  Month: monthSchema,
  MonthList: monthListSchema,
  MonthCloseResult: monthCloseResultSchema,
} as const;
export type ApiComponent = keyof typeof API_COMPONENTS;
