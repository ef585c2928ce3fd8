import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { TOPICS, type MeterReadingRecord } from '@meterlink/contracts';
import type { ConsumedBatch } from '@meterlink/kafka';
import { counter } from '@meterlink/observability';
import { LedgerBatch } from '../ledger-batch';
import { timestamptzArray } from './timestamptz-array';

const stored = counter(
  'billing_readings_stored_total',
  'Readings stored for billing (duplicates excluded)',
);

const duplicates = counter(
  'billing_reading_batches_with_duplicates_total',
  'Reading batches stored again skipping readings already in the ledger (a duplicate failed the first try)',
);

/**
 * Consumption months are the tariff's local months, connectivity months UTC ones: a reading marks
 * the UTC month it falls in and the months 14 hours either side (no zone is further from UTC), so
 * whatever the meter's zone its local month is marked without looking the meter up. Per
 * (meter, register, month) only its earliest reading can reach into the month before and only
 * its latest into the month after, so those two are checked rather than every reading.
 */
const ZONE_SLACK = `interval '14 hours'`;

/**
 * One statement per batch: the readings (a replayed one changes nothing), the months they fall
 * in marked dirty, and a rated neighbour month marked too when a reading became the first or last
 * of its month (the interpolated register value at the shared boundary may move).
 *
 * `onConflict` is the clause for readings already stored: '' (none) for the first try, whose
 * INSERT then fails on a duplicate, 'DO NOTHING' for the retry. ON CONFLICT makes PostgreSQL look
 * every row up in the primary key before inserting it and then again to insert it: that probe
 * was 28 % of PostgreSQL's CPU in the billing bench, while duplicates are rare (the offsets
 * stored with the ledger already skip redelivered records; only a meter sending the same
 * interval twice makes one).
 */
const storeReadingsSql = (
  onConflict: '' | 'ON CONFLICT (meter_id, register, at) DO NOTHING',
): string => `
WITH ins AS (
  INSERT INTO billing.readings (meter_id, register, at, value, kind, seq, received_at)
  SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::bigint[], $5::text[], $6::bigint[], $7::timestamptz[])
  ${onConflict}
  RETURNING meter_id, register, at, received_at
), agg AS (
  SELECT meter_id, register, date_trunc('month', at AT TIME ZONE 'UTC') AS month_utc,
         min(at) AS min_at, max(at) AS max_at, count(*)::int AS n,
         (count(*) FILTER (WHERE received_at - at > interval '1 day'))::int AS late
  FROM ins GROUP BY 1, 2, 3
), marks AS (
  SELECT meter_id, to_char(month_utc, 'YYYY-MM') AS period, n AS readings, late AS late_readings, 0 AS boundary
  FROM agg
  UNION ALL
  SELECT DISTINCT a.meter_id, to_char(s.at AT TIME ZONE 'UTC', 'YYYY-MM'), 0, 0, 0
  FROM agg a CROSS JOIN LATERAL (VALUES (a.min_at - ${ZONE_SLACK}), (a.max_at + ${ZONE_SLACK})) AS s(at)
  WHERE date_trunc('month', s.at AT TIME ZONE 'UTC') <> a.month_utc
  UNION ALL
  SELECT a.meter_id, to_char(a.month_utc - interval '1 month', 'YYYY-MM'), 0, 0, 1 FROM agg a
  WHERE NOT EXISTS (SELECT 1 FROM billing.readings r WHERE r.meter_id = a.meter_id AND r.register = a.register
                    AND r.at >= (a.month_utc AT TIME ZONE 'UTC') + ${ZONE_SLACK} AND r.at < a.min_at)
  UNION ALL
  SELECT a.meter_id, to_char(a.month_utc + interval '1 month', 'YYYY-MM'), 0, 0, 1 FROM agg a
  WHERE NOT EXISTS (SELECT 1 FROM billing.readings r WHERE r.meter_id = a.meter_id AND r.register = a.register
                    AND r.at > a.max_at AND r.at < ((a.month_utc + interval '1 month') AT TIME ZONE 'UTC') - ${ZONE_SLACK})
), wanted AS (
  SELECT m.meter_id, m.period, sum(m.readings)::int AS readings, sum(m.late_readings)::int AS late_readings,
         sum(m.boundary)::int AS boundary
  FROM marks m
  WHERE m.boundary = 0 OR EXISTS (SELECT 1 FROM billing.rated_periods rp WHERE rp.meter_id = m.meter_id AND rp.period = m.period)
  GROUP BY 1, 2
), dirty AS (
  INSERT INTO billing.dirty_periods AS d (meter_id, period, readings, late_readings, boundary_changes)
  SELECT meter_id, period, readings, late_readings, boundary FROM wanted ORDER BY meter_id, period
  ON CONFLICT (meter_id, period) DO UPDATE SET
    readings = d.readings + EXCLUDED.readings,
    late_readings = d.late_readings + EXCLUDED.late_readings,
    boundary_changes = d.boundary_changes + EXCLUDED.boundary_changes,
    last_at = now()
  RETURNING 1
)
SELECT (SELECT count(*) FROM ins)::int AS stored, (SELECT count(*) FROM dirty)::int AS dirty`;
export const STORE_NEW_READINGS_SQL = storeReadingsSql('');
export const STORE_READINGS_SQL = storeReadingsSql(
  'ON CONFLICT (meter_id, register, at) DO NOTHING',
);
const UNIQUE_VIOLATION = '23505';

/**
 * The order to insert a batch's readings in: meter by meter, each meter's in arrival order. A
 * batch holds ~170 meters' readings interval by interval; inserted in that order, consecutive
 * primary-key inserts cycle through ~170 leaves, while meter by meter they stay on one (the
 * meter's latest), which stays in the CPU's cache: in the billing bench that was worth more
 * than PostgreSQL sorting the rows itself (ORDER BY, 13 % of its CPU).
 */
function meterByMeter(records: readonly { value: MeterReadingRecord }[]): Uint32Array {
  const groups = new Map<string, number[]>();
  for (let i = 0; i < records.length; i++) {
    const id = records[i]!.value.meterId;
    const group = groups.get(id);
    if (group) group.push(i);
    else groups.set(id, [i]);
  }
  const order = new Uint32Array(records.length);
  let k = 0;
  for (const group of groups.values()) for (const i of group) order[k++] = i;
  return order;
}

const permute = <T>(items: readonly T[], order: Uint32Array): T[] =>
  Array.from(order, (i) => items[i]!);

@Controller()
export class RecordReadingsConsumer {
  constructor(private readonly ledger: LedgerBatch) {}

  @EventPattern(TOPICS.meterReadings.name)
  async onReadings(@Payload() batch: ConsumedBatch<MeterReadingRecord>): Promise<void> {
    await this.ledger.apply(batch, async (client, records) => {
      // Array literals built here rather than by pg (which escapes element by element): every
      // value is a contract-validated id, register name, ISO instant or integer, none of which
      // holds a quote or a backslash; strings are quoted so that a meter called NULL stays one.
      const n = records.length;
      const order = meterByMeter(records);
      const meterId = new Array<string>(n);
      const register = new Array<string>(n);
      const at = new Array<string>(n);
      const value = new Array<number>(n);
      const kind = new Array<string>(n);
      const seq = new Array<number>(n);
      const receivedAt = new Array<string>(n);
      for (let k = 0; k < n; k++) {
        const i = order[k]!;
        const r = records[i]!.value;
        meterId[k] = r.meterId;
        register[k] = r.register;
        value[k] = r.value;
        kind[k] = r.kind;
        seq[k] = r.seq;
      }
      // Instants in arrival order, where equal ones follow each other (parsed once), then written
      // out meter by meter.
      for (let i = 0; i < n; i++) {
        const r = records[i]!.value;
        at[i] = r.at;
        receivedAt[i] = r.receivedAt;
      }
      const numbers = (items: number[]): string => `{${items.join(',')}}`;
      const strings = (items: string[]): string => `{"${items.join('","')}"}`;
      const params = [
        strings(meterId),
        strings(register),
        timestamptzArray(at, order) ?? strings(permute(at, order)),
        numbers(value),
        strings(kind),
        numbers(seq),
        timestamptzArray(receivedAt, order) ?? strings(permute(receivedAt, order)),
      ];
      // A savepoint, so that a duplicate fails only the first try and not the transaction; the
      // retry stores the batch as ON CONFLICT DO NOTHING always did (the failed try left nothing).
      await client.query('SAVEPOINT store_readings');
      let result: { stored: number } | undefined;
      try {
        ({
          rows: [result],
        } = await client.query<{ stored: number }>(STORE_NEW_READINGS_SQL, params));
        await client.query('RELEASE SAVEPOINT store_readings');
      } catch (error) {
        if ((error as { code?: string }).code !== UNIQUE_VIOLATION) throw error;
        duplicates.inc();
        await client.query('ROLLBACK TO SAVEPOINT store_readings');
        ({
          rows: [result],
        } = await client.query<{ stored: number }>(STORE_READINGS_SQL, params));
      }
      stored.inc(result?.stored ?? 0);
    });
  }
}
