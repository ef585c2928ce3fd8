import type { ChargeLine, ChargeType } from './charge-line';
import { addRational, parseRational, rationalToNumber, ZERO, type Rational } from './money';
import type { BillingPeriod } from './period';

/** One charge type (and unit) of a statement: sums of its lines' rounded amounts. */
export interface StatementTotal {
  readonly type: ChargeType;
  readonly unit: string;
  readonly quantity: number;
  readonly amountMinor: number;
  readonly lines: number;
}

interface StatementBase {
  readonly period: BillingPeriod;
  readonly currency: string;
  /** Sum of the lines' amounts: lines are rounded once each, totals never again. */
  readonly totalMinor: number;
  readonly meters: number;
  readonly byType: readonly StatementTotal[];
  readonly estimated: boolean;
  /** Sorted by chargeId. */
  readonly lines: readonly ChargeLine[];
}

/** What one carrier should invoice for one UTC month (to reconcile against its invoice). */
export interface CarrierStatement extends StatementBase {
  readonly carrierId: string;
}

/** Everything charged for one customer's meters in one period. */
export interface CustomerStatement extends StatementBase {
  readonly customerId: string;
}

function summarise(period: BillingPeriod, currency: string, lines: ChargeLine[]): StatementBase {
  lines.sort((a, b) => (a.chargeId < b.chargeId ? -1 : a.chargeId > b.chargeId ? 1 : 0));
  const byType = new Map<
    string,
    { type: ChargeType; unit: string; q: Rational; a: bigint; n: number }
  >();
  const meters = new Set<string>();
  let total = 0n;
  let estimated = false;
  for (const l of lines) {
    meters.add(l.meterId);
    total += BigInt(l.amountMinor);
    estimated ||= l.estimated;
    const key = `${l.type} ${l.unit}`;
    let t = byType.get(key);
    if (!t) {
      t = { type: l.type, unit: l.unit, q: ZERO, a: 0n, n: 0 };
      byType.set(key, t);
    }
    t.q = addRational(t.q, parseRational(l.quantityExact));
    t.a += BigInt(l.amountMinor);
    t.n++;
  }
  return {
    period,
    currency,
    totalMinor: Number(total),
    meters: meters.size,
    byType: [...byType.keys()].sort().map((k) => {
      const t = byType.get(k);
      if (!t) throw new Error('unreachable');
      return {
        type: t.type,
        unit: t.unit,
        quantity: rationalToNumber(t.q),
        amountMinor: Number(t.a),
        lines: t.n,
      };
    }),
    estimated,
    lines,
  };
}

function groupBy<K extends string>(
  lines: readonly ChargeLine[],
  keyOf: (l: ChargeLine) => K | undefined,
): Map<string, { key: K; period: BillingPeriod; currency: string; lines: ChargeLine[] }> {
  const groups = new Map<
    string,
    { key: K; period: BillingPeriod; currency: string; lines: ChargeLine[] }
  >();
  for (const l of lines) {
    const key = keyOf(l);
    if (key === undefined) continue;
    const id = `${key}\u0000${l.period}\u0000${l.currency}`;
    let g = groups.get(id);
    if (!g) {
      g = { key, period: l.period, currency: l.currency, lines: [] };
      groups.set(id, g);
    }
    g.lines.push(l);
  }
  return groups;
}

const byKeyThenPeriod =
  <T extends { period: string; currency: string }>(key: (s: T) => string) =>
  (a: T, b: T): number =>
    key(a).localeCompare(key(b)) ||
    a.period.localeCompare(b.period) ||
    a.currency.localeCompare(b.currency);

/** Connectivity lines grouped per carrier × period × currency. */
export function carrierStatements(lines: readonly ChargeLine[]): CarrierStatement[] {
  const groups = groupBy(lines, (l) => (l.type === 'consumption' ? undefined : l.carrierId));
  return [...groups.values()]
    .map((g) => ({ carrierId: g.key, ...summarise(g.period, g.currency, g.lines) }))
    .sort(byKeyThenPeriod((s) => s.carrierId));
}

/** Every line carrying a customerId, grouped per customer × period × currency. */
export function customerStatements(lines: readonly ChargeLine[]): CustomerStatement[] {
  const groups = groupBy(lines, (l) => l.customerId);
  return [...groups.values()]
    .map((g) => ({ customerId: g.key, ...summarise(g.period, g.currency, g.lines) }))
    .sort(byKeyThenPeriod((s) => s.customerId));
}
