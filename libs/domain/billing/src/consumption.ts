import type { Register } from '@meterlink/contracts';
import { BillingError } from './billing.error';
import { chargeIdOf, type ChargeFlag, type ChargeLine } from './charge-line';
import {
  formatRational,
  mulRational,
  rational,
  rationalToNumber,
  roundHalfEven,
  toSafeMinor,
  ZERO,
  type Rational,
} from './money';
import type { BillingPeriod } from './period';
import type { RatingIssue } from './rating-issue';
import type { CompiledTariff } from './tariff';

const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;
/** How far back the consumption rate that extrapolates past the last reading looks. */
export const EXTRAPOLATION_LOOKBACK_MS = 7 * DAY_MS;
/** An interval up to this many report intervals long is jitter, not a gap. */
export const DEFAULT_GAP_FACTOR = 1.5;

/** One value of a cumulative register (Wh, l) at an instant (epoch ms). */
export interface RegisterReading {
  readonly at: number;
  readonly value: number;
}

export interface DeterminantOptions {
  /** The meter's own report interval: readings further apart than this (× gapFactor) are a gap. */
  readonly reportIntervalS: number;
  readonly gapFactor?: number;
}

/** Register units (Wh, l) that fell in one time-of-use band of the window. */
export interface BandDeterminant {
  readonly band: string;
  readonly quantity: Rational;
  /** Part of it is a gap's or an extrapolation's share, not measured. */
  readonly estimated: boolean;
  /** The register fell during this band's time; the fall was not billed. */
  readonly registerDecrease: boolean;
}

/** Readings further apart than expected; the consumption between is spread evenly over time. */
export interface GapNote {
  readonly fromMs: number;
  readonly toMs: number;
  /** Readings the meter should have sent in between. */
  readonly missingReadings: number;
}

/** The register went down (reset, exchange or a bad reading); nothing is billed until it passes its earlier high. */
export interface DecreaseNote {
  readonly fromMs: number;
  readonly toMs: number;
  /** The highest value billed so far. */
  readonly fromValue: number;
  readonly toValue: number;
}

/**
 * The billing determinants of one register over a window [startMs, endMs). Consumption over an
 * interval between two readings is taken as even over time (linear interpolation): that is how
 * a boundary with no reading on it is valued and how an interval is split across bands, to a
 * millionth of a register unit (µWh, ml; floored). So consumption = register(end) −
 * register(start), split into bands, unless the register decreased (decreases are not billed)
 * or the end had to be extrapolated.
 */
export interface RegisterDeterminants {
  readonly startMs: number;
  readonly endMs: number;
  /** Register value at the window start (interpolated); null before the meter's first reading. */
  readonly startValue: Rational | null;
  /** Register value at the window end (interpolated or, past the last reading, extrapolated). */
  readonly endValue: Rational | null;
  /** Sum of the bands, register units. */
  readonly consumption: Rational;
  /** In the tariff's band order. */
  readonly bands: readonly BandDeterminant[];
  readonly gaps: readonly GapNote[];
  readonly decreases: readonly DecreaseNote[];
  /** No reading at or after the window end: the rest was extrapolated and is `estimated`. */
  readonly endExtrapolated: boolean;
}

/**
 * Determinants of one register over [startMs, endMs) under a tariff's bands. `readings` are every
 * reading of the register (at least the last one at or before startMs and the first one at or
 * after endMs, when they exist); ascending by `at` is fastest, any order is accepted; a second
 * reading at the same instant is ignored (the first received wins, as in the ledger).
 */
export function computeDeterminants(
  readings: readonly RegisterReading[],
  startMs: number,
  endMs: number,
  tariff: CompiledTariff,
  options: DeterminantOptions,
): RegisterDeterminants {
  return new DeterminantsComputation(tariff, options).run(ascending(readings), startMs, endMs);
}

export interface ConsumptionRatingInput {
  readonly meterId: string;
  readonly customerId?: string;
  /** A calendar month of the tariff's local time. */
  readonly period: BillingPeriod;
  readonly tariff: CompiledTariff;
  /** Readings by register (see computeDeterminants for which). */
  readonly readings: Partial<Record<Register, readonly RegisterReading[]>>;
  readonly reportIntervalS: number;
  readonly gapFactor?: number;
}

export interface ConsumptionRating {
  /** Sorted by chargeId: one line per billed register × band, and a standing-charge line. */
  readonly lines: ChargeLine[];
  readonly determinants: ReadonlyMap<Register, RegisterDeterminants>;
  readonly issues: RatingIssue[];
}

/**
 * Consumption charge lines of one meter for one tariff-local calendar month: per billed register
 * and band, quantity × band price / divisor, exact, rounded half-even once per line; plus the
 * standing charge per local day from the meter's first reading (or the month start).
 */
export function rateConsumption(input: ConsumptionRatingInput): ConsumptionRating {
  const { tariff, period, meterId } = input;
  const { startMs, endMs } = tariff.clock.localMonth(period);
  const issues: RatingIssue[] = [];
  const determinants = new Map<Register, RegisterDeterminants>();
  const lines: ChargeLine[] = [];
  const computation = new DeterminantsComputation(tariff, input);
  let firstReadingAt = Infinity;

  for (const register of Object.keys(input.readings) as Register[]) {
    if (!tariff.registers.has(register) && (input.readings[register]?.length ?? 0) > 0) {
      issues.push({
        code: 'register_not_billed',
        register,
        detail: `tariff ${tariff.tariffId} does not bill ${register}`,
      });
    }
  }

  for (const [register, { unit, divisor }] of tariff.registers) {
    const raw = input.readings[register] ?? [];
    const readings = ascending(raw, (detail) =>
      issues.push({ code: 'conflicting_readings', register, detail }),
    );
    const first = readings[0];
    if (first === undefined || first.at >= endMs) {
      issues.push({
        code: 'no_readings',
        register,
        detail: `no ${register} reading up to the end of ${period}`,
      });
      continue;
    }
    firstReadingAt = Math.min(firstReadingAt, first.at);
    const d = computation.run(readings, startMs, endMs);
    determinants.set(register, d);
    const divisorR = rational(divisor);
    d.bands.forEach((b, i) => {
      const price = tariff.bandPrices[i] ?? ZERO;
      const quantity = rational(b.quantity.n, b.quantity.d * divisorR.n);
      const amount = mulRational(quantity, price);
      const flags: ChargeFlag[] = [];
      if (b.estimated) flags.push('estimated');
      if (b.registerDecrease) flags.push('register_decrease');
      lines.push({
        chargeId: chargeIdOf({ meterId, period, type: 'consumption', register, band: b.band }),
        period,
        type: 'consumption',
        meterId,
        ...(input.customerId === undefined ? {} : { customerId: input.customerId }),
        tariffId: tariff.tariffId,
        register,
        band: b.band,
        quantity: rationalToNumber(quantity),
        unit,
        quantityExact: formatRational(quantity),
        amountMinor: toSafeMinor(roundHalfEven(amount)),
        amountExactMinor: formatRational(amount),
        currency: tariff.currency,
        estimated: b.estimated,
        flags,
      });
    });
  }

  const standing = tariff.standingChargeMinorPerDay;
  if (standing !== null && firstReadingAt < endMs) {
    const clock = tariff.clock;
    const from = Math.max(startMs, clock.startOfLocalDay(firstReadingAt));
    const days = localDayNumber(tariff, endMs - 1) - localDayNumber(tariff, from) + 1;
    const amount = mulRational(standing, rational(days));
    lines.push({
      chargeId: chargeIdOf({ meterId, period, type: 'consumption', band: 'standing' }),
      period,
      type: 'consumption',
      meterId,
      ...(input.customerId === undefined ? {} : { customerId: input.customerId }),
      tariffId: tariff.tariffId,
      band: 'standing',
      quantity: days,
      unit: 'day',
      quantityExact: String(days),
      amountMinor: toSafeMinor(roundHalfEven(amount)),
      amountExactMinor: formatRational(amount),
      currency: tariff.currency,
      estimated: false,
      flags: [],
    });
  }

  lines.sort((a, b) => (a.chargeId < b.chargeId ? -1 : a.chargeId > b.chargeId ? 1 : 0));
  return { lines, determinants, issues };
}

const localDayNumber = (tariff: CompiledTariff, ms: number): number =>
  Math.floor((ms + tariff.clock.offsetAt(ms)) / DAY_MS);

/** Readings ascending by `at`, one per instant; copies only when the input needs it. */
function ascending(
  readings: readonly RegisterReading[],
  onConflict?: (detail: string) => void,
): readonly RegisterReading[] {
  let ordered = true;
  let previousAt = -Infinity;
  for (const r of readings) {
    if (!Number.isSafeInteger(r.at) || !Number.isSafeInteger(r.value) || r.value < 0) {
      throw new BillingError(
        'invalid_input',
        `a reading needs an integer epoch-ms time and a non-negative integer value, got ${r.at}: ${r.value}`,
      );
    }
    if (r.at <= previousAt) ordered = false;
    previousAt = r.at;
  }
  if (ordered) return readings;
  const sorted = readings
    .map((r, i) => ({ r, i }))
    .sort((a, b) => a.r.at - b.r.at || a.i - b.i)
    .map((x) => x.r);
  const out: RegisterReading[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && last.at === r.at) {
      if (last.value !== r.value) {
        onConflict?.(
          `two readings at ${new Date(r.at).toISOString()}: ${last.value} kept, ${r.value} ignored`,
        );
      }
      continue;
    }
    out.push(r);
  }
  return out;
}

/** Interpolated consumption is floored to a millionth of a register unit (µWh, ml). */
const MICRO = 1_000_000n;

/** floor(n / d) for d > 0 (bigint division truncates towards zero). */
const floorDiv = (n: bigint, d: bigint): bigint => {
  const q = n / d;
  return n % d !== 0n && n < 0n ? q - 1n : q;
};

/**
 * The hot loop, with its scratch space kept between registers and calls: per interval a couple
 * of array lookups and number additions; bigint only where an interval straddles a band, a
 * window edge or a gap.
 *
 * Straddling intervals are shared out through the interpolated register floored to a micro-unit,
 * F(x) = floor(delta × 10^6 × (x − t0) / span): each piece [a, b) gets F(b) − F(a). The pieces of
 * an interval always add up to its delta, and any split of a period gives the same total as the
 * whole (the property the tests check), without fractions whose denominators would grow.
 */
class DeterminantsComputation {
  private readonly bandCount: number;
  private readonly gapMs: number;
  private readonly reportIntervalMs: number;
  /** split()'s result: pieces [previous end, pieceEnd[i]) of band pieceBand[i]. */
  private readonly pieceEnd: number[] = [];
  private readonly pieceBand: number[] = [];
  private pieceCount = 0;

  constructor(
    private readonly tariff: CompiledTariff,
    options: DeterminantOptions,
  ) {
    this.bandCount = tariff.bandNames.length;
    this.reportIntervalMs = options.reportIntervalS * 1000;
    this.gapMs = this.reportIntervalMs * (options.gapFactor ?? DEFAULT_GAP_FACTOR);
  }

  run(readings: readonly RegisterReading[], startMs: number, endMs: number): RegisterDeterminants {
    const n = this.bandCount;
    // Whole register units per band (exact: integers below 2^53), plus micro-units from shares.
    const whole = new Float64Array(n);
    const micro = new Array<bigint>(n).fill(0n);
    const estimated = new Uint8Array(n);
    const decreased = new Uint8Array(n);
    const gaps: GapNote[] = [];
    const decreases: DecreaseNote[] = [];

    const count = readings.length;
    let k = firstIndexAfter(readings, startMs);
    // Interval k runs from reading k-1 to reading k; the high-water mark covers all earlier ones.
    let high = -Infinity;
    for (let i = 0; i < k - 1; i++) high = Math.max(high, readings[i]?.value ?? -Infinity);
    if (k === 0) k = 1;

    for (; k < count; k++) {
      const prev = readings[k - 1];
      const cur = readings[k];
      if (!prev || !cur) break;
      if (prev.value > high) high = prev.value;
      if (prev.at >= endMs) break;
      const t0 = prev.at;
      const t1 = cur.at;
      const from = t0 > startMs ? t0 : startMs;
      const to = t1 < endMs ? t1 : endMs;
      const span = t1 - t0;
      const isGap = span > this.gapMs;
      const isDecrease = cur.value < high;
      const delta = isDecrease ? 0 : cur.value - high;
      if (isGap) {
        gaps.push({
          fromMs: t0,
          toMs: t1,
          missingReadings: Math.max(0, Math.round(span / this.reportIntervalMs) - 1),
        });
      }
      if (isDecrease) decreases.push({ fromMs: t0, toMs: t1, fromValue: high, toValue: cur.value });
      this.split(from, to);
      if (this.pieceCount === 1 && from === t0 && to === t1) {
        const b = this.pieceBand[0] ?? 0;
        whole[b] = (whole[b] ?? 0) + delta;
        if (isDecrease) decreased[b] = 1;
        continue;
      }
      const scaled = BigInt(delta) * MICRO;
      const spanN = BigInt(span);
      let before = delta === 0 ? 0n : (BigInt(from - t0) * scaled) / spanN;
      for (let i = 0; i < this.pieceCount; i++) {
        const b = this.pieceBand[i] ?? 0;
        if (delta !== 0) {
          const end = this.pieceEnd[i] ?? to;
          const after = end === t1 ? scaled : (BigInt(end - t0) * scaled) / spanN;
          micro[b] = (micro[b] ?? 0n) + after - before;
          before = after;
        }
        if (isGap) estimated[b] = 1;
        if (isDecrease) decreased[b] = 1;
      }
    }

    // Past the last reading, when the window goes on: the recent rate carries the register on.
    const last = readings[count - 1];
    const rate = recentRate(readings);
    let endExtrapolated = false;
    if (last && last.at < endMs) {
      endExtrapolated = true;
      const from = last.at > startMs ? last.at : startMs;
      this.split(from, endMs);
      let before = extrapolated(rate, from - last.at);
      for (let i = 0; i < this.pieceCount; i++) {
        const b = this.pieceBand[i] ?? 0;
        const after = extrapolated(rate, (this.pieceEnd[i] ?? endMs) - last.at);
        micro[b] = (micro[b] ?? 0n) + after - before;
        before = after;
        estimated[b] = 1;
      }
    }

    const bands: BandDeterminant[] = [];
    let total = 0n;
    for (let b = 0; b < n; b++) {
      const units = BigInt(whole[b] ?? 0) * MICRO + (micro[b] ?? 0n);
      total += units;
      bands.push({
        band: this.tariff.bandNames[b] ?? String(b),
        quantity: rational(units, MICRO),
        estimated: estimated[b] === 1,
        registerDecrease: decreased[b] === 1,
      });
    }
    return {
      startMs,
      endMs,
      startValue: registerAt(readings, startMs, rate),
      endValue: registerAt(readings, endMs, rate),
      consumption: rational(total, MICRO),
      bands,
      gaps,
      decreases,
      endExtrapolated,
    };
  }

  /**
   * Splits [from, to) into runs of one band by local wall time, into pieceEnd/pieceBand. Real
   * elapsed time, so a 25-hour autumn day has its repeated hour twice and a 23-hour spring day
   * loses one.
   */
  private split(from: number, to: number): void {
    this.pieceCount = 0;
    const { clock, bandAt, bandRunEnd } = this.tariff;
    let t = from;
    while (t < to) {
      const offset = clock.offsetAt(t);
      const local = t + offset;
      const day = Math.floor(local / DAY_MS);
      const weekday = (((day + 3) % 7) + 7) % 7; // 1970-01-01 was a Thursday; Monday = 0
      const minuteOfWeek = weekday * 1440 + Math.floor((local - day * DAY_MS) / MINUTE_MS);
      const band = bandAt[minuteOfWeek] ?? 0;
      const runEnd = bandRunEnd[minuteOfWeek] ?? 0;
      const runEndUtc = (day - weekday) * DAY_MS + runEnd * MINUTE_MS - offset;
      let end = runEndUtc < to ? runEndUtc : to;
      const change = clock.nextChangeAfter(t);
      if (change < end) end = change;
      // A clock change inside one band's run is not a new piece.
      if (this.pieceCount > 0 && this.pieceBand[this.pieceCount - 1] === band) {
        this.pieceEnd[this.pieceCount - 1] = end;
      } else {
        this.pieceBand[this.pieceCount] = band;
        this.pieceEnd[this.pieceCount] = end;
        this.pieceCount++;
      }
      t = end;
    }
  }
}

/** Index of the first reading after `ms` (readings.length when none). */
function firstIndexAfter(readings: readonly RegisterReading[], ms: number): number {
  let lo = 0;
  let hi = readings.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((readings[mid]?.at ?? 0) <= ms) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Billable increase over elapsed milliseconds: the rate that carries a register past its last reading. */
interface RecentRate {
  readonly increase: bigint;
  readonly elapsedMs: bigint;
}

/**
 * The billable increase over the last EXTRAPOLATION_LOOKBACK_MS of readings; zero with fewer than
 * two readings. Depends on the readings alone, not on the window, so extrapolated estimates
 * still add up when a period is split.
 */
function recentRate(readings: readonly RegisterReading[]): RecentRate {
  const last = readings[readings.length - 1];
  if (!last) return { increase: 0n, elapsedMs: 1n };
  let i = readings.length - 1;
  while (i > 0 && (readings[i - 1]?.at ?? 0) >= last.at - EXTRAPOLATION_LOOKBACK_MS) i--;
  const first = readings[i];
  if (!first || first.at === last.at) return { increase: 0n, elapsedMs: 1n };
  let high = first.value;
  let increase = 0;
  for (let j = i + 1; j < readings.length; j++) {
    const v = readings[j]?.value ?? high;
    if (v > high) {
      increase += v - high;
      high = v;
    }
  }
  return { increase: BigInt(increase), elapsedMs: BigInt(last.at - first.at) };
}

/** Micro-units the rate adds over `ms` past the last reading, floored. */
const extrapolated = (rate: RecentRate, ms: number): bigint =>
  (rate.increase * MICRO * BigInt(ms)) / rate.elapsedMs;

/**
 * The register at an instant, to the micro-unit: interpolated between readings (floored as the
 * determinants are), carried on at the recent rate past the last one; null before the first.
 */
function registerAt(
  readings: readonly RegisterReading[],
  ms: number,
  rate: RecentRate,
): Rational | null {
  const k = firstIndexAfter(readings, ms);
  const before = readings[k - 1];
  if (!before) return null;
  const base = BigInt(before.value) * MICRO;
  if (before.at === ms) return rational(base, MICRO);
  const after = readings[k];
  if (!after) return rational(base + extrapolated(rate, ms - before.at), MICRO);
  const share = floorDiv(
    BigInt(after.value - before.value) * MICRO * BigInt(ms - before.at),
    BigInt(after.at - before.at),
  );
  return rational(base + share, MICRO);
}
