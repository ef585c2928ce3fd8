import type { Pool, PoolClient } from '@meterlink/postgres';

export interface MonthsToRateScope {
  /** Only these meters (default: every meter). */
  meterIds?: string[];
  /** Only this month, `YYYY-MM` (default: every month). */
  period?: string;
  /** The current UTC month is the last one marked (default: the database's clock). */
  now?: Date;
}

/**
 * Marks dirty every (meter, UTC month) its subscription ran in that was neither rated nor already
 * dirty: from the month of the meter's first profile (first sighting or swap) to the current
 * month, or to the month of its decommissioning. Readings, usage and swaps only mark the months
 * they touch, so a meter that sent nothing in a month (silent, out of coverage) would otherwise
 * never be charged the subscription its carrier invoices.
 *
 * Only meters whose fleet record is known: the end of a decommissioned meter's timeline comes
 * from it (a meter decommissioned before that was recorded has no known end and is left alone).
 * Returns how many months it marked.
 */
export async function markMonthsToRate(
  db: Pool | PoolClient,
  scope: MonthsToRateScope = {},
): Promise<number> {
  const month = scope.period ? `${scope.period}-01T00:00:00Z` : null;
  const { rowCount } = await db.query(
    `WITH span AS (
       SELECT t.meter_id,
              date_trunc('month', min(t.from_at) AT TIME ZONE 'UTC') AS first_month,
              -- least() skips NULL: an active meter runs to the current month.
              date_trunc('month', least(m.decommissioned_at - interval '1 millisecond',
                                        coalesce($2::timestamptz, now())) AT TIME ZONE 'UTC') AS last_month
       FROM billing.profile_timeline t JOIN billing.meters m ON m.meter_id = t.meter_id
       WHERE (m.status <> 'decommissioned' OR m.decommissioned_at IS NOT NULL)
         AND ($1::text[] IS NULL OR t.meter_id = ANY($1::text[]))
       GROUP BY t.meter_id, m.decommissioned_at
     ), months AS (
       SELECT s.meter_id, to_char(g, 'YYYY-MM') AS period
       FROM span s,
            generate_series(greatest(s.first_month, coalesce($3::timestamptz AT TIME ZONE 'UTC', s.first_month)),
                            least(s.last_month, coalesce($3::timestamptz AT TIME ZONE 'UTC', s.last_month)),
                            interval '1 month') g
     )
     INSERT INTO billing.dirty_periods (meter_id, period)
     SELECT mo.meter_id, mo.period FROM months mo
     WHERE NOT EXISTS (SELECT 1 FROM billing.rated_periods r WHERE r.meter_id = mo.meter_id AND r.period = mo.period)
     ORDER BY 1, 2
     ON CONFLICT (meter_id, period) DO NOTHING`,
    [scope.meterIds ?? null, scope.now ?? null, month],
  );
  return rowCount ?? 0;
}
