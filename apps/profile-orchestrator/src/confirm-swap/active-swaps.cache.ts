import { Inject, Injectable } from '@nestjs/common';
import { createLogger } from '@meterlink/observability';
import type { Pool } from '@meterlink/postgres';
import { PG_POOL } from '../tokens';
import { ACTIVE_STATES } from '../swaps.repository';

/**
 * Which meters have a swap in flight, refreshed from PostgreSQL, so that the connectivity stream
 * (every telemetry message of the fleet) costs a set lookup, not a query, per record.
 */
@Injectable()
export class ActiveSwapsCache {
  private meters = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private readonly log = createLogger('ActiveSwapsCache');
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  async refresh(): Promise<void> {
    const { rows } = await this.pool.query<{ meter_id: string }>(
      'SELECT meter_id FROM orchestrator.swaps WHERE state = ANY($1)',
      [ACTIVE_STATES],
    );
    this.meters = new Set(rows.map((r) => r.meter_id));
  }

  start(intervalMs: number): void {
    const tick = (): void => {
      this.refresh()
        .catch((error: unknown) => this.log.warn({ err: error }, 'active swap refresh failed'))
        .finally(() => (this.timer = setTimeout(tick, intervalMs)));
    };
    tick();
  }

  /** A swap was just started: look at the meter's traffic now, not after the next refresh. */
  add(meterId: string): void {
    this.meters.add(meterId);
  }

  has(meterId: string): boolean {
    return this.meters.has(meterId);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
  }
}
