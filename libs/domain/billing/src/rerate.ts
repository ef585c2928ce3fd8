import type { ChargeFlag, ChargeLine } from './charge-line';

export type ChargeChange = 'added' | 'removed' | 'changed';

/** The fields of a line whose change makes it a correction. */
export const COMPARED_FIELDS = [
  'amountMinor',
  'amountExactMinor',
  'quantityExact',
  'unit',
  'currency',
  'flags',
  'carrierId',
  'customerId',
  'tariffId',
] as const satisfies readonly (keyof ChargeLine)[];
export type ComparedField = (typeof COMPARED_FIELDS)[number];

/** One line that re-rating changed, for the audit trail and a correction on billing.charges.v1. */
export interface ChargeDelta {
  readonly chargeId: string;
  readonly change: ChargeChange;
  readonly previous: ChargeLine | null;
  readonly current: ChargeLine | null;
  /** 0 for an added line. */
  readonly previousAmountMinor: number;
  /** 0 for a removed line. */
  readonly currentAmountMinor: number;
  readonly deltaMinor: number;
  /** What differs (for `changed`); every compared field otherwise. */
  readonly changedFields: readonly ComparedField[];
  /** Why the period was re-rated (the caller's cause, e.g. `late_readings`, `swap_replayed`). */
  readonly reason: string;
}

const sameFlags = (a: readonly ChargeFlag[], b: readonly ChargeFlag[]): boolean =>
  a.length === b.length && a.every((f, i) => f === b[i]);

function differences(a: ChargeLine, b: ChargeLine): ComparedField[] {
  const out: ComparedField[] = [];
  for (const field of COMPARED_FIELDS) {
    const same = field === 'flags' ? sameFlags(a.flags, b.flags) : a[field] === b[field];
    if (!same) out.push(field);
  }
  return out;
}

/**
 * What re-rating a period changed: lines added, removed, or whose amount, quantity or flags
 * differ, by chargeId, in chargeId order. Identical lines yield nothing, so re-rating unchanged
 * input (a replay) yields no delta at all.
 */
export function diffChargeLines(
  previous: readonly ChargeLine[],
  current: readonly ChargeLine[],
  reason: string,
): ChargeDelta[] {
  const before = new Map(previous.map((l) => [l.chargeId, l]));
  const after = new Map(current.map((l) => [l.chargeId, l]));
  const ids = [...new Set([...before.keys(), ...after.keys()])].sort();
  const out: ChargeDelta[] = [];
  for (const chargeId of ids) {
    const p = before.get(chargeId) ?? null;
    const c = after.get(chargeId) ?? null;
    let change: ChargeChange;
    let changedFields: readonly ComparedField[] = COMPARED_FIELDS;
    if (p && c) {
      const d = differences(p, c);
      if (d.length === 0) continue;
      change = 'changed';
      changedFields = d;
    } else {
      change = p ? 'removed' : 'added';
    }
    const previousAmountMinor = p?.amountMinor ?? 0;
    const currentAmountMinor = c?.amountMinor ?? 0;
    out.push({
      chargeId,
      change,
      previous: p,
      current: c,
      previousAmountMinor,
      currentAmountMinor,
      deltaMinor: currentAmountMinor - previousAmountMinor,
      changedFields,
      reason,
    });
  }
  return out;
}

/**
 * The line to publish on billing.charges.v1 for a delta: the new line under the same chargeId
 * (consumers keep the latest per chargeId), or for a removed line a `voided` copy with zero
 * quantity and amount.
 */
export function correctionLine(delta: ChargeDelta): ChargeLine {
  if (delta.current) return delta.current;
  const p = delta.previous;
  if (!p) throw new Error(`delta ${delta.chargeId} has neither a previous nor a current line`);
  return {
    ...p,
    quantity: 0,
    quantityExact: '0',
    amountMinor: 0,
    amountExactMinor: '0',
    estimated: false,
    flags: ['voided'],
  };
}
