import { Inject, Injectable } from '@nestjs/common';
import { createLogger } from '@meterlink/observability';
import type { Pool } from '@meterlink/postgres';
import { PG_POOL } from '../tokens';
import { ACTIVE_STATES } from '../swaps.repository';

/**
 * How long a meter added by `add` stays in the set whatever the refreshes say. `add` runs inside
 * the transaction that starts the swap, before its commit: a refresh whose query ran before that
 * commit would otherwise drop the meter again, and its first traffic on the new profile would be
 * ignored until the next refresh (seen in CI: a swap stuck in `confirming`).
 */
const ADDED_RETENTION_MS = 30_000;

/**
 * Which meters have a swap in flight, refreshed from PostgreSQL, so that the connectivity stream
 * (every telemetry message of the fleet) costs a set lookup, not a query, per record. A meter
 * wrongly in the set costs one query per record; one wrongly missing loses a confirmation, so
 * the set errs on the side of keeping meters.
 */
@Injectable()
export class ActiveSwapsCache {
  private meters = new Set<string>();
  private readonly added = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private readonly log = createLogger('ActiveSwapsCache');
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  async refresh(): Promise<void> {
    const { rows } = await this.pool.query<{ meter_id: string }>(
      'SELECT meter_id FROM orchestrator.swaps WHERE state = ANY($1)',
      [ACTIVE_STATES],
    );
    const next = new Set(rows.map((r) => r.meter_id));
    const keepAfter = Date.now() - ADDED_RETENTION_MS;
    for (const [meterId, addedAt] of this.added) {
      if (addedAt < keepAfter) this.added.delete(meterId);
      else next.add(meterId);
    }
    this.meters = next;
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
    this.added.set(meterId, Date.now());
  }

  has(meterId: string): boolean {
    return this.meters.has(meterId);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
  }
}
