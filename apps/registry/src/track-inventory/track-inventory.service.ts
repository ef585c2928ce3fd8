import { Inject, Injectable } from '@nestjs/common';
import type { ProfileSwapRecord } from '@meterlink/contracts';
import { createLogger } from '@meterlink/observability';
import { withTransaction, type Pool } from '@meterlink/postgres';
import { PG_POOL } from '../tokens';
import { MetersRepository } from '../meters/meters.repository';
import { FleetPublisherService } from '../fleet-publisher/fleet-publisher.service';
import { AuditLogRepository } from '../audit/audit-log.repository';

/**
 * Keeps each meter's eUICC inventory current from completed swaps (eIM-driven and the device's
 * own fallbacks), and republishes the meter on fleet.meters.v1 so every service's view follows.
 * Idempotent: a swap already reflected changes nothing and bumps no revision.
 */
@Injectable()
export class TrackInventoryService {
  private readonly log = createLogger('TrackInventoryService');
  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    private readonly meters: MetersRepository,
    private readonly publisher: FleetPublisherService,
    private readonly audit: AuditLogRepository,
  ) {}

  async applyCompletedSwaps(swaps: ProfileSwapRecord[]): Promise<void> {
    if (swaps.length === 0) return;
    const changed = new Set<string>();
    await withTransaction(this.pool, async (client) => {
      for (const swap of swaps) {
        const { rowCount } = await client.query(
          `UPDATE registry.profiles p SET state = CASE WHEN p.iccid = $2 THEN 'enabled' ELSE 'disabled' END, updated_at = now()
           WHERE p.meter_id = $1
             AND EXISTS (SELECT 1 FROM registry.profiles t WHERE t.meter_id = $1 AND t.iccid = $2 AND t.state = 'disabled')`,
          [swap.meterId, swap.toIccid],
        );
        if (!rowCount) continue; // already enabled, or not a profile we know: nothing to change
        await client.query(
          'UPDATE registry.meters SET revision = revision + 1, updated_at = now() WHERE meter_id = $1',
          [swap.meterId],
        );
        await this.audit.append(
          'eim',
          'inventory.enabled',
          swap.meterId,
          {
            swapId: swap.swapId,
            fromIccid: swap.fromIccid,
            toIccid: swap.toIccid,
            trigger: swap.trigger,
          },
          client,
        );
        changed.add(swap.meterId);
      }
    });
    if (changed.size === 0) return;
    const stored = await this.meters.findMany([...changed]);
    await this.publisher.publishMeters([...stored.values()].map((s) => s.record));
    this.log.info({ meters: changed.size }, 'inventory updated from completed swaps');
  }
}
