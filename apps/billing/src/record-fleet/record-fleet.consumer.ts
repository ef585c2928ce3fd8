import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { TOPICS, type FleetCarrierRecord, type FleetMeterRecord } from '@meterlink/contracts';
import type { ConsumedBatch } from '@meterlink/kafka';
import { LedgerBatch } from '../ledger-batch';

/**
 * What rating needs from the registry: each meter's customer and tariff, each carrier's tariff.
 * A month that could not be rated for want of them is unblocked when they arrive.
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
      }));
      const { rows } = await client.query<{ meter_id: string }>(
        `INSERT INTO billing.meters AS m (meter_id, customer_id, tariff_id, kind, region, status, report_interval_s, revision, factory_iccids)
         SELECT DISTINCT ON (meter_id) * FROM jsonb_to_recordset($1::jsonb)
           AS x(meter_id text, customer_id text, tariff_id text, kind text, region text, status text, report_interval_s integer, revision bigint, factory_iccids text[])
         ORDER BY meter_id, revision DESC
         ON CONFLICT (meter_id) DO UPDATE SET customer_id = EXCLUDED.customer_id, tariff_id = EXCLUDED.tariff_id,
           kind = EXCLUDED.kind, region = EXCLUDED.region, status = EXCLUDED.status,
           report_interval_s = EXCLUDED.report_interval_s, revision = EXCLUDED.revision
         WHERE m.revision < EXCLUDED.revision
         RETURNING meter_id`,
        [JSON.stringify(meters)],
      );
      if (rows.length > 0)
        await client.query(
          `UPDATE billing.dirty_periods SET blocked = NULL, fleet_changes = fleet_changes + 1
           WHERE meter_id = ANY($1::text[]) AND blocked IS NOT NULL`,
          [rows.map((r) => r.meter_id)],
        );
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
