import type { CHARGE_TYPES, Register } from '@meterlink/contracts';
import type { BillingPeriod } from './period';

export type ChargeType = (typeof CHARGE_TYPES)[number];
export const CONNECTIVITY_CHARGE_TYPES = [
  'connectivity.subscription',
  'connectivity.data',
  'connectivity.download',
  'connectivity.swap',
] as const satisfies readonly ChargeType[];
export type ConnectivityChargeType = (typeof CONNECTIVITY_CHARGE_TYPES)[number];

/**
 * Why a line deserves a second look: `estimated` (some of its quantity was estimated: a gap's
 * share of a band or of a period, or a period end with no reading after it), `register_decrease`
 * (a register went down during the line's time; that fall is not billed), `voided` (a correction
 * line cancelling one that re-rating no longer produces).
 */
export const CHARGE_FLAGS = ['estimated', 'register_decrease', 'voided'] as const;
export type ChargeFlag = (typeof CHARGE_FLAGS)[number];

/**
 * One statement line: the unit of rounding. The amount is computed exactly and rounded half-even
 * to a whole minor unit once, here, and nowhere else; every total is a sum of these.
 *
 * Lines (and so chargeIds) are:
 * - connectivity: one per meter × carrier × UTC month × connectivity charge type (a month's
 *   swap fees on one carrier are one line with the number of swaps as its quantity);
 * - consumption: one per meter × register × tariff-local month × time-of-use band, plus one
 *   standing-charge line per meter × month.
 */
export interface ChargeLine {
  /** Deterministic from the line's key (chargeIdOf): re-rating a period yields the same ids. */
  readonly chargeId: string;
  readonly period: BillingPeriod;
  readonly type: ChargeType;
  readonly meterId: string;
  readonly carrierId?: string;
  readonly customerId?: string;
  readonly tariffId?: string;
  readonly register?: Register;
  /** Time-of-use band name, or `standing` for the standing charge. */
  readonly band?: string;
  /** In `unit`; for people and statements (the amount is computed from exact quantities). */
  readonly quantity: number;
  /** `s` (seconds enabled), `MB`, `operation`, `day`, or the tariff's unit (`kWh`, `m3`). */
  readonly unit: string;
  /** The exact quantity behind `quantity`, `n/d` or `n` (formatRational). */
  readonly quantityExact: string;
  /** Rounded half-even once. */
  readonly amountMinor: number;
  /** The unrounded amount, `n/d` or `n`, for the audit trail. */
  readonly amountExactMinor: string;
  readonly currency: string;
  readonly estimated: boolean;
  /** Sorted, without repeats; `estimated` is also a flag. */
  readonly flags: readonly ChargeFlag[];
}

/** What identifies a statement line; everything else about it may change on re-rating. */
export interface ChargeKey {
  readonly meterId: string;
  readonly period: BillingPeriod;
  readonly type: ChargeType;
  readonly carrierId?: string;
  readonly register?: Register;
  readonly band?: string;
}

/**
 * `meterId/period/type[/carrierId][/register][/band]`: readable in the audit trail, unique
 * because meter ids, carrier ids, registers and band names cannot contain `/`.
 */
export function chargeIdOf(key: ChargeKey): string {
  let id = `${key.meterId}/${key.period}/${key.type}`;
  if (key.carrierId !== undefined) id += `/${key.carrierId}`;
  if (key.register !== undefined) id += `/${key.register}`;
  if (key.band !== undefined) id += `/${key.band}`;
  return id;
}
