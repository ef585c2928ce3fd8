import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { TOPICS, type MeterConnectivityRecord, type ProfileSwapRecord } from '@meterlink/contracts';
import type { ConsumedBatch } from '@meterlink/kafka';
import { LedgerBatch } from '../ledger-batch';

/**
 * The profile timeline per meter: a row when a meter is first seen on a profile, and one per
 * completed swap (eIM-driven or the device's own fallback). Usage per telemetry message is kept
 * for data charges.
 */
@Controller()
export class RecordTimelineConsumer {
  constructor(private readonly ledger: LedgerBatch) {}

  @EventPattern(TOPICS.profileSwaps.name)
  async onSwaps(@Payload() batch: ConsumedBatch<ProfileSwapRecord>): Promise<void> {
    await this.ledger.apply(batch, async (client, records) => {
      for (const { value: s } of records) {
        if (s.state !== 'completed') continue;
        await client.query(
          `INSERT INTO billing.profile_timeline (meter_id, from_at, iccid, carrier_id, source, swap_id)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
          [
            s.meterId,
            s.at,
            s.toIccid,
            s.toCarrierId,
            s.trigger === 'device-fallback' ? 'device-fallback' : 'swap',
            s.swapId,
          ],
        );
      }
    });
  }

  @EventPattern(TOPICS.meterConnectivity.name)
  async onConnectivity(@Payload() batch: ConsumedBatch<MeterConnectivityRecord>): Promise<void> {
    await this.ledger.apply(batch, async (client, records) => {
      const usage = records.map(({ value: c }) => ({
        meter_id: c.meterId,
        seq: c.seq,
        at: c.at,
        iccid: c.iccid,
        carrier_id: c.carrierId,
        bytes_up: c.bytesUp,
        bytes_down: c.bytesDown,
      }));
      await client.query(
        `INSERT INTO billing.usage (meter_id, seq, at, iccid, carrier_id, bytes_up, bytes_down)
         SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(meter_id text, seq bigint, at timestamptz, iccid text, carrier_id text, bytes_up bigint, bytes_down bigint)
         ON CONFLICT (meter_id, seq) DO NOTHING`,
        [JSON.stringify(usage)],
      );
      // First sighting of a meter starts its timeline with the profile it reports on.
      await client.query(
        `INSERT INTO billing.profile_timeline (meter_id, from_at, iccid, carrier_id, source)
         SELECT DISTINCT ON (meter_id) meter_id, at, iccid, carrier_id, 'first-seen'
         FROM jsonb_to_recordset($1::jsonb) AS x(meter_id text, at timestamptz, iccid text, carrier_id text)
         WHERE carrier_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM billing.profile_timeline t WHERE t.meter_id = x.meter_id)
         ORDER BY meter_id, at
         ON CONFLICT DO NOTHING`,
        [JSON.stringify(usage)],
      );
    });
  }
}
