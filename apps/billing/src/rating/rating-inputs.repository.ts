import {
  utcMonth,
  type CompiledTariff,
  type PeriodWindow,
  type RegisterReading,
} from '@meterlink/billing-domain';
import { registerSchema, type ProfileSwapRecord, type Register } from '@meterlink/contracts';
import type { PoolClient } from '@meterlink/postgres';
import { inTurn } from './in-turn';

export interface MeterInfo {
  customerId: string;
  tariffId: string;
  reportIntervalS: number;
  factoryIccids: string[];
  /** Epoch ms the meter was decommissioned: its timeline ends there. Null while active. */
  decommissionedAt: number | null;
}

export type SwapState = Pick<
  ProfileSwapRecord,
  | 'swapId'
  | 'fromIccid'
  | 'toIccid'
  | 'fromCarrierId'
  | 'toCarrierId'
  | 'trigger'
  | 'state'
  | 'at'
  | 'needsDownload'
>;

/** Everything rating one meter's month needs, read in one transaction. */
export interface MeterMonthInputs {
  meterId: string;
  period: string;
  meter: MeterInfo | undefined;
  /** Per register: the readings in the tariff-local month and the nearest one either side. */
  readings: Partial<Record<Register, RegisterReading[]>>;
  /** Bytes per carrier in the UTC month. */
  usage: { carrierId: string | null; bytes: number }[];
  /** The profile the meter was first seen on (meter.connectivity.v1), if it was. */
  firstSeen: { at: number; iccid: string; carrierId: string } | undefined;
  /** Every state of every swap of the meter. */
  swaps: SwapState[];
}

export interface PeriodKey {
  meterId: string;
  period: string;
}

function parsePoints(text: string | null, into: RegisterReading[]): void {
  if (!text) return;
  for (const part of text.split(',')) {
    const cut = part.indexOf(':');
    into.push({ at: Number(part.slice(0, cut)), value: Number(part.slice(cut + 1)) });
  }
}

/**
 * Loads the inputs of many (meter, month) pairs with a handful of queries: consumption over the
 * month of the meter's tariff zone (UTC when the tariff is unknown: rating stops there anyway),
 * connectivity over the UTC month.
 */
export async function loadRatingInputs(
  client: PoolClient,
  keys: PeriodKey[],
  tariffs: ReadonlyMap<string, CompiledTariff>,
): Promise<MeterMonthInputs[]> {
  const meterIds = [...new Set(keys.map((k) => k.meterId))];
  const { rows: meterRows } = await client.query<{
    meter_id: string;
    customer_id: string;
    tariff_id: string;
    report_interval_s: number;
    factory_iccids: string[];
    decommissioned_at: Date | null;
  }>(
    `SELECT meter_id, customer_id, tariff_id, report_interval_s, factory_iccids, decommissioned_at
     FROM billing.meters WHERE meter_id = ANY($1::text[])`,
    [meterIds],
  );
  const meters = new Map(
    meterRows.map((m) => [
      m.meter_id,
      {
        customerId: m.customer_id,
        tariffId: m.tariff_id,
        reportIntervalS: m.report_interval_s,
        factoryIccids: m.factory_iccids,
        decommissionedAt: m.decommissioned_at?.getTime() ?? null,
      },
    ]),
  );
  const inputs = keys.map<MeterMonthInputs>((k) => ({
    ...k,
    meter: meters.get(k.meterId),
    readings: {},
    usage: [],
    firstSeen: undefined,
    swaps: [],
  }));
  const byKey = new Map(inputs.map((i) => [`${i.meterId}|${i.period}`, i]));
  const localWindow = (i: MeterMonthInputs): PeriodWindow => {
    const tariff = i.meter ? tariffs.get(i.meter.tariffId) : undefined;
    return tariff ? tariff.clock.localMonth(i.period) : utcMonth(i.period);
  };
  const iso = (ms: number): string => new Date(ms).toISOString();
  const local = inputs.map(localWindow);
  const utc = inputs.map((i) => utcMonth(i.period));
  const PAIRS = `unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[]) AS p(meter_id, period, start_at, end_at)`;
  const ids = inputs.map((i) => i.meterId);
  const periods = inputs.map((i) => i.period);

  const [readings, usage, firstSeen, swaps] = await inTurn([
    // Points as `epochMs:value` text: one row per register instead of one per reading.
    () =>
      client.query<{
        meter_id: string;
        period: string;
        register: Register;
        points: string | null;
        before: string | null;
        after: string | null;
      }>(
        // Every register the contract knows, probed by index: a month without a single reading
        // of a register (a silence longer than the month) is still rated from the readings on
        // either side of it, as an estimate, instead of getting no line.
        `SELECT * FROM (
         SELECT p.meter_id, p.period, r.register,
         (SELECT string_agg((extract(epoch FROM x.at) * 1000)::bigint || ':' || x.value, ',' ORDER BY x.at)
           FROM billing.readings x WHERE x.meter_id = p.meter_id AND x.register = r.register
           AND x.at >= p.start_at AND x.at < p.end_at) AS points,
         (SELECT (extract(epoch FROM b.at) * 1000)::bigint || ':' || b.value FROM billing.readings b
           WHERE b.meter_id = p.meter_id AND b.register = r.register AND b.at < p.start_at ORDER BY b.at DESC LIMIT 1) AS before,
         (SELECT (extract(epoch FROM a.at) * 1000)::bigint || ':' || a.value FROM billing.readings a
           WHERE a.meter_id = p.meter_id AND a.register = r.register AND a.at >= p.end_at ORDER BY a.at LIMIT 1) AS after
       FROM ${PAIRS}
       CROSS JOIN unnest($5::text[]) AS r(register)) q
       WHERE q.points IS NOT NULL OR (q.before IS NOT NULL AND q.after IS NOT NULL)`,
        [
          ids,
          periods,
          local.map((w) => iso(w.startMs)),
          local.map((w) => iso(w.endMs)),
          registerSchema.options,
        ],
      ),
    () =>
      client.query<{ meter_id: string; period: string; carrier_id: string | null; bytes: string }>(
        `SELECT p.meter_id, p.period, u.carrier_id, sum(u.bytes_up + u.bytes_down)::text AS bytes
       FROM ${PAIRS} JOIN billing.usage u ON u.meter_id = p.meter_id AND u.at >= p.start_at AND u.at < p.end_at
       GROUP BY 1, 2, 3`,
        [ids, periods, utc.map((w) => iso(w.startMs)), utc.map((w) => iso(w.endMs))],
      ),
    () =>
      client.query<{ meter_id: string; from_at: Date; iccid: string; carrier_id: string }>(
        `SELECT meter_id, from_at, iccid, carrier_id FROM billing.profile_timeline
       WHERE meter_id = ANY($1::text[]) AND source = 'first-seen'`,
        [meterIds],
      ),
    () =>
      client.query<{
        meter_id: string;
        swap_id: string;
        state: SwapState['state'];
        at: Date;
        trigger: SwapState['trigger'];
        from_iccid: string;
        to_iccid: string;
        from_carrier_id: string;
        to_carrier_id: string;
        needs_download: boolean | null;
      }>(
        `SELECT meter_id, swap_id::text, state, at, trigger, from_iccid, to_iccid, from_carrier_id, to_carrier_id, needs_download
       FROM billing.swap_states WHERE meter_id = ANY($1::text[]) ORDER BY meter_id, at, swap_id, state`,
        [meterIds],
      ),
  ] as const);

  for (const r of readings.rows) {
    const input = byKey.get(`${r.meter_id}|${r.period}`);
    if (!input) continue;
    const list: RegisterReading[] = [];
    parsePoints(r.before, list);
    parsePoints(r.points, list);
    parsePoints(r.after, list);
    input.readings[r.register] = list;
  }
  for (const u of usage.rows)
    byKey.get(`${u.meter_id}|${u.period}`)?.usage.push({
      carrierId: u.carrier_id,
      bytes: Number(u.bytes),
    });
  const first = new Map(
    firstSeen.rows.map((f) => [
      f.meter_id,
      { at: f.from_at.getTime(), iccid: f.iccid, carrierId: f.carrier_id },
    ]),
  );
  const swapsByMeter = new Map<string, SwapState[]>();
  for (const s of swaps.rows) {
    let list = swapsByMeter.get(s.meter_id);
    if (!list) swapsByMeter.set(s.meter_id, (list = []));
    list.push({
      swapId: s.swap_id,
      state: s.state,
      at: s.at.toISOString(),
      trigger: s.trigger,
      fromIccid: s.from_iccid,
      toIccid: s.to_iccid,
      fromCarrierId: s.from_carrier_id,
      toCarrierId: s.to_carrier_id,
      ...(s.needs_download === null ? {} : { needsDownload: s.needs_download }),
    });
  }
  for (const input of inputs) {
    input.firstSeen = first.get(input.meterId);
    input.swaps = swapsByMeter.get(input.meterId) ?? [];
  }
  return inputs;
}
