import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { TOPICS, type MeterReadingRecord } from '@meterlink/contracts';
import type { ConsumedBatch, ConsumedRecord } from '@meterlink/kafka';
import { counter } from '@meterlink/observability';
import { LedgerBatch } from '../ledger-batch';
import { COPY_READINGS_SQL, asciiTextArray, int8Array, readingsCopyData } from './binary-arrays';
import { copyIn } from './copy-in';
import { ReadingColumns } from './reading-columns';
import { readingMarks } from './reading-marks';
import { timestamptzArrayOfMicros } from './timestamptz-array';

const storedTotal = counter(
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
 * Adds the `wanted` marks (meter, month: readings, late readings, boundary changes) to the months
 * the rating loop must look at again; shared by both ways of storing a batch.
 */
const MARK_DIRTY_PERIODS_SQL = `INSERT INTO billing.dirty_periods AS d (meter_id, period, readings, late_readings, boundary_changes)
SELECT meter_id, period, readings, late_readings, boundary FROM wanted ORDER BY meter_id, period
ON CONFLICT (meter_id, period) DO UPDATE SET
  readings = d.readings + EXCLUDED.readings,
  late_readings = d.late_readings + EXCLUDED.late_readings,
  boundary_changes = d.boundary_changes + EXCLUDED.boundary_changes,
  last_at = now()`;
const indent = (sql: string, by: string): string =>
  sql
    .split('\n')
    .map((line) => by + line)
    .join('\n');

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
${indent(MARK_DIRTY_PERIODS_SQL, '  ')}
  RETURNING 1
)
SELECT (SELECT count(*) FROM ins)::int AS stored, (SELECT count(*) FROM dirty)::int AS dirty`;
export const STORE_NEW_READINGS_SQL = storeReadingsSql('');
export const STORE_READINGS_SQL = storeReadingsSql(
  'ON CONFLICT (meter_id, register, at) DO NOTHING',
);
const UNIQUE_VIOLATION = '23505';

/**
 * The marks of a batch that COPY stored whole (every reading inserted), computed by billing
 * (readingMarks: the same marks as the CTEs above, from the batch's rows rather than from
 * RETURNING rows aggregated here). A boundary candidate checks the rated month first, then the
 * stored readings: none of the batch's own lies in its range (each range stops at the group's
 * first or last reading), so running after the COPY sees what the CTEs' snapshot saw.
 */
export const STORE_MARKS_SQL = `
WITH marks AS (
  SELECT meter_id, period, readings, late_readings, 0 AS boundary
  FROM unnest($1::text[], $2::text[], $3::int[], $4::int[]) AS m(meter_id, period, readings, late_readings)
  UNION ALL
  SELECT b.meter_id, b.period, 0, 0, 1
  FROM unnest($5::text[], $6::text[], $7::text[], $8::timestamptz[], $9::timestamptz[]) AS b(meter_id, register, period, lo, hi)
  WHERE EXISTS (SELECT 1 FROM billing.rated_periods rp WHERE rp.meter_id = b.meter_id AND rp.period = b.period)
    AND NOT EXISTS (SELECT 1 FROM billing.readings r WHERE r.meter_id = b.meter_id AND r.register = b.register
                    AND r.at >= b.lo AND r.at < b.hi)
), wanted AS (
  SELECT meter_id, period, sum(readings)::int AS readings, sum(late_readings)::int AS late_readings,
         sum(boundary)::int AS boundary
  FROM marks GROUP BY 1, 2
)
${MARK_DIRTY_PERIODS_SQL}`;

/** The order to insert rows in: meter by meter, each meter's in arrival order (see readingMarks). */
function meterByMeter(cols: ReadingColumns, from: number): Uint32Array {
  const groups = new Map<string, number[]>();
  for (let i = from; i < cols.n; i++) {
    const id = cols.meterId[i]!;
    const group = groups.get(id);
    if (group) group.push(i);
    else groups.set(id, [i]);
  }
  const order = new Uint32Array(cols.n - from);
  let k = 0;
  for (const group of groups.values()) for (const i of group) order[k++] = i;
  return order;
}

const numbers = (items: ArrayLike<number>, order?: Uint32Array): string => {
  if (!order) return `{${Array.prototype.join.call(items, ',')}}`;
  return `{${Array.from(order, (i) => items[i]!).join(',')}}`;
};
const strings = (items: readonly string[], order?: Uint32Array): string =>
  `{"${(order ? Array.from(order, (i) => items[i]!) : items).join('","')}"}`;

function columnsOf(records: readonly ConsumedRecord<MeterReadingRecord>[]): ReadingColumns {
  const cols = new ReadingColumns();
  for (const r of records) cols.add(r.value, r.offset);
  return cols;
}

@Controller()
export class RecordReadingsConsumer {
  constructor(private readonly ledger: LedgerBatch) {}

  @EventPattern(TOPICS.meterReadings.name)
  async onReadings(@Payload() batch: ConsumedBatch<MeterReadingRecord>): Promise<void> {
    const cols = (batch.columns as ReadingColumns | undefined) ?? columnsOf(batch.records);
    await this.ledger.applyRows(
      batch.topic,
      batch.partition,
      cols.n,
      (i) => cols.offsets[i]!,
      async (client, from) => {
        const exact =
          cols.inexact === undefined || ![...cols.inexact.keys()].some((i) => i >= from);
        const marked = exact ? readingMarks(cols, from) : undefined;
        const order = marked?.order ?? meterByMeter(cols, from);
        // The statement's arrays (binary-arrays.ts; every string here is a contract-validated,
        // ASCII meter id, register or kind name), instants as text when one is not exact.
        const params = (): unknown[] => [
          asciiTextArray(cols.meterId, order),
          asciiTextArray(cols.register, order),
          marked
            ? timestamptzArrayOfMicros(cols.atUs, order)
            : strings(Array.from(order, (i) => cols.atText(i))),
          int8Array(cols.value, order),
          asciiTextArray(cols.kind, order),
          int8Array(cols.seq, order),
          marked
            ? timestamptzArrayOfMicros(cols.receivedUs, order)
            : strings(Array.from(order, (i) => cols.receivedAtText(i))),
        ];
        // A savepoint, so that a duplicate fails only the first try and not the transaction; the
        // retry stores the batch as ON CONFLICT DO NOTHING always did (the failed try left
        // nothing) and marks only what it inserted.
        await client.query('SAVEPOINT store_readings');
        let stored: number;
        try {
          if (marked) {
            // COPY (binary): no array to unnest, rows inserted in bulk; then the marks.
            stored = await copyIn(client, COPY_READINGS_SQL, readingsCopyData(cols, order));
            const { marks: m, boundaries: b } = marked;
            await client.query(STORE_MARKS_SQL, [
              asciiTextArray(m.meterId),
              asciiTextArray(m.period),
              numbers(m.readings),
              numbers(m.late),
              asciiTextArray(b.meterId),
              asciiTextArray(b.register),
              asciiTextArray(b.period),
              timestamptzArrayOfMicros(b.loUs),
              timestamptzArrayOfMicros(b.hiUs),
            ]);
          } else {
            const { rows } = await client.query<{ stored: number }>(
              STORE_NEW_READINGS_SQL,
              params(),
            );
            stored = rows[0]?.stored ?? 0;
          }
          await client.query('RELEASE SAVEPOINT store_readings');
        } catch (error) {
          if ((error as { code?: string }).code !== UNIQUE_VIOLATION) throw error;
          duplicates.inc();
          await client.query('ROLLBACK TO SAVEPOINT store_readings');
          const { rows } = await client.query<{ stored: number }>(STORE_READINGS_SQL, params());
          stored = rows[0]?.stored ?? 0;
        }
        storedTotal.inc(stored);
      },
    );
  }
}
