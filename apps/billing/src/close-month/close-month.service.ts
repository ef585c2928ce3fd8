import { ConflictException, Inject, Injectable } from '@nestjs/common';
import type { z } from 'zod';
import { utcMonth } from '@meterlink/billing-domain';
import { createLogger } from '@meterlink/observability';
import { withTransaction, type Pool } from '@meterlink/postgres';
import type { monthCloseResultSchema, monthListSchema } from '../api/api-schemas';
import { MONTH_CLOSE_LOCK, RatingService } from '../rating/rating.service';
import { SweepMonthsService } from '../sweep-months/sweep-months.service';
import { PG_POOL } from '../tokens';

type MonthCloseResult = z.infer<typeof monthCloseResultSchema>;
type MonthList = z.infer<typeof monthListSchema>;
const ZONE_SLACK_MS = 14 * 3_600_000;

/**
 * Closing a month freezes its lines: from then on a re-rating of that month (late readings, a
 * late swap) is billed as a correction line in the next open month, never by changing the
 * closed month. Before it freezes, every meter whose subscription ran in the month has it marked
 * (the month-start sweep normally did) and the month's waiting ratings are done, so the closed
 * statements are complete rather than corrected later. The exclusive lock waits for rating
 * transactions in flight, so none of them writes into the month after the close.
 */
@Injectable()
export class CloseMonthService {
  private readonly log = createLogger('CloseMonth');

  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    private readonly sweeps: SweepMonthsService,
    private readonly rating: RatingService,
  ) {}

  async close(period: string, actor: string, now = new Date()): Promise<MonthCloseResult> {
    // Consumption months are local to each tariff's zone: over everywhere 14 h after UTC's.
    if (utcMonth(period).endMs + ZONE_SLACK_MS > now.getTime())
      throw new ConflictException({
        statusCode: 409,
        code: 'month_not_over',
        message: `${period} has not ended yet in every time zone`,
      });
    await this.sweeps.sweep({ period });
    await this.rating.rateMonthNow(period);
    return withTransaction(this.pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [MONTH_CLOSE_LOCK]);
      const inserted = await client.query<{ closed_at: Date; closed_by: string }>(
        `INSERT INTO billing.closed_months (period, closed_by) VALUES ($1, $2)
         ON CONFLICT (period) DO NOTHING RETURNING closed_at, closed_by`,
        [period, actor],
      );
      const row =
        inserted.rows[0] ??
        (
          await client.query<{ closed_at: Date; closed_by: string }>(
            'SELECT closed_at, closed_by FROM billing.closed_months WHERE period = $1',
            [period],
          )
        ).rows[0]!;
      const { rows: pending } = await client.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM billing.dirty_periods WHERE period = $1',
        [period],
      );
      const result: MonthCloseResult = {
        period,
        closedAt: row.closed_at.toISOString(),
        closedBy: row.closed_by,
        alreadyClosed: inserted.rowCount === 0,
        pendingRatings: pending[0]?.n ?? 0,
      };
      if (!result.alreadyClosed) this.log.info(result, 'month closed');
      return result;
    });
  }

  async list(): Promise<MonthList> {
    const { rows } = await this.pool.query<{ period: string; closed_at: Date; closed_by: string }>(
      'SELECT period, closed_at, closed_by FROM billing.closed_months ORDER BY period',
    );
    return {
      closed: rows.map((r) => ({
        period: r.period,
        closedAt: r.closed_at.toISOString(),
        closedBy: r.closed_by,
      })),
    };
  }
}
