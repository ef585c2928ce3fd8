import { BillingError } from './billing.error';

/** A billing period, `YYYY-MM` (billing.charges.v1 `period`). */
export type BillingPeriod = string;

/** The instants a period covers: [startMs, endMs), epoch milliseconds. */
export interface PeriodWindow {
  readonly period: BillingPeriod;
  readonly startMs: number;
  readonly endMs: number;
}

const PERIOD = /^([0-9]{4})-(0[1-9]|1[0-2])$/;

export function parsePeriod(period: BillingPeriod): { year: number; month: number } {
  const m = PERIOD.exec(period);
  if (!m) throw new BillingError('invalid_period', `period must be YYYY-MM, got ${period}`);
  return { year: Number(m[1]), month: Number(m[2]) };
}

export function formatPeriod(year: number, month: number): BillingPeriod {
  return `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}`;
}

export function nextPeriod(period: BillingPeriod): BillingPeriod {
  const { year, month } = parsePeriod(period);
  return month === 12 ? formatPeriod(year + 1, 1) : formatPeriod(year, month + 1);
}

export function previousPeriod(period: BillingPeriod): BillingPeriod {
  const { year, month } = parsePeriod(period);
  return month === 1 ? formatPeriod(year - 1, 12) : formatPeriod(year, month - 1);
}

/**
 * A UTC calendar month. Connectivity is rated in UTC months: carriers invoice in UTC, and a
 * UTC month keeps one meter's seconds in exactly one period whatever its customer's time zone.
 */
export function utcMonth(period: BillingPeriod): PeriodWindow {
  const { year, month } = parsePeriod(period);
  return { period, startMs: Date.UTC(year, month - 1, 1), endMs: Date.UTC(year, month, 1) };
}

/** The UTC month an instant falls in. */
export function utcPeriodOf(ms: number): BillingPeriod {
  const d = new Date(ms);
  return formatPeriod(d.getUTCFullYear(), d.getUTCMonth() + 1);
}

/** Every UTC period that [fromMs, toMs) touches, in order (the periods a late input re-rates). */
export function utcPeriodsBetween(fromMs: number, toMs: number): BillingPeriod[] {
  if (!(toMs > fromMs)) return [];
  const out: BillingPeriod[] = [];
  const last = utcPeriodOf(toMs - 1);
  for (let p = utcPeriodOf(fromMs); ; p = nextPeriod(p)) {
    out.push(p);
    if (p === last) return out;
  }
}
