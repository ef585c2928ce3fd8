import type { CarrierTariff, ProfileSwapRecord } from '@meterlink/contracts';
import { chargeIdOf, type ChargeLine, type ConnectivityChargeType } from './charge-line';
import {
  formatRational,
  rational,
  rationalToNumber,
  roundHalfEven,
  toSafeMinor,
  type Rational,
} from './money';
import { utcMonth, type BillingPeriod } from './period';
import type { RatingIssue } from './rating-issue';

/** How a profile came to be enabled. */
export type ProfileChangeSource = 'first-seen' | 'swap' | 'rollback' | 'device-fallback';

/** From `at` (epoch ms) on, this profile is the meter's enabled one. */
export interface ProfileChange {
  readonly at: number;
  readonly iccid: string;
  readonly carrierId: string;
  readonly source: ProfileChangeSource;
}

/** A profile enabled over [fromMs, toMs); toMs null while it still is. */
export interface EnableInterval {
  readonly iccid: string;
  readonly carrierId: string;
  readonly fromMs: number;
  readonly toMs: number | null;
}

/** Bytes (up + down) one telemetry message reported, on the carrier it was sent over. */
export interface UsageSample {
  /** epoch ms the usage was reported for (the message's sentAt). */
  readonly at: number;
  /** null when the ICCID is not on the meter's inventory: counted as an issue, not charged. */
  readonly carrierId: string | null;
  readonly bytes: number;
}

export type ConnectivityOperationKind = 'download' | 'swap';

/** A completed download or enable, billable by the carrier that performed it. */
export interface CompletedOperation {
  readonly kind: ConnectivityOperationKind;
  /** epoch ms it completed: decides its month. */
  readonly at: number;
  readonly carrierId: string;
  /** The swapId or download's transaction id: an operation seen twice is charged once. */
  readonly operationId: string;
}

export interface ConnectivityRatingInput {
  readonly meterId: string;
  readonly customerId?: string;
  readonly period: BillingPeriod;
  /** buildEnableTimeline's output; intervals outside the period are ignored. */
  readonly timeline: readonly EnableInterval[];
  /** Every usage sample of the meter; those outside the period are ignored. Deduplicated upstream (by seq). */
  readonly usage: readonly UsageSample[];
  readonly operations: readonly CompletedOperation[];
  readonly tariffs: ReadonlyMap<string, CarrierTariff>;
}

export interface ConnectivityRating {
  /** Sorted by chargeId. */
  readonly lines: ChargeLine[];
  readonly issues: RatingIssue[];
}

const BYTES_PER_MB = 1_000_000n;

/**
 * The enable intervals a meter's profile changes imply: each change enables its profile until
 * the next change. Changes are ordered by time (input order breaks ties: the later one wins), a
 * change to the profile already enabled is a no-op (a replayed event never splits an interval),
 * and the last interval ends at `endMs` (decommissioning) or stays open.
 */
export function buildEnableTimeline(
  changes: readonly ProfileChange[],
  endMs: number | null = null,
): EnableInterval[] {
  const ordered = changes
    .map((c, i) => ({ c, i }))
    .sort((a, b) => a.c.at - b.c.at || a.i - b.i)
    .map((x) => x.c);
  const out: EnableInterval[] = [];
  let current: ProfileChange | undefined;
  const close = (toMs: number): void => {
    if (current && toMs > current.at) {
      out.push({
        iccid: current.iccid,
        carrierId: current.carrierId,
        fromMs: current.at,
        toMs,
      });
    }
  };
  for (const change of ordered) {
    if (endMs !== null && change.at >= endMs) break;
    if (current && current.iccid === change.iccid) continue;
    if (current) close(change.at);
    current = change;
  }
  if (current) {
    if (endMs === null) {
      out.push({
        iccid: current.iccid,
        carrierId: current.carrierId,
        fromMs: current.at,
        toMs: null,
      });
    } else {
      close(endMs);
    }
  }
  return out;
}

/**
 * Profile changes and billable operations from profile.swaps.v1 records (any order, replays
 * included). A profile counts as enabled from its swap's `dispatched` record (when the meter is
 * told to enable it), or from the terminal record when no dispatch was seen:
 * - `completed` (any trigger, device fallbacks included): the target profile from then on, and
 *   one swap fee to the target carrier (the carrier performed an enable);
 * - `rolled-back`: the target profile from dispatch until the rollback, then the source profile
 *   again; no swap fee (the enable did not complete);
 * - `failed`, `expired`, `cancelled`, `requested`: nothing.
 */
export function profileChangesFromSwaps(
  records: readonly Pick<
    ProfileSwapRecord,
    | 'swapId'
    | 'fromIccid'
    | 'toIccid'
    | 'fromCarrierId'
    | 'toCarrierId'
    | 'trigger'
    | 'state'
    | 'at'
  >[],
): { changes: ProfileChange[]; operations: CompletedOperation[] } {
  const dispatchedAt = new Map<string, number>();
  for (const r of records) {
    if (r.state === 'dispatched') {
      const at = Date.parse(r.at);
      const known = dispatchedAt.get(r.swapId);
      if (known === undefined || at < known) dispatchedAt.set(r.swapId, at);
    }
  }
  const changes: ProfileChange[] = [];
  const operations: CompletedOperation[] = [];
  const done = new Set<string>();
  for (const r of records) {
    if (r.state !== 'completed' && r.state !== 'rolled-back') continue;
    if (done.has(r.swapId)) continue;
    done.add(r.swapId);
    const terminalAt = Date.parse(r.at);
    const enabledAt = Math.min(dispatchedAt.get(r.swapId) ?? terminalAt, terminalAt);
    if (r.state === 'completed') {
      changes.push({
        at: enabledAt,
        iccid: r.toIccid,
        carrierId: r.toCarrierId,
        source: r.trigger === 'device-fallback' ? 'device-fallback' : 'swap',
      });
      operations.push({
        kind: 'swap',
        at: terminalAt,
        carrierId: r.toCarrierId,
        operationId: r.swapId,
      });
    } else {
      changes.push(
        { at: enabledAt, iccid: r.toIccid, carrierId: r.toCarrierId, source: 'swap' },
        { at: terminalAt, iccid: r.fromIccid, carrierId: r.fromCarrierId, source: 'rollback' },
      );
    }
  }
  return { changes, operations };
}

/**
 * Download fees from profile.swaps.v1 records (any order, replays included): one per ICCID newly
 * installed on the meter's eUICC, charged to its carrier at the first completed swap to it (a
 * rolled-back swap is charged no fee). An ICCID was installed by a download when a swap to it says
 * `needsDownload: true` (the eIM had the carrier's SM-DP+ download it); when no record about it
 * carries the field (older producers), when the factory did not put it on the eUICC. A swap back
 * to a profile downloaded before is no new download.
 */
export function downloadsFromSwaps(
  records: readonly Pick<
    ProfileSwapRecord,
    'swapId' | 'toIccid' | 'toCarrierId' | 'state' | 'at' | 'needsDownload'
  >[],
  factoryIccids: readonly string[],
): CompletedOperation[] {
  const factory = new Set(factoryIccids);
  const downloaded = new Map<string, boolean>();
  const firstCompleted = new Map<string, { swapId: string; at: number; carrierId: string }>();
  for (const r of records) {
    if (r.needsDownload !== undefined)
      downloaded.set(r.toIccid, (downloaded.get(r.toIccid) ?? false) || r.needsDownload);
    if (r.state !== 'completed') continue;
    const at = Date.parse(r.at);
    const known = firstCompleted.get(r.toIccid);
    if (!known || at < known.at || (at === known.at && r.swapId < known.swapId))
      firstCompleted.set(r.toIccid, { swapId: r.swapId, at, carrierId: r.toCarrierId });
  }
  const operations: CompletedOperation[] = [];
  for (const [iccid, swap] of firstCompleted) {
    if (!(downloaded.get(iccid) ?? !factory.has(iccid))) continue;
    operations.push({
      kind: 'download',
      at: swap.at,
      carrierId: swap.carrierId,
      operationId: `${swap.swapId}:download`,
    });
  }
  return operations;
}

interface CarrierTotals {
  enabledMs: number;
  bytes: number;
  downloads: number;
  swaps: number;
}

/**
 * Connectivity charge lines of one meter for one UTC month: per carrier, the subscription
 * prorated by the milliseconds its profiles were enabled over the month's own length
 * (28 to 31 days), data per MB (10^6 bytes), and download and swap fees per completed operation.
 * Each line is computed exactly and rounded half-even once.
 */
export function rateConnectivity(input: ConnectivityRatingInput): ConnectivityRating {
  const { startMs, endMs } = utcMonth(input.period);
  const monthMs = endMs - startMs;
  const totals = new Map<string, CarrierTotals>();
  const totalsOf = (carrierId: string): CarrierTotals => {
    let t = totals.get(carrierId);
    if (!t) {
      t = { enabledMs: 0, bytes: 0, downloads: 0, swaps: 0 };
      totals.set(carrierId, t);
    }
    return t;
  };
  const issues: RatingIssue[] = [];

  for (const interval of input.timeline) {
    const from = Math.max(interval.fromMs, startMs);
    const to = Math.min(interval.toMs ?? endMs, endMs);
    if (to > from) totalsOf(interval.carrierId).enabledMs += to - from;
  }

  let unattributedBytes = 0;
  let unattributedSamples = 0;
  for (const u of input.usage) {
    if (u.at < startMs || u.at >= endMs) continue;
    if (u.carrierId === null) {
      unattributedBytes += u.bytes;
      unattributedSamples++;
    } else {
      totalsOf(u.carrierId).bytes += u.bytes;
    }
  }
  if (unattributedSamples > 0) {
    issues.push({
      code: 'unattributed_usage',
      detail: `${unattributedSamples} usage samples (${unattributedBytes} bytes) on an unknown ICCID`,
    });
  }

  const seenOperations = new Set<string>();
  for (const op of input.operations) {
    if (op.at < startMs || op.at >= endMs) continue;
    const key = `${op.kind}:${op.operationId}`;
    if (seenOperations.has(key)) continue;
    seenOperations.add(key);
    const t = totalsOf(op.carrierId);
    if (op.kind === 'download') t.downloads++;
    else t.swaps++;
  }

  const lines: ChargeLine[] = [];
  for (const [carrierId, t] of totals) {
    const tariff = input.tariffs.get(carrierId);
    if (!tariff) {
      issues.push({
        code: 'unknown_carrier_tariff',
        carrierId,
        detail: `no tariff for carrier ${carrierId}: its ${input.period} connectivity is not charged`,
      });
      continue;
    }
    const line = (
      type: ConnectivityChargeType,
      quantity: Rational,
      unit: string,
      amount: Rational,
    ): void => {
      lines.push(connectivityLine(input, carrierId, tariff.currency, type, quantity, unit, amount));
    };
    if (t.enabledMs > 0) {
      line(
        'connectivity.subscription',
        rational(t.enabledMs, 1000),
        's',
        rational(BigInt(tariff.monthlyFeeMinor) * BigInt(t.enabledMs), monthMs),
      );
    }
    if (t.bytes > 0) {
      const bytes = BigInt(t.bytes);
      line(
        'connectivity.data',
        rational(bytes, BYTES_PER_MB),
        'MB',
        rational(BigInt(tariff.perMbMinor) * bytes, BYTES_PER_MB),
      );
    }
    const fees = [
      ['connectivity.download', t.downloads, tariff.downloadFeeMinor],
      ['connectivity.swap', t.swaps, tariff.swapFeeMinor],
    ] as const;
    for (const [type, count, fee] of fees) {
      if (count > 0)
        line(type, rational(count), 'operation', rational(BigInt(fee) * BigInt(count)));
    }
  }
  lines.sort((a, b) => (a.chargeId < b.chargeId ? -1 : a.chargeId > b.chargeId ? 1 : 0));
  return { lines, issues };
}

function connectivityLine(
  input: ConnectivityRatingInput,
  carrierId: string,
  currency: string,
  type: ConnectivityChargeType,
  quantity: Rational,
  unit: string,
  amount: Rational,
): ChargeLine {
  return {
    chargeId: chargeIdOf({ meterId: input.meterId, period: input.period, type, carrierId }),
    period: input.period,
    type,
    meterId: input.meterId,
    carrierId,
    ...(input.customerId === undefined ? {} : { customerId: input.customerId }),
    quantity: rationalToNumber(quantity),
    unit,
    quantityExact: formatRational(quantity),
    amountMinor: toSafeMinor(roundHalfEven(amount)),
    amountExactMinor: formatRational(amount),
    currency,
    estimated: false,
    flags: [],
  };
}
