import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { TOPICS, type FleetCarrierRecord, type FleetMeterRecord } from '@meterlink/contracts';
import type { ConsumedBatch } from '@meterlink/kafka';
import { LedgerBatch } from '../ledger-batch';
import { markMonthsToRate } from '../sweep-months/months-to-rate.repository';

/**
 * What rating needs from the registry: each meter's customer and tariff, each carrier's tariff,
 * and when a meter was decommissioned (the end of its subscription). A month that could not be
 * rated for want of them is unblocked when they arrive.
 */
@Controller()
export class RecordFleetConsumer {
  constructor(private readonly ledger: LedgerBatch) {}

  @EventPattern(TOPICS.fleetMeters.name)
  async onMeters(@Payload() batch: ConsumedBatch<FleetMeterRecord>): Promise<void> {
    await this.ledger.apply(batch, async (client, records) => {
      const meters = records.map(({ value: m }) => ({
        meter_id: m.meterId,
        customer_id: m.customerId,
        tariff_id: m.tariffId,
        kind: m.kind,
        region: m.region,
        status: m.status,
        report_interval_s: m.reportIntervalS,
        revision: m.revision,
        factory_iccids: m.profiles.map((p) => p.iccid),
        // The registry publishes the decommissioned record when it decommissions the meter.
        decommissioned_at: m.status === 'decommissioned' ? m.at : null,
      }));
      const { rows } = await client.query<{ meter_id: string; ended_from: string | null }>(
        `WITH prev AS (
           SELECT meter_id, decommissioned_at FROM billing.meters WHERE meter_id = ANY($2::text[])
         ), up AS (
           INSERT INTO billing.meters AS m (meter_id, customer_id, tariff_id, kind, region, status, report_interval_s, revision, factory_iccids, decommissioned_at)
           SELECT DISTINCT ON (meter_id) * FROM jsonb_to_recordset($1::jsonb)
             AS x(meter_id text, customer_id text, tariff_id text, kind text, region text, status text, report_interval_s integer, revision bigint, factory_iccids text[], decommissioned_at timestamptz)
           ORDER BY meter_id, revision DESC
           ON CONFLICT (meter_id) DO UPDATE SET customer_id = EXCLUDED.customer_id, tariff_id = EXCLUDED.tariff_id,
             kind = EXCLUDED.kind, region = EXCLUDED.region, status = EXCLUDED.status,
             report_interval_s = EXCLUDED.report_interval_s, revision = EXCLUDED.revision,
             -- The first record that said decommissioned dates it; a later revision does not move it.
             decommissioned_at = CASE WHEN EXCLUDED.status = 'decommissioned'
                                      THEN coalesce(m.decommissioned_at, EXCLUDED.decommissioned_at) END
           WHERE m.revision < EXCLUDED.revision
           RETURNING meter_id, decommissioned_at
         )
         SELECT up.meter_id,
                -- The UTC month from which the end of the meter's timeline moved, if it did.
                CASE WHEN up.decommissioned_at IS DISTINCT FROM prev.decommissioned_at
                     THEN to_char(least(up.decommissioned_at, prev.decommissioned_at) AT TIME ZONE 'UTC', 'YYYY-MM') END AS ended_from
         FROM up LEFT JOIN prev USING (meter_id)`,
        [JSON.stringify(meters), meters.map((m) => m.meter_id)],
      );
      if (rows.length === 0) return;
      const ids = rows.map((r) => r.meter_id);
      await client.query(
        `UPDATE billing.dirty_periods SET blocked = NULL, fleet_changes = fleet_changes + 1
         WHERE meter_id = ANY($1::text[]) AND blocked IS NOT NULL`,
        [ids],
      );
      // A decommissioning ends the subscription: months already rated from then on are re-rated.
      const ended = rows.filter((r) => r.ended_from !== null);
      if (ended.length > 0)
        await client.query(
          `INSERT INTO billing.dirty_periods AS d (meter_id, period, fleet_changes)
           SELECT rp.meter_id, rp.period, 1
           FROM unnest($1::text[], $2::text[]) AS e(meter_id, from_period)
           JOIN billing.rated_periods rp ON rp.meter_id = e.meter_id AND rp.period >= e.from_period
           ORDER BY 1, 2
           ON CONFLICT (meter_id, period) DO UPDATE SET fleet_changes = d.fleet_changes + 1, last_at = now()`,
          [ended.map((r) => r.meter_id), ended.map((r) => r.ended_from)],
        );
      // A meter whose record arrives after its profile timeline gets its silent months too.
      await markMonthsToRate(client, { meterIds: ids });
    });
  }

  @EventPattern(TOPICS.fleetCarriers.name)
  async onCarriers(@Payload() batch: ConsumedBatch<FleetCarrierRecord>): Promise<void> {
    await this.ledger.apply(batch, async (client, records) => {
      const latest = new Map(records.map(({ value: c }) => [c.carrierId, c]));
      for (const c of latest.values()) {
        await client.query(
          `INSERT INTO billing.carriers (carrier_id, currency, monthly_fee_minor, per_mb_minor, download_fee_minor, swap_fee_minor)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (carrier_id) DO UPDATE SET currency = EXCLUDED.currency, monthly_fee_minor = EXCLUDED.monthly_fee_minor,
             per_mb_minor = EXCLUDED.per_mb_minor, download_fee_minor = EXCLUDED.download_fee_minor, swap_fee_minor = EXCLUDED.swap_fee_minor`,
          [
            c.carrierId,
            c.tariff.currency,
            c.tariff.monthlyFeeMinor,
            c.tariff.perMbMinor,
            c.tariff.downloadFeeMinor,
            c.tariff.swapFeeMinor,
          ],
        );
      }
      await client.query(
        `UPDATE billing.dirty_periods SET blocked = NULL, fleet_changes = fleet_changes + 1 WHERE blocked IS NOT NULL`,
      );
    });
  }
}
