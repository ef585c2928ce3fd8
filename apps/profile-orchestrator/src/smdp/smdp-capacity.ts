import { z } from 'zod';

/**
 * `carrier-a:300,carrier-b:1200`: download orders per minute that each carrier's SM-DP+ takes,
 * where it differs from SMDP_ORDERS_PER_MIN. Carriers' SM-DP+ capacities are contract terms and
 * differ by an order of magnitude; one figure for all would idle the large ones or flood the
 * small ones.
 */
export const smdpCapacityByCarrierSchema = z
  .string()
  .default('')
  .transform((text, ctx) => {
    const byCarrier: Record<string, number> = {};
    for (const entry of text.split(',').map((e) => e.trim())) {
      if (entry === '') continue;
      const match = /^([A-Za-z0-9._-]+):(\d+)$/.exec(entry);
      const perMin = match ? Number(match[2]) : 0;
      if (!match || perMin < 1) {
        ctx.addIssue({
          code: 'custom',
          message: `"${entry}" is not carrierId:ordersPerMinute (a whole number of at least 1)`,
        });
        return z.NEVER;
      }
      byCarrier[match[1]!] = perMin;
    }
    return byCarrier;
  });

/** The SM-DP+ capacity the orchestrator keeps to for a carrier: its own figure, or the default. */
export function ordersPerMinute(
  carrierId: string,
  byCarrier: Readonly<Record<string, number>>,
  defaultPerMin: number,
): number {
  return Object.hasOwn(byCarrier, carrierId) ? byCarrier[carrierId]! : defaultPerMin;
}
