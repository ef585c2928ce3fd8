import { Inject, Injectable } from '@nestjs/common';
import { utcMonth, utcPeriodOf } from '@meterlink/billing-domain';
import { createLogger } from '@meterlink/observability';
import type { Pool } from '@meterlink/postgres';
import { PG_POOL } from '../tokens';
import { markMonthsToRate, type MonthsToRateScope } from './months-to-rate.repository';

/** setTimeout overflows past 2^31 - 1 ms (24.8 days): a month is waited for in steps. */
const MAX_WAIT_MS = 6 * 3_600_000;
const RETRY_MS = 60_000;

/**
 * Makes sure every meter's subscription is rated for every month it ran, input or not: sweeps
 * once at startup (a month start missed while billing was down) and again at the start of each
 * UTC month, marking the months no reading, usage or swap marked. Idempotent, so replicas sweeping
 * at the same time only repeat each other.
 */
@Injectable()
export class SweepMonthsService {
  private readonly log = createLogger('SweepMonths');
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private sweptMonth: string | undefined;
  private stopped = false;

  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  start(): void {
    this.tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  async sweep(scope: MonthsToRateScope = {}): Promise<number> {
    const started = Date.now();
    const marked = await markMonthsToRate(this.pool, scope);
    this.log.info({ ...scope, marked, ms: Date.now() - started }, 'months without input marked');
    return marked;
  }

  private tick(): void {
    if (this.stopped) return;
    const now = Date.now();
    const month = utcPeriodOf(now);
    if (month === this.sweptMonth) {
      this.schedule(Math.min(utcMonth(month).endMs - now + 1_000, MAX_WAIT_MS));
      return;
    }
    this.running = this.sweep().then(
      () => {
        this.sweptMonth = month;
        this.tick();
      },
      (error: unknown) => {
        this.log.warn({ err: error }, 'month sweep failed; retrying');
        this.schedule(RETRY_MS);
      },
    );
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => this.tick(), ms);
    this.timer.unref();
  }
}
