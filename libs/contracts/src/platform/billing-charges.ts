import { z } from 'zod';
import { envelopeShape } from '../envelope';
import { carrierIdSchema, meterIdSchema, registerSchema } from '../primitives';

export const CHARGE_TYPES = [
  'connectivity.subscription',
  'connectivity.data',
  'connectivity.download',
  'connectivity.swap',
  'consumption',
] as const;
export type ChargeType = (typeof CHARGE_TYPES)[number];

export const billingPeriodSchema = z
  .string()
  .regex(/^[0-9]{4}-(0[1-9]|1[0-2])$/, 'period must be YYYY-MM');

/**
 * billing.charges.v1: one rated charge line. A `chargeId` is published again, with a higher
 * `revision`, when a re-rating changes it while its month is open: the latest revision is the
 * line. Once a month is closed its lines never change; a change is published as a new line (its
 * own `chargeId`) in the next open month, with `correctionOf` naming the line it corrects and
 * `servicePeriod` the month the service happened in. The total of a month is the sum of the
 * latest revision of each line billed in it.
 */
export const billingChargeRecordSchema = z.object({
  ...envelopeShape,
  type: z.enum(CHARGE_TYPES),
  chargeId: z.string().min(1),
  /** The month the line is billed in. */
  period: billingPeriodSchema,
  quantity: z.number(),
  unit: z.string().min(1),
  amountMinor: z.number().int(),
  currency: z.string().regex(/^[A-Z]{3}$/),
  meterId: meterIdSchema.optional(),
  carrierId: carrierIdSchema.optional(),
  customerId: z.string().optional(),
  estimated: z.boolean().optional(),
  /** 1 for a line's first rating, + 1 for each restatement. */
  revision: z.number().int().positive().optional(),
  /** The month the service happened in; differs from `period` on a correction. */
  servicePeriod: billingPeriodSchema.optional(),
  /** A correction: the chargeId of the closed month's line it corrects (amounts are deltas). */
  correctionOf: z.string().optional(),
  /** Consumption lines: the register and the time-of-use band. */
  register: registerSchema.optional(),
  band: z.string().optional(),
  /** e.g. `register_decrease` (the decrease is not billed), `gap_estimated`. */
  flags: z.array(z.string()).optional(),
  /** Why a restatement or a correction was made (late readings, a rollback, ...). */
  reason: z.string().optional(),
});
export type BillingChargeRecord = z.infer<typeof billingChargeRecordSchema>;
