import { Inject, Injectable } from '@nestjs/common';
import type { Pool } from '@meterlink/postgres';
import type { z } from 'zod';
import type { auditListSchema } from '../api/api-schemas';
import { PG_POOL } from '../tokens';

type AuditList = z.infer<typeof auditListSchema>;

/** The charge audit trail: every rating that changed a line, oldest first. */
@Injectable()
export class AuditRepository {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  async forMeter(meterId: string, period: string | undefined): Promise<AuditList> {
    const { rows } = await this.pool.query<{
      audit_id: string;
      at: Date;
      charge_id: string;
      meter_id: string;
      service_period: string;
      action: AuditList['entries'][number]['action'];
      old_amount_minor: string | null;
      new_amount_minor: string;
      old_quantity: string | null;
      new_quantity: string;
      reason: string;
      detail: Record<string, unknown>;
    }>(
      `SELECT * FROM billing.charge_audit WHERE meter_id = $1 AND ($2::text IS NULL OR service_period = $2)
       ORDER BY audit_id LIMIT 10000`,
      [meterId, period ?? null],
    );
    return {
      entries: rows.map((r) => ({
        auditId: Number(r.audit_id),
        at: r.at.toISOString(),
        chargeId: r.charge_id,
        meterId: r.meter_id,
        servicePeriod: r.service_period,
        action: r.action,
        oldAmountMinor: r.old_amount_minor === null ? null : Number(r.old_amount_minor),
        newAmountMinor: Number(r.new_amount_minor),
        oldQuantity: r.old_quantity === null ? null : Number(r.old_quantity),
        newQuantity: Number(r.new_quantity),
        reason: r.reason,
        detail: r.detail,
      })),
    };
  }
}
