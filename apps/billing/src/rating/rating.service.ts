import { Inject, Injectable } from '@nestjs/common';
import {
  addRational,
  correctionLine,
  diffChargeLines,
  formatRational,
  nextPeriod,
  parseRational,
  rationalToNumber,
  subRational,
  ZERO,
  type ChargeFlag,
  type ChargeLine,
  type Rational,
} from '@meterlink/billing-domain';
import {
  TOPICS,
  stableEventId,
  type BillingChargeRecord,
  type CarrierTariff,
} from '@meterlink/contracts';
import { counter, createLogger, gauge, histogram } from '@meterlink/observability';
import { withTransaction, type Pool, type PoolClient } from '@meterlink/postgres';
import type { BillingConfig } from '../config';
import { OutboxPublisher } from '../outbox/outbox.publisher';
import { BILLING_CONFIG, CONSUMPTION_TARIFFS, PG_POOL } from '../tokens';
import type { ConsumptionTariffs } from './consumption-tariffs';
import { inTurn } from './in-turn';
import { rateMeterMonth } from './rate-meter-month';
import { loadRatingInputs, type PeriodKey } from './rating-inputs.repository';

const ratedPeriods = counter('billing_periods_rated_total', '(meter, month) pairs rated', [
  'outcome',
]);
const lineChanges = counter('billing_charge_changes_total', 'Charge lines written', ['action']);
const ratingIssues = counter(
  'billing_rating_issues_total',
  'What rating could not charge (by @meterlink/billing-domain issue code)',
  ['code'],
);
const ratingSeconds = histogram('billing_rating_batch_seconds', 'One rating transaction');

/** BatchConsumer's gauge: how far behind each partition's end the consumer is. */
const consumerLag = gauge('kafka_consumer_lag', 'High watermark minus the last consumed offset', [
  'group',
  'topic',
  'partition',
]);

/** Readings billing still has to consume (as of each partition's last batch). */
async function readingsBacklog(): Promise<number> {
  const { values } = await consumerLag.get();
  return values
    .filter((v) => v.labels.group === 'billing' && v.labels.topic === TOPICS.meterReadings.name)
    .reduce((sum, v) => sum + v.value, 0);
}

/** The lock a month close takes exclusively and every rating transaction shared. */
export const MONTH_CLOSE_LOCK = 'billing.month-close';

export interface DirtyRow {
  meter_id: string;
  period: string;
  readings: number;
  late_readings: number;
  usage_records: number;
  swap_changes: number;
  fleet_changes: number;
  boundary_changes: number;
}

interface ChargeRow {
  charge_id: string;
  line_key: string;
  period: string;
  service_period: string;
  type: ChargeLine['type'];
  meter_id: string;
  carrier_id: string | null;
  customer_id: string | null;
  tariff_id: string | null;
  register: ChargeLine['register'] | null;
  band: string | null;
  quantity: string;
  quantity_exact: string;
  unit: string;
  amount_minor: string;
  amount_exact_minor: string;
  currency: string;
  estimated: boolean;
  flags: ChargeFlag[];
  revision: number;
}

interface ChargeWrite {
  charge_id: string;
  line_key: string;
  period: string;
  service_period: string;
  type: string;
  meter_id: string;
  carrier_id: string | null;
  customer_id: string | null;
  tariff_id: string | null;
  register: string | null;
  band: string | null;
  quantity: number;
  quantity_exact: string;
  unit: string;
  amount_minor: number;
  amount_exact_minor: string;
  currency: string;
  estimated: boolean;
  flags: string[];
  correction_of: string | null;
  revision: number;
  reason: string;
}

interface AuditWrite {
  charge_id: string;
  meter_id: string;
  service_period: string;
  action: 'rated' | 're-rated' | 'corrected';
  old_amount_minor: number | null;
  new_amount_minor: number;
  old_quantity: number | null;
  new_quantity: number;
  reason: string;
  detail: Record<string, unknown>;
}

/** Why a month is being rated again, in words, from what ingestion counted. */
export function describeChanges(d: DirtyRow): string {
  const parts: string[] = [];
  if (d.readings > 0)
    parts.push(
      `${d.readings} new reading(s)` +
        (d.late_readings > 0
          ? ` (${d.late_readings} late: received more than a day after their interval)`
          : ''),
    );
  if (d.boundary_changes > 0) parts.push('a new reading next to a month boundary');
  if (d.usage_records > 0) parts.push(`${d.usage_records} usage record(s)`);
  if (d.swap_changes > 0) parts.push(`${d.swap_changes} profile change(s)`);
  if (d.fleet_changes > 0) parts.push('meter or carrier data from the registry');
  return parts.length > 0 ? parts.join(', ') : 'inputs changed';
}

const lineOf = (r: ChargeRow): ChargeLine => ({
  chargeId: r.charge_id,
  period: r.period,
  type: r.type,
  meterId: r.meter_id,
  ...(r.carrier_id === null ? {} : { carrierId: r.carrier_id }),
  ...(r.customer_id === null ? {} : { customerId: r.customer_id }),
  ...(r.tariff_id === null ? {} : { tariffId: r.tariff_id }),
  ...(r.register === null ? {} : { register: r.register }),
  ...(r.band === null ? {} : { band: r.band }),
  quantity: Number(r.quantity),
  unit: r.unit,
  quantityExact: r.quantity_exact,
  amountMinor: Number(r.amount_minor),
  amountExactMinor: r.amount_exact_minor,
  currency: r.currency,
  estimated: r.estimated,
  flags: r.flags,
});

const writeOf = (
  line: ChargeLine,
  servicePeriod: string,
  revision: number,
  reason: string,
): ChargeWrite => ({
  charge_id: line.chargeId,
  line_key: line.chargeId,
  period: line.period,
  service_period: servicePeriod,
  type: line.type,
  meter_id: line.meterId,
  carrier_id: line.carrierId ?? null,
  customer_id: line.customerId ?? null,
  tariff_id: line.tariffId ?? null,
  register: line.register ?? null,
  band: line.band ?? null,
  quantity: line.quantity,
  quantity_exact: line.quantityExact,
  unit: line.unit,
  amount_minor: line.amountMinor,
  amount_exact_minor: line.amountExactMinor,
  currency: line.currency,
  estimated: line.estimated,
  flags: [...line.flags],
  correction_of: null,
  revision,
  reason,
});

/**
 * Rates the months that ingestion marked dirty: a few at a time per transaction, each read,
 * rated by @meterlink/billing-domain, compared with its stored lines, and the differences
 * written (lines, audit, outbox) with the dirty marks removed, all in that one transaction.
 * Rating is a function of the ledger, so rating a month again without new input changes nothing.
 */
@Injectable()
export class RatingService {
  private readonly log = createLogger('RatingService');
  private stopped = false;
  private workers: Promise<void>[] = [];
  private readonly wakers = new Set<() => void>();

  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(BILLING_CONFIG) private readonly config: BillingConfig,
    @Inject(CONSUMPTION_TARIFFS) private readonly tariffs: ConsumptionTariffs,
    private readonly outbox: OutboxPublisher,
  ) {}

  start(): void {
    for (let i = 0; i < this.config.BILLING_RATING_WORKERS; i++) this.workers.push(this.loop());
  }

  /**
   * Months blocked by an earlier run are examined again: the tariff file (read at boot) may have
   * been fixed since, and no fleet record will arrive to unblock them. Those still blocked are
   * blocked again by their next rating. Returns how many there were.
   */
  async unblockAll(): Promise<number> {
    const { rowCount } = await this.pool.query(
      'UPDATE billing.dirty_periods SET blocked = NULL WHERE blocked IS NOT NULL',
    );
    if (rowCount) this.log.info({ months: rowCount }, 'blocked months to rate again');
    return rowCount ?? 0;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const wake of this.wakers) wake();
    await Promise.all(this.workers);
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      let rated = 0;
      try {
        rated = await this.rateOnce();
      } catch (error) {
        this.log.warn({ err: error }, 'rating pass failed; retrying');
      }
      if (rated === 0 && !this.stopped)
        await new Promise<void>((resolve) => {
          const wake = (): void => {
            clearTimeout(timer);
            this.wakers.delete(wake);
            resolve();
          };
          const timer = setTimeout(wake, 200);
          this.wakers.add(wake);
        });
    }
  }

  /**
   * Rates every unblocked dirty month of one period now, quiet or not: a month about to be closed
   * (it ended everywhere, its input is late anyway). Months other workers hold are theirs; the
   * close's exclusive lock waits for them. Returns how many months it rated.
   */
  async rateMonthNow(period: string): Promise<number> {
    let total = 0;
    for (;;) {
      const rated = await this.rateOnce(period);
      if (rated === 0) return total;
      total += rated;
    }
  }

  /**
   * One rating transaction; returns how many months it rated (0: nothing was due). With a period,
   * that period's dirty months regardless of how quiet their input has been.
   */
  async rateOnce(period?: string): Promise<number> {
    const started = process.hrtime.bigint();
    const select = `SELECT meter_id, period, readings, late_readings, usage_records, swap_changes, fleet_changes, boundary_changes
         FROM billing.dirty_periods WHERE blocked IS NULL AND `;
    const due =
      period === undefined
        ? {
            text: `${select} ((last_at < now() - $1 * interval '1 millisecond' AND NOT $4::boolean)
                OR first_at < now() - $2 * interval '1 millisecond')
              ORDER BY first_at LIMIT $3 FOR UPDATE SKIP LOCKED`,
            values: [
              this.config.BILLING_RATING_QUIET_MS,
              this.config.BILLING_RATING_MAX_DELAY_MS,
              this.config.BILLING_RATING_BATCH,
              // Catching up a backlog, a month's input is far from complete: rate it once it is
              // caught up (or once it waited the maximum delay) rather than again after every
              // quiet moment.
              (await readingsBacklog()) > this.config.BILLING_RATING_DEFER_BACKLOG,
            ],
          }
        : {
            text: `${select} period = $1 ORDER BY first_at LIMIT $2 FOR UPDATE SKIP LOCKED`,
            values: [period, this.config.BILLING_RATING_BATCH],
          };
    const count = await withTransaction(this.pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock_shared(hashtext($1))', [MONTH_CLOSE_LOCK]);
      const { rows: dirty } = await client.query<DirtyRow>(due.text, due.values);
      if (dirty.length === 0) return 0;
      await this.rate(client, dirty);
      return dirty.length;
    });
    if (count > 0) {
      ratingSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
      this.outbox.poke();
    }
    return count;
  }

  private async rate(client: PoolClient, dirty: DirtyRow[]): Promise<void> {
    const keys: PeriodKey[] = dirty.map((d) => ({ meterId: d.meter_id, period: d.period }));
    const pairs = [keys.map((k) => k.meterId), keys.map((k) => k.period)];
    const inputs = await loadRatingInputs(client, keys, this.tariffs);
    const [carriers, closedRows, existingRows, ratedRows] = await inTurn([
      () => loadCarrierTariffs(client),
      () => client.query<{ period: string }>('SELECT period FROM billing.closed_months'),
      () =>
        client.query<ChargeRow>(
          `SELECT c.charge_id, c.line_key, c.period, c.service_period, c.type, c.meter_id, c.carrier_id, c.customer_id,
                c.tariff_id, c.register, c.band, c.quantity::text, c.quantity_exact, c.unit, c.amount_minor::text,
                c.amount_exact_minor, c.currency, c.estimated, c.flags, c.revision
         FROM unnest($1::text[], $2::text[]) AS p(meter_id, period)
         JOIN billing.charges c ON c.meter_id = p.meter_id AND c.service_period = p.period
         ORDER BY c.charge_id`,
          pairs,
        ),
      () =>
        client.query<{ meter_id: string; period: string }>(
          `SELECT r.meter_id, r.period FROM unnest($1::text[], $2::text[]) AS p(meter_id, period)
         JOIN billing.rated_periods r ON r.meter_id = p.meter_id AND r.period = p.period`,
          pairs,
        ),
    ] as const);
    const closed = new Set(closedRows.rows.map((r) => r.period));
    const ratedBefore = new Set(ratedRows.rows.map((r) => `${r.meter_id}|${r.period}`));
    const existing = new Map<string, ChargeRow[]>();
    for (const row of existingRows.rows) {
      const key = `${row.meter_id}|${row.service_period}`;
      const list = existing.get(key);
      if (list) list.push(row);
      else existing.set(key, [row]);
    }
    const dirtyByKey = new Map(dirty.map((d) => [`${d.meter_id}|${d.period}`, d]));
    const nextOpen = (period: string): string => {
      let p = nextPeriod(period);
      while (closed.has(p)) p = nextPeriod(p);
      return p;
    };

    const writes: ChargeWrite[] = [];
    const audits: AuditWrite[] = [];
    const blocked: { meter_id: string; period: string; reason: string }[] = [];
    /** Rated (connectivity at least): later input re-rates them. */
    const done: PeriodKey[] = [];
    /** Rated in full: their dirty marks go. */
    const cleared: PeriodKey[] = [];

    for (const input of inputs) {
      const key = `${input.meterId}|${input.period}`;
      const outcome = rateMeterMonth(input, this.tariffs, carriers);
      if (!outcome.ok) {
        blocked.push({ meter_id: input.meterId, period: input.period, reason: outcome.blocked });
        ratedPeriods.inc({ outcome: 'blocked' });
        continue;
      }
      ratedPeriods.inc({ outcome: outcome.consumptionBlocked ? 'consumption_blocked' : 'rated' });
      for (const issue of outcome.issues) ratingIssues.inc({ code: issue.code });
      done.push(input);
      if (outcome.consumptionBlocked)
        blocked.push({
          meter_id: input.meterId,
          period: input.period,
          reason: outcome.consumptionBlocked,
        });
      else cleared.push(input);
      const d = dirtyByKey.get(key)!;
      const why = ratedBefore.has(key) ? describeChanges(d) : 'first rating of the month';
      const detail: Record<string, unknown> = {
        readings: d.readings,
        lateReadings: d.late_readings,
        usageRecords: d.usage_records,
        profileChanges: d.swap_changes,
        fleetChanges: d.fleet_changes,
        boundaryChanges: d.boundary_changes,
        ...(outcome.issues.length > 0 ? { issues: outcome.issues } : {}),
      };
      // Consumption not rated this time: its stored lines stand as they are.
      const rows = (existing.get(key) ?? []).filter(
        (r) => !outcome.consumptionBlocked || r.type !== 'consumption',
      );
      const originals = rows.filter((r) => r.period === r.service_period);
      const revisions = new Map(originals.map((r) => [r.charge_id, r.revision]));
      const deltas = diffChargeLines(originals.map(lineOf), outcome.lines, why);

      if (!closed.has(input.period)) {
        for (const delta of deltas) {
          const line = correctionLine(delta);
          const revision = (revisions.get(delta.chargeId) ?? 0) + 1;
          writes.push(writeOf(line, input.period, revision, revision > 1 ? why : ''));
          audits.push({
            charge_id: delta.chargeId,
            meter_id: input.meterId,
            service_period: input.period,
            action: delta.previous ? 're-rated' : 'rated',
            old_amount_minor: delta.previous ? delta.previousAmountMinor : null,
            new_amount_minor: line.amountMinor,
            old_quantity: delta.previous?.quantity ?? null,
            new_quantity: line.quantity,
            reason: why,
            detail: {
              ...detail,
              change: delta.change,
              changedFields: delta.changedFields,
              oldAmountExactMinor: delta.previous?.amountExactMinor ?? null,
              newAmountExactMinor: line.amountExactMinor,
              flags: line.flags,
            },
          });
        }
        continue;
      }

      // A closed month never changes: what differs from what was billed for it (its lines and
      // their corrections so far) is billed in the next open month.
      const billed = new Map<
        string,
        { amount: number; exact: Rational; quantity: Rational; n: number; line: ChargeLine }
      >();
      for (const r of rows) {
        const b = billed.get(r.line_key) ?? {
          amount: 0,
          exact: ZERO,
          quantity: ZERO,
          n: 0,
          line: lineOf(r),
        };
        b.amount += Number(r.amount_minor);
        b.exact = addRational(b.exact, parseRational(r.amount_exact_minor));
        b.quantity = addRational(b.quantity, parseRational(r.quantity_exact));
        if (r.period !== r.service_period) b.n++;
        else b.line = lineOf(r);
        billed.set(r.line_key, b);
      }
      const current = new Map(outcome.lines.map((l) => [l.chargeId, l]));
      const lineKeys = [...new Set([...billed.keys(), ...current.keys()])].sort();
      const period = nextOpen(input.period);
      for (const lineKey of lineKeys) {
        const now = current.get(lineKey);
        const before = billed.get(lineKey);
        const nowAmount = now?.amountMinor ?? 0;
        const nowQuantity = now ? parseRational(now.quantityExact) : ZERO;
        const quantityDelta = subRational(nowQuantity, before?.quantity ?? ZERO);
        const amountDelta = nowAmount - (before?.amount ?? 0);
        if (amountDelta === 0 && quantityDelta.n === 0n) continue;
        const template = now ?? before!.line;
        const n = (before?.n ?? 0) + 1;
        const chargeId = `${lineKey}/correction-${n}`;
        const reason = `${input.period} is closed: corrected in ${period} (${why})`;
        writes.push({
          ...writeOf(template, input.period, 1, reason),
          charge_id: chargeId,
          line_key: lineKey,
          period,
          quantity: rationalToNumber(quantityDelta),
          quantity_exact: formatRational(quantityDelta),
          amount_minor: amountDelta,
          amount_exact_minor: formatRational(
            subRational(now ? parseRational(now.amountExactMinor) : ZERO, before?.exact ?? ZERO),
          ),
          flags: now ? [...now.flags] : ['voided'],
          correction_of: before && before.line.period === input.period ? lineKey : null,
        });
        audits.push({
          charge_id: chargeId,
          meter_id: input.meterId,
          service_period: input.period,
          action: 'corrected',
          old_amount_minor: before?.amount ?? 0,
          new_amount_minor: nowAmount,
          old_quantity: rationalToNumber(before?.quantity ?? ZERO),
          new_quantity: rationalToNumber(nowQuantity),
          reason,
          detail: { ...detail, correctionOf: lineKey, billedIn: period },
        });
      }
    }

    if (writes.length > 0) await this.store(client, writes, audits);
    for (const a of audits) lineChanges.inc({ action: a.action });
    if (done.length > 0)
      await client.query(
        `INSERT INTO billing.rated_periods AS r (meter_id, period, ratings, rated_at)
         SELECT meter_id, period, 1, now() FROM unnest($1::text[], $2::text[]) AS p(meter_id, period)
         ON CONFLICT (meter_id, period) DO UPDATE SET ratings = r.ratings + 1, rated_at = now()`,
        [done.map((k) => k.meterId), done.map((k) => k.period)],
      );
    if (cleared.length > 0)
      await client.query(
        `DELETE FROM billing.dirty_periods d USING unnest($1::text[], $2::text[]) AS p(meter_id, period)
         WHERE d.meter_id = p.meter_id AND d.period = p.period`,
        [cleared.map((k) => k.meterId), cleared.map((k) => k.period)],
      );
    if (blocked.length > 0)
      await client.query(
        `UPDATE billing.dirty_periods d SET blocked = p.reason
         FROM unnest($1::text[], $2::text[], $3::text[]) AS p(meter_id, period, reason)
         WHERE d.meter_id = p.meter_id AND d.period = p.period`,
        [
          blocked.map((b) => b.meter_id),
          blocked.map((b) => b.period),
          blocked.map((b) => b.reason),
        ],
      );
  }

  private async store(
    client: PoolClient,
    writes: ChargeWrite[],
    audits: AuditWrite[],
  ): Promise<void> {
    const ratedAt = new Date().toISOString();
    await client.query(
      `INSERT INTO billing.charges (charge_id, line_key, period, service_period, type, meter_id, carrier_id, customer_id,
         tariff_id, register, band, quantity, quantity_exact, unit, amount_minor, amount_exact_minor, currency, estimated,
         flags, correction_of, revision, rated_at)
       SELECT charge_id, line_key, period, service_period, type, meter_id, carrier_id, customer_id, tariff_id, register,
         band, quantity, quantity_exact, unit, amount_minor, amount_exact_minor, currency, estimated, flags, correction_of,
         revision, $2::timestamptz
       FROM jsonb_to_recordset($1::jsonb) AS x(charge_id text, line_key text, period text, service_period text, type text,
         meter_id text, carrier_id text, customer_id text, tariff_id text, register text, band text, quantity numeric,
         quantity_exact text, unit text, amount_minor bigint, amount_exact_minor text, currency text, estimated boolean,
         flags text[], correction_of text, revision integer)
       ON CONFLICT (charge_id) DO UPDATE SET quantity = EXCLUDED.quantity, quantity_exact = EXCLUDED.quantity_exact,
         unit = EXCLUDED.unit, amount_minor = EXCLUDED.amount_minor, amount_exact_minor = EXCLUDED.amount_exact_minor,
         currency = EXCLUDED.currency, estimated = EXCLUDED.estimated, flags = EXCLUDED.flags,
         customer_id = EXCLUDED.customer_id, tariff_id = EXCLUDED.tariff_id, revision = EXCLUDED.revision,
         rated_at = EXCLUDED.rated_at`,
      [JSON.stringify(writes), ratedAt],
    );
    await client.query(
      `INSERT INTO billing.charge_audit (charge_id, meter_id, service_period, action, old_amount_minor, new_amount_minor,
         old_quantity, new_quantity, reason, detail)
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(charge_id text, meter_id text, service_period text, action text,
         old_amount_minor bigint, new_amount_minor bigint, old_quantity numeric, new_quantity numeric, reason text, detail jsonb)`,
      [JSON.stringify(audits)],
    );
    const records = writes.map((w) => ({ key: w.meter_id, value: chargeRecord(w, ratedAt) }));
    await client.query(
      `INSERT INTO billing.outbox (topic, key, value)
       SELECT $1, x.key, x.value FROM jsonb_to_recordset($2::jsonb) AS x(key text, value jsonb)`,
      [TOPICS.billingCharges.name, JSON.stringify(records)],
    );
  }
}

/** The billing.charges.v1 record of a line as written. */
function chargeRecord(w: ChargeWrite, ratedAt: string): BillingChargeRecord {
  return {
    eventId: stableEventId('billing.charges.v1', w.charge_id, w.revision),
    type: w.type as BillingChargeRecord['type'],
    at: ratedAt,
    chargeId: w.charge_id,
    period: w.period,
    servicePeriod: w.service_period,
    quantity: w.quantity,
    unit: w.unit,
    amountMinor: w.amount_minor,
    currency: w.currency,
    meterId: w.meter_id,
    ...(w.carrier_id ? { carrierId: w.carrier_id } : {}),
    ...(w.customer_id ? { customerId: w.customer_id } : {}),
    ...(w.register ? { register: w.register as BillingChargeRecord['register'] } : {}),
    ...(w.band ? { band: w.band } : {}),
    estimated: w.estimated,
    ...(w.flags.length > 0 ? { flags: w.flags } : {}),
    revision: w.revision,
    ...(w.correction_of ? { correctionOf: w.correction_of } : {}),
    ...(w.reason ? { reason: w.reason } : {}),
  };
}

async function loadCarrierTariffs(client: PoolClient): Promise<Map<string, CarrierTariff>> {
  const { rows } = await client.query<{
    carrier_id: string;
    currency: string;
    monthly_fee_minor: string;
    per_mb_minor: string;
    download_fee_minor: string;
    swap_fee_minor: string;
  }>('SELECT * FROM billing.carriers');
  return new Map(
    rows.map((r) => [
      r.carrier_id,
      {
        currency: r.currency,
        monthlyFeeMinor: Number(r.monthly_fee_minor),
        perMbMinor: Number(r.per_mb_minor),
        downloadFeeMinor: Number(r.download_fee_minor),
        swapFeeMinor: Number(r.swap_fee_minor),
      },
    ]),
  );
}
