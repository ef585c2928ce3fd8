import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { TOPICS, type MeterConnectivityRecord, type ProfileSwapRecord } from '@meterlink/contracts';
import type { ConsumedBatch } from '@meterlink/kafka';
import { LedgerBatch } from '../ledger-batch';

/**
 * Marks dirty the UTC month (connectivity is rated in UTC months) of each (meter, instant) given, and every month of that meter rated
 * after it: a change of the enabled profile holds until the next change, so it can move the
 * subscription of later months too. Usage and profile changes are connectivity input, which
 * does not wait for an unknown consumption tariff.
 */
const MARK_FROM_SQL = (column: 'usage_records' | 'swap_changes'): string => `
WITH src AS (
  SELECT meter_id, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM') AS period, count(*)::int AS n
  FROM unnest($1::text[], $2::timestamptz[]) AS x(meter_id, at) GROUP BY 1, 2
), marks AS (
  SELECT meter_id, period, n FROM src
  UNION ALL
  SELECT rp.meter_id, rp.period, 0 FROM billing.rated_periods rp
  JOIN (SELECT meter_id, min(period) AS period FROM src GROUP BY 1) f ON f.meter_id = rp.meter_id
  WHERE rp.period > f.period AND $3::boolean
)
INSERT INTO billing.dirty_periods AS d (meter_id, period, ${column})
SELECT meter_id, period, sum(n)::int FROM marks GROUP BY 1, 2 ORDER BY 1, 2
ON CONFLICT (meter_id, period) DO UPDATE SET ${column} = d.${column} + EXCLUDED.${column}, last_at = now(),
  -- A month waiting only for its consumption tariff still has its connectivity re-rated.
  blocked = CASE WHEN d.blocked LIKE 'unknown_tariff:%' THEN NULL ELSE d.blocked END`;

/**
 * The profile timeline per meter: a row when a meter is first seen on a profile, and one per
 * completed swap (eIM-driven or the device's own fallback); every swap state is kept, so that a
 * rolled-back swap's time on the new profile is billed. Usage per telemetry message is kept for
 * data charges.
 */
@Controller()
export class RecordTimelineConsumer {
  constructor(private readonly ledger: LedgerBatch) {}

  @EventPattern(TOPICS.profileSwaps.name)
  async onSwaps(@Payload() batch: ConsumedBatch<ProfileSwapRecord>): Promise<void> {
    await this.ledger.apply(batch, async (client, records) => {
      const changed: { meterId: string; at: string }[] = [];
      for (const { value: s } of records) {
        const { rowCount } = await client.query(
          `INSERT INTO billing.swap_states (swap_id, state, meter_id, at, trigger, from_iccid, to_iccid, from_carrier_id, to_carrier_id, needs_download)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING`,
          [
            s.swapId,
            s.state,
            s.meterId,
            s.at,
            s.trigger,
            s.fromIccid,
            s.toIccid,
            s.fromCarrierId,
            s.toCarrierId,
            s.needsDownload ?? null,
          ],
        );
        if (!rowCount) continue;
        if (s.state === 'completed') {
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
        if (s.state === 'completed' || s.state === 'rolled-back') {
          // Rating enables the new profile from dispatch (profileChangesFromSwaps), not from the
          // outcome: a swap dispatched in one month and ended in the next changes both.
          const { rows } = await client.query<{ at: Date }>(
            `SELECT least(min(at), $2::timestamptz) AS at FROM billing.swap_states
             WHERE swap_id = $1 AND state = 'dispatched'`,
            [s.swapId, s.at],
          );
          changed.push({ meterId: s.meterId, at: rows[0]!.at.toISOString() });
        } else if (s.state === 'dispatched') {
          // Records come in state order per swap; should a dispatch still follow its outcome, it
          // moves the start of the new profile back.
          const { rowCount: ended } = await client.query(
            `SELECT 1 FROM billing.swap_states WHERE swap_id = $1 AND state IN ('completed', 'rolled-back')`,
            [s.swapId],
          );
          if (ended) changed.push({ meterId: s.meterId, at: s.at });
        }
      }
      if (changed.length > 0)
        await client.query(MARK_FROM_SQL('swap_changes'), [
          changed.map((c) => c.meterId),
          changed.map((c) => c.at),
          true,
        ]);
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
      const { rows: inserted } = await client.query<{ meter_id: string; at: Date }>(
        `INSERT INTO billing.usage (meter_id, seq, at, iccid, carrier_id, bytes_up, bytes_down)
         SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(meter_id text, seq bigint, at timestamptz, iccid text, carrier_id text, bytes_up bigint, bytes_down bigint)
         ON CONFLICT (meter_id, seq) DO NOTHING
         RETURNING meter_id, at`,
        [JSON.stringify(usage)],
      );
      // The earliest sighting of a meter starts its timeline with the profile it reports on,
      // whatever swaps were recorded first (the topics are consumed independently); an earlier
      // sighting arriving late replaces a later one.
      const { rows: firstSeen } = await client.query<{ meter_id: string; at: Date }>(
        `WITH cand AS (
           SELECT DISTINCT ON (meter_id) meter_id, at, iccid, carrier_id
           FROM jsonb_to_recordset($1::jsonb) AS x(meter_id text, at timestamptz, iccid text, carrier_id text)
           WHERE carrier_id IS NOT NULL ORDER BY meter_id, at
         ), replaced AS (
           DELETE FROM billing.profile_timeline t USING cand
           WHERE t.meter_id = cand.meter_id AND t.source = 'first-seen' AND t.from_at > cand.at
         )
         INSERT INTO billing.profile_timeline (meter_id, from_at, iccid, carrier_id, source)
         SELECT meter_id, at, iccid, carrier_id, 'first-seen' FROM cand
         WHERE NOT EXISTS (SELECT 1 FROM billing.profile_timeline t
                           WHERE t.meter_id = cand.meter_id AND t.source = 'first-seen' AND t.from_at <= cand.at)
         ON CONFLICT DO NOTHING
         RETURNING meter_id, from_at AS at`,
        [JSON.stringify(usage)],
      );
      if (inserted.length > 0)
        await client.query(MARK_FROM_SQL('usage_records'), [
          inserted.map((r) => r.meter_id),
          inserted.map((r) => r.at.toISOString()),
          false,
        ]);
      if (firstSeen.length > 0)
        await client.query(MARK_FROM_SQL('swap_changes'), [
          firstSeen.map((r) => r.meter_id),
          firstSeen.map((r) => r.at.toISOString()),
          true,
        ]);
    });
  }
}
