import { z } from 'zod';
import { registerSchema, type Register } from '@meterlink/contracts';
import { BillingError } from './billing.error';
import { decimalToRational, type Rational } from './money';
import { ZoneClock } from './zone-clock';

export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];
const DAY_SETS: Readonly<Record<'all' | 'weekdays' | 'weekends', readonly Weekday[]>> = {
  all: WEEKDAYS,
  weekdays: ['mon', 'tue', 'wed', 'thu', 'fri'],
  weekends: ['sat', 'sun'],
};

/** A price or charge in minor units, possibly fractional ("24.5" pence per kWh): exact decimal. */
const decimalSchema = z.union([
  z.number().nonnegative(),
  z.string().regex(/^[0-9]+(\.[0-9]+)?$/, 'a non-negative decimal such as "24.5"'),
]);
const wallTimeSchema = z
  .string()
  .regex(/^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$/, 'HH:MM local wall time (24:00 ends a day)');

/**
 * A time-of-use window: on each listed local day, [from, to) local wall time. `to` earlier than
 * `from` wraps: [from, 24:00) and [00:00, to) on the same listed day. Several windows may share a
 * name (a band), and must then share a price.
 */
export const tariffBandSchema = z.object({
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, 'band names are lower-case, without "/"')
    .refine((n) => n !== 'standing', 'the name "standing" is the standing charge'),
  days: z.union([z.array(z.enum(WEEKDAYS)).min(1), z.enum(['all', 'weekdays', 'weekends'])]),
  from: wallTimeSchema,
  to: wallTimeSchema,
  priceMinorPerUnit: decimalSchema,
});
export type TariffBand = z.infer<typeof tariffBandSchema>;

export const tariffRegisterSchema = z.object({
  /** The billed unit, e.g. `kWh` for `energy_import_wh`, `m3` for `volume_l`. */
  unit: z.string().min(1).max(16),
  /** Register units per billed unit: 1000 Wh per kWh, 1000 l per m3. */
  divisor: z.number().int().positive(),
});

/** A consumption tariff: the `tariffId` of the manifest names one of these. */
export const consumptionTariffSchema = z
  .object({
    tariffId: z.string().min(1).max(64),
    currency: z.string().regex(/^[A-Z]{3}$/),
    /** IANA zone: bands and billing months are in its local time, DST included. */
    timeZone: z.string().min(1),
    billingPeriod: z.literal('calendar-month'),
    /** The registers billed; others a meter reports are ignored (e.g. export on an import tariff). */
    registers: z.partialRecord(registerSchema, tariffRegisterSchema),
    /** Must cover every minute of the week exactly once. */
    bands: z.array(tariffBandSchema).min(1),
    standingChargeMinorPerDay: decimalSchema.optional(),
  })
  .superRefine((t, ctx) => {
    if (Object.keys(t.registers).length === 0) {
      ctx.addIssue({ code: 'custom', path: ['registers'], message: 'bill at least one register' });
    }
    try {
      new ZoneClock(t.timeZone);
    } catch {
      ctx.addIssue({
        code: 'custom',
        path: ['timeZone'],
        message: `unknown time zone ${t.timeZone}`,
      });
    }
    const problem = bandLayoutProblem(t.bands);
    if (problem) ctx.addIssue({ code: 'custom', path: ['bands'], message: problem });
  });
export type ConsumptionTariff = z.infer<typeof consumptionTariffSchema>;

/** The tariff file (`config/tariffs.json`). */
export const tariffFileSchema = z
  .object({ tariffs: z.array(consumptionTariffSchema).min(1) })
  .superRefine((f, ctx) => {
    const seen = new Set<string>();
    f.tariffs.forEach((t, i) => {
      if (seen.has(t.tariffId)) {
        ctx.addIssue({
          code: 'custom',
          path: ['tariffs', i, 'tariffId'],
          message: `duplicate tariffId ${t.tariffId}`,
        });
      }
      seen.add(t.tariffId);
    });
  });
export type TariffFile = z.infer<typeof tariffFileSchema>;

const MINUTES_PER_DAY = 1440;
export const MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY;

/** A tariff ready for rating: exact prices, a band per minute of the week, its zone's clock. */
export interface CompiledTariff {
  readonly tariffId: string;
  readonly currency: string;
  readonly clock: ZoneClock;
  readonly registers: ReadonlyMap<Register, { unit: string; divisor: bigint }>;
  /** Band names in first-mention order: the index used by bandAt and the determinants. */
  readonly bandNames: readonly string[];
  readonly bandPrices: readonly Rational[];
  /** Band index of each minute of the local week, Monday 00:00 = 0. */
  readonly bandAt: Uint8Array;
  /** For each minute of the week, the first later minute (≤ MINUTES_PER_WEEK) of another band. */
  readonly bandRunEnd: Uint16Array;
  readonly standingChargeMinorPerDay: Rational | null;
}

const minuteOf = (hhmm: string): number => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

const daysOf = (days: TariffBand['days']): readonly Weekday[] =>
  typeof days === 'string' ? DAY_SETS[days] : days;

/** Calls visit(minuteOfWeek) for every minute a band window covers. */
function forEachMinute(band: TariffBand, visit: (minuteOfWeek: number) => void): void {
  const from = minuteOf(band.from);
  const to = minuteOf(band.to);
  for (const day of daysOf(band.days)) {
    const base = WEEKDAYS.indexOf(day) * MINUTES_PER_DAY;
    if (from < to) {
      for (let m = from; m < to; m++) visit(base + m);
    } else {
      for (let m = from; m < MINUTES_PER_DAY; m++) visit(base + m);
      for (let m = 0; m < to; m++) visit(base + m);
    }
  }
}

const weekMinuteLabel = (m: number): string => {
  const day = WEEKDAYS[Math.floor(m / MINUTES_PER_DAY)] ?? '?';
  const mm = m % MINUTES_PER_DAY;
  return `${day} ${String(Math.floor(mm / 60)).padStart(2, '0')}:${String(mm % 60).padStart(2, '0')}`;
};

function bandLayoutProblem(bands: readonly TariffBand[]): string | null {
  const covered = new Int16Array(MINUTES_PER_WEEK).fill(-1);
  const price = new Map<string, string>();
  let overlap: string | null = null;
  bands.forEach((band, i) => {
    const p = decimalToRational(band.priceMinorPerUnit);
    const text = `${p.n}/${p.d}`;
    const known = price.get(band.name);
    if (known !== undefined && known !== text) overlap ??= `band ${band.name} has two prices`;
    price.set(band.name, text);
    if (band.from === band.to)
      overlap ??= `band ${band.name} window ${band.from}-${band.to} is empty`;
    forEachMinute(band, (m) => {
      if (covered[m] !== -1 && overlap === null) {
        overlap = `bands overlap at ${weekMinuteLabel(m)}`;
      }
      covered[m] = i;
    });
  });
  if (overlap) return overlap;
  const gap = covered.indexOf(-1);
  return gap === -1 ? null : `no band covers ${weekMinuteLabel(gap)}`;
}

/** Validates and compiles one tariff definition; throws BillingError('invalid_tariff'). */
export function compileTariff(definition: unknown): CompiledTariff {
  const parsed = consumptionTariffSchema.safeParse(definition);
  if (!parsed.success) {
    throw new BillingError('invalid_tariff', z.prettifyError(parsed.error));
  }
  return compileParsed(parsed.data);
}

/** Parses a tariff file (config/tariffs.json, already JSON.parse'd) into tariffs by id. */
export function parseTariffFile(json: unknown): ReadonlyMap<string, CompiledTariff> {
  const parsed = tariffFileSchema.safeParse(json);
  if (!parsed.success) {
    throw new BillingError('invalid_tariff', z.prettifyError(parsed.error));
  }
  return new Map(parsed.data.tariffs.map((t) => [t.tariffId, compileParsed(t)]));
}

function compileParsed(t: ConsumptionTariff): CompiledTariff {
  const bandNames: string[] = [];
  const bandPrices: Rational[] = [];
  const bandAt = new Uint8Array(MINUTES_PER_WEEK);
  for (const band of t.bands) {
    let index = bandNames.indexOf(band.name);
    if (index === -1) {
      index = bandNames.push(band.name) - 1;
      bandPrices.push(decimalToRational(band.priceMinorPerUnit));
    }
    if (index > 255) throw new BillingError('invalid_tariff', 'at most 256 bands');
    forEachMinute(band, (m) => {
      bandAt[m] = index;
    });
  }
  const bandRunEnd = new Uint16Array(MINUTES_PER_WEEK);
  let runEnd = MINUTES_PER_WEEK;
  for (let m = MINUTES_PER_WEEK - 1; m >= 0; m--) {
    if (m + 1 < MINUTES_PER_WEEK && bandAt[m + 1] !== bandAt[m]) runEnd = m + 1;
    bandRunEnd[m] = runEnd;
  }
  const registers = new Map<Register, { unit: string; divisor: bigint }>();
  for (const r of registerSchema.options) {
    const def = t.registers[r];
    if (def) registers.set(r, { unit: def.unit, divisor: BigInt(def.divisor) });
  }
  return {
    tariffId: t.tariffId,
    currency: t.currency,
    clock: new ZoneClock(t.timeZone),
    registers,
    bandNames,
    bandPrices,
    bandAt,
    bandRunEnd,
    standingChargeMinorPerDay:
      t.standingChargeMinorPerDay === undefined
        ? null
        : decimalToRational(t.standingChargeMinorPerDay),
  };
}
