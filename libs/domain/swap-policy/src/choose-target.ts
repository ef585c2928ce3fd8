import type { InventoryProfile, SwapHistoryEntry } from './decide-swap';

/**
 * chooseTarget: where (and whether) to move one meter. Pure: the orchestrator supplies every
 * fact, including `now`; the decision carries the facts it used, for the audit log.
 * Defaults and their reasoning: ../README.md.
 */

/** A carrier's tariff, as in the carrier catalogue (provisioning.md), in integer minor units. */
export interface TariffFacts {
  monthlyFeeMinor: number;
  perMbMinor: number;
  downloadFeeMinor: number;
  swapFeeMinor: number;
}

/**
 * What the platform recently observed of one carrier's meters in one scope (the region, or the
 * meter's cell). Counts include every meter on that carrier in the scope, this meter included
 * when it is on that carrier (the policy discounts it when judging its peers).
 */
export interface CarrierCoverageStats {
  /** Meters of that carrier in the scope with a recent observation. */
  samples: number;
  /** Of them, silent (`meter.lost`). */
  lost: number;
  /** Of them, degraded (`meter.degraded`). */
  degraded: number;
  /** Median RSRP (dBm) of their recent telemetry; null when unknown. */
  medianRsrpDbm: number | null;
}

/** Per-carrier coverage stats, by carrierId; a carrier missing from a map has no samples there. */
export interface CoverageObservations {
  region: Readonly<Record<string, CarrierCoverageStats>>;
  /** The meter's cell (`cellId` of its latest telemetry); empty when unknown. */
  cell: Readonly<Record<string, CarrierCoverageStats>>;
}

/** An open carrier outage (coverage.events.v1 `carrier.outage`). */
export interface OutageFacts {
  outageId: string;
  carrierId: string;
  /** epoch ms the outage was declared. */
  openedAt: number;
}

/** Why the policy is asked. */
export type SwapCause =
  /** A coverage event about this meter; `outage` when it belongs to its carrier's outage. */
  | { kind: 'meter.degraded' | 'meter.lost'; outage?: OutageFacts }
  /** An automatic campaign for an outage of the meter's carrier in its region. */
  | { kind: 'carrier-outage'; outage: OutageFacts }
  /** An operator (single swap or campaign) asks for this carrier. */
  | { kind: 'operator'; targetCarrierId: string; campaignId?: string };

export type PowerFacts =
  | { source: 'mains' }
  /** `batteryPct` from the latest telemetry; null when the meter never reported it. */
  | { source: 'battery'; batteryPct: number | null };

/** An energy-hungry operation a battery meter executed. */
export type EnergyOp = 'download' | 'enable';

/**
 * A past profile change of the meter (swaps of any trigger, device fallbacks). `energyOps` lists
 * what the meter executed for it (absent: one enable, the conservative reading of old rows;
 * `[]` for a swap that expired or was cancelled before the meter saw it).
 */
export interface PolicyHistoryEntry extends SwapHistoryEntry {
  energyOps?: readonly EnergyOp[];
}

export interface ChooseTargetInput {
  now: number;
  cause: SwapCause;
  /** The meter's eUICC inventory (exactly one enabled profile expected). */
  profiles: readonly InventoryProfile[];
  /** Carriers under contract in the meter's region, in order of preference (`regions[].carriers`). */
  regionCarriers: readonly string[];
  /** Carriers with an open outage in the meter's region: never a target. */
  carriersInOutage: ReadonlySet<string>;
  /** Tariffs by carrierId; a carrier without one cannot be downloaded (unknown SM-DP+). */
  tariffs: Readonly<Record<string, TariffFacts>>;
  coverage: CoverageObservations;
  power: PowerFacts;
  /** The meter's typical data use per month (bytes), for the per-MB cost. */
  typicalMonthlyBytes: number;
  hasActiveSwap: boolean;
  /** The meter's profile changes, at least over the last year (battery budget) and the anti-flap window. */
  history: readonly PolicyHistoryEntry[];
}

export interface ChooseTargetConfig {
  /** No automatic swap within this long of the meter's last profile change. */
  cooldownMs: number;
  /** Leaving a carrier and coming back to it within this window is flapping (refused). */
  antiFlapWindowMs: number;
  /** An outage younger than this moves nothing (a blip). */
  outageMinDurationMs: number;
  /** Below this many samples, a scope's stats are "unknown", never "good". */
  minSamplesRegion: number;
  minSamplesCell: number;
  /** A carrier whose unhealthy share (lost + degraded) in a scope exceeds this is "poor" there. */
  maxUnhealthyShare: number;
  /** A carrier whose median RSRP in a scope is below this is "poor" there. */
  minMedianRsrpDbm: number;
  /** The meter's own fault: its carrier's other meters are "fine" when their unhealthy share is at most this. */
  peersFineMaxUnhealthyShare: number;
  /**
   * With no other meter of its carrier on record in the meter's cell (no cell data), its region
   * peers being fine is enough for `meter_fault`. Off by default: a region's share can hide one
   * cell's outage, and region counts lag the meter's own degradation (README).
   */
  meterFaultFromRegionPeers: boolean;
  /** Battery meters: no download below this charge (percent)... */
  minBatteryPctForDownload: number;
  /** ...and no enable below this one (the IPA answers catBusy, device-interface §4.3). */
  minBatteryPctForEnable: number;
  /** Battery meters: energy units allowed per rolling year, and what each operation costs. */
  batteryBudgetUnitsPerYear: number;
  downloadEnergyUnits: number;
  enableEnergyUnits: number;
  /** Cost is compared over this many months (monthly fees and data) plus the one-off fees. */
  costHorizonMonths: number;
  /** Candidates within this share of the cheapest are "comparable" in cost (0.25 = 25 %). */
  costToleranceShare: number;
}

/** Why a candidate carrier was set aside. */
export type CandidateExclusion =
  | 'not_under_contract'
  | 'carrier_in_outage'
  | 'would_flap'
  | 'coverage_poor'
  | 'unknown_carrier'
  | 'battery_low'
  | 'battery_unknown'
  | 'battery_budget_exhausted';

/** Why no swap: stable codes, for metrics, logs and the audit log. */
export type RefusalReason =
  | 'no_enabled_profile'
  | 'swap_in_progress'
  | 'already_on_target'
  | 'meter_unreachable'
  | 'meter_fault'
  | 'outage_too_young'
  | 'cooldown'
  | 'no_target_carrier'
  | 'no_eligible_target'
  | CandidateExclusion;

// A record, so that adding a code to the union without listing it here fails to compile.
const REFUSAL_REASON_SET: Record<RefusalReason, true> = {
  no_enabled_profile: true,
  swap_in_progress: true,
  already_on_target: true,
  meter_unreachable: true,
  meter_fault: true,
  outage_too_young: true,
  cooldown: true,
  no_target_carrier: true,
  no_eligible_target: true,
  not_under_contract: true,
  carrier_in_outage: true,
  would_flap: true,
  coverage_poor: true,
  unknown_carrier: true,
  battery_low: true,
  battery_unknown: true,
  battery_budget_exhausted: true,
};

/** Every refusal code, for metrics (pre-registered labels) and documentation. */
export const REFUSAL_REASONS = Object.keys(REFUSAL_REASON_SET) as readonly RefusalReason[];

export type CoverageClass = 'good' | 'poor' | 'unknown';

export interface ScopeAssessment {
  scope: 'cell' | 'region';
  class: CoverageClass;
  samples: number;
  /** (lost + degraded) / samples; null without samples. */
  unhealthyShare: number | null;
  medianRsrpDbm: number | null;
}

export interface CandidateFacts {
  carrierId: string;
  /** 0 = most preferred in the region's contract order. */
  preferenceRank: number;
  /** The profile of that carrier on the eUICC, if any. */
  iccid: string | null;
  needsDownload: boolean;
  /** Cell first when it has enough samples, then region. */
  coverage: CoverageClass;
  cell: ScopeAssessment;
  region: ScopeAssessment;
  /** Expected cost over the horizon (minor units), null without a tariff. */
  horizonCostMinor: number | null;
  /** Energy units this swap would cost a battery meter (0 for mains). */
  energyUnits: number;
  excluded: CandidateExclusion | null;
}

/** Everything the decision rested on, JSON-serialisable for the audit log. */
export interface DecisionFacts {
  policy: 'swap-policy/2';
  now: number;
  cause: SwapCause;
  currentCarrierId: string | null;
  currentIccid: string | null;
  /** The current carrier's peers (this meter discounted), when the cause is a coverage event. */
  currentCarrierPeers: { cell: ScopeAssessment; region: ScopeAssessment } | null;
  outageAgeMs: number | null;
  lastChangeAt: number | null;
  power: PowerFacts;
  batteryUnitsUsedLastYear: number;
  typicalMonthlyBytes: number;
  /** Every carrier considered, in the region's order (plus an operator's target outside it). */
  candidates: CandidateFacts[];
  /** Candidates left after exclusions, best first. */
  ranking: string[];
  config: ChooseTargetConfig;
}

interface SwapChosen {
  action: 'swap';
  fromIccid: string;
  fromCarrierId: string;
  toCarrierId: string;
  facts: DecisionFacts;
}

export type ChooseTargetDecision =
  /** Enable a profile already on the eUICC. */
  | (SwapChosen & { needsDownload: false; toIccid: string })
  /** Download a profile of `toCarrierId` through its SM-DP+ first, then enable it. */
  | (SwapChosen & { needsDownload: true; toIccid?: undefined })
  | { action: 'none'; reason: RefusalReason; facts: DecisionFacts };

/** Production defaults; the reasoning for each is in the library's README. */
export const DEFAULT_CHOOSE_TARGET_CONFIG: ChooseTargetConfig = {
  cooldownMs: 6 * 3_600_000,
  antiFlapWindowMs: 7 * 86_400_000,
  outageMinDurationMs: 15 * 60_000,
  minSamplesRegion: 20,
  minSamplesCell: 5,
  maxUnhealthyShare: 0.2,
  minMedianRsrpDbm: -120,
  peersFineMaxUnhealthyShare: 0.1,
  meterFaultFromRegionPeers: false,
  minBatteryPctForDownload: 30,
  minBatteryPctForEnable: 10,
  batteryBudgetUnitsPerYear: 12,
  downloadEnergyUnits: 5,
  enableEnergyUnits: 1,
  costHorizonMonths: 12,
  costToleranceShare: 0.25,
};

const YEAR_MS = 365 * 86_400_000;

const SHARE_EPSILON = 1e-12;

function assess(
  scope: 'cell' | 'region',
  stats: CarrierCoverageStats | undefined,
  minSamples: number,
  maxUnhealthyShare: number,
  minMedianRsrpDbm: number,
): ScopeAssessment {
  const samples = Math.max(0, stats?.samples ?? 0);
  const unhealthy = Math.max(0, (stats?.lost ?? 0) + (stats?.degraded ?? 0));
  const unhealthyShare = samples > 0 ? Math.min(1, unhealthy / samples) : null;
  const medianRsrpDbm = stats?.medianRsrpDbm ?? null;
  const poor =
    (unhealthyShare !== null && unhealthyShare > maxUnhealthyShare + SHARE_EPSILON) ||
    (medianRsrpDbm !== null && medianRsrpDbm < minMedianRsrpDbm);
  // Too few samples is no evidence either way: "unknown", never "good" (nor "poor").
  const cls: CoverageClass = samples < minSamples ? 'unknown' : poor ? 'poor' : 'good';
  return { scope, class: cls, samples, unhealthyShare, medianRsrpDbm };
}

/** A carrier's assessment in the meter's cell and in its region. */
function assessScopes(
  coverage: CoverageObservations,
  carrierId: string,
  config: ChooseTargetConfig,
  maxUnhealthyShare: number,
  adjust: (stats: CarrierCoverageStats | undefined) => CarrierCoverageStats | undefined = (s) => s,
): { cell: ScopeAssessment; region: ScopeAssessment } {
  return {
    cell: assess(
      'cell',
      adjust(coverage.cell[carrierId]),
      config.minSamplesCell,
      maxUnhealthyShare,
      config.minMedianRsrpDbm,
    ),
    region: assess(
      'region',
      adjust(coverage.region[carrierId]),
      config.minSamplesRegion,
      maxUnhealthyShare,
      config.minMedianRsrpDbm,
    ),
  };
}

/** The current carrier's stats without this meter, which is one of its unhealthy meters. */
function withoutThisMeter(
  stats: CarrierCoverageStats | undefined,
  signal: 'meter.degraded' | 'meter.lost',
): CarrierCoverageStats | undefined {
  if (!stats || stats.samples < 1) return stats;
  return {
    samples: stats.samples - 1,
    lost: signal === 'meter.lost' ? Math.max(0, stats.lost - 1) : stats.lost,
    degraded: signal === 'meter.degraded' ? Math.max(0, stats.degraded - 1) : stats.degraded,
    medianRsrpDbm: stats.medianRsrpDbm,
  };
}

function energyOf(entry: PolicyHistoryEntry, config: ChooseTargetConfig): number {
  const ops = entry.energyOps ?? ['enable'];
  return ops.reduce(
    (units, op) =>
      units + (op === 'download' ? config.downloadEnergyUnits : config.enableEnergyUnits),
    0,
  );
}

function exclusionOf(
  candidate: Omit<CandidateFacts, 'excluded'>,
  input: ChooseTargetInput,
  config: ChooseTargetConfig,
  automatic: boolean,
  batteryUnitsUsed: number,
): CandidateExclusion | null {
  const { carrierId } = candidate;
  if (!input.regionCarriers.includes(carrierId)) return 'not_under_contract';
  if (input.carriersInOutage.has(carrierId)) return 'carrier_in_outage';
  // No catalogue entry: no SM-DP+ to order a profile from.
  if (candidate.needsDownload && input.tariffs[carrierId] === undefined) return 'unknown_carrier';
  if (
    automatic &&
    input.history.some(
      (h) => h.fromCarrierId === carrierId && input.now - h.at < config.antiFlapWindowMs,
    )
  )
    return 'would_flap';
  if (automatic && candidate.coverage === 'poor') return 'coverage_poor';
  if (input.power.source === 'battery') {
    const pct = input.power.batteryPct;
    if (pct === null) {
      if (candidate.needsDownload) return 'battery_unknown';
    } else if (
      pct < config.minBatteryPctForEnable ||
      (candidate.needsDownload && pct < config.minBatteryPctForDownload)
    )
      return 'battery_low';
    if (batteryUnitsUsed + candidate.energyUnits > config.batteryBudgetUnitsPerYear)
      return 'battery_budget_exhausted';
  }
  return null;
}

const COVERAGE_ORDER: Record<CoverageClass, number> = { good: 0, unknown: 1, poor: 2 };

/** Best first: coverage, then cost band, then a profile already on the eUICC, then contract order. */
function rank(eligible: CandidateFacts[], config: ChooseTargetConfig): CandidateFacts[] {
  const cheapest = new Map<CoverageClass, number>();
  for (const c of eligible)
    if (c.horizonCostMinor !== null)
      cheapest.set(c.coverage, Math.min(cheapest.get(c.coverage) ?? Infinity, c.horizonCostMinor));
  const band = (c: CandidateFacts): number => {
    const floor = cheapest.get(c.coverage);
    if (c.horizonCostMinor === null || floor === undefined) return 0;
    return c.horizonCostMinor <= floor * (1 + config.costToleranceShare) + SHARE_EPSILON ? 0 : 1;
  };
  return [...eligible].sort(
    (a, b) =>
      COVERAGE_ORDER[a.coverage] - COVERAGE_ORDER[b.coverage] ||
      band(a) - band(b) ||
      // Beyond the tolerance, cheaper is better; within it, costs count as equal.
      (band(a) === 1 ? (a.horizonCostMinor ?? 0) - (b.horizonCostMinor ?? 0) : 0) ||
      Number(a.needsDownload) - Number(b.needsDownload) ||
      a.preferenceRank - b.preferenceRank ||
      (a.carrierId < b.carrierId ? -1 : a.carrierId > b.carrierId ? 1 : 0),
  );
}

/**
 * Whether and where to move a meter. Meter-level refusals first (in this order: a swap in
 * progress, no enabled profile, already on the operator's target, a silent meter outside an
 * outage, a young outage, the meter's own fault, the cooldown), then every candidate carrier is
 * assessed and either set aside with a reason or ranked. An operator's explicit target skips the
 * cooldown, anti-flapping, the meter-fault and coverage checks (a human decided), never the
 * contract, outage and battery checks.
 */
export function chooseTarget(
  input: ChooseTargetInput,
  config: ChooseTargetConfig = DEFAULT_CHOOSE_TARGET_CONFIG,
): ChooseTargetDecision {
  const { now, cause } = input;
  const current = input.profiles.find((p) => p.state === 'enabled');
  const automatic = cause.kind !== 'operator';
  const outage = cause.kind === 'operator' ? undefined : cause.outage;
  const lastChangeAt = input.history.reduce<number | null>(
    (latest, h) => (latest === null || h.at > latest ? h.at : latest),
    null,
  );
  const batteryUnitsUsedLastYear = input.history
    .filter((h) => now - h.at < YEAR_MS)
    .reduce((units, h) => units + energyOf(h, config), 0);

  const candidateIds = !current
    ? []
    : cause.kind === 'operator'
      ? [cause.targetCarrierId]
      : input.regionCarriers.filter((c, i, all) => all.indexOf(c) === i && c !== current.carrierId);
  const candidates: CandidateFacts[] = candidateIds.map((carrierId) => {
    const profile = input.profiles.find((p) => p.carrierId === carrierId && p.state === 'disabled');
    const needsDownload = profile === undefined;
    const preference = input.regionCarriers.indexOf(carrierId);
    const { cell, region } = assessScopes(
      input.coverage,
      carrierId,
      config,
      config.maxUnhealthyShare,
    );
    const tariff = input.tariffs[carrierId];
    const monthly = tariff
      ? tariff.monthlyFeeMinor + (tariff.perMbMinor * input.typicalMonthlyBytes) / 1_000_000
      : 0;
    const partial: Omit<CandidateFacts, 'excluded'> = {
      carrierId,
      preferenceRank: preference >= 0 ? preference : input.regionCarriers.length,
      iccid: profile?.iccid ?? null,
      needsDownload,
      // The meter's own cell says more than the region, when it has enough samples.
      coverage: cell.class !== 'unknown' ? cell.class : region.class,
      cell,
      region,
      horizonCostMinor: tariff
        ? config.costHorizonMonths * monthly +
          tariff.swapFeeMinor +
          (needsDownload ? tariff.downloadFeeMinor : 0)
        : null,
      energyUnits:
        input.power.source === 'battery'
          ? config.enableEnergyUnits + (needsDownload ? config.downloadEnergyUnits : 0)
          : 0,
    };
    return {
      ...partial,
      excluded: exclusionOf(partial, input, config, automatic, batteryUnitsUsedLastYear),
    };
  });
  const ranked = rank(
    candidates.filter((c) => c.excluded === null),
    config,
  );

  const signal = cause.kind === 'meter.degraded' || cause.kind === 'meter.lost' ? cause.kind : null;
  // The current carrier's other meters: this one is discounted, and "fine" is stricter than "not poor".
  const peers =
    current && signal
      ? assessScopes(
          input.coverage,
          current.carrierId,
          config,
          config.peersFineMaxUnhealthyShare,
          (stats) => withoutThisMeter(stats, signal),
        )
      : null;

  const facts: DecisionFacts = {
    policy: 'swap-policy/2',
    now,
    cause,
    currentCarrierId: current?.carrierId ?? null,
    currentIccid: current?.iccid ?? null,
    currentCarrierPeers: peers,
    outageAgeMs: outage ? now - outage.openedAt : null,
    lastChangeAt,
    power: input.power,
    batteryUnitsUsedLastYear,
    typicalMonthlyBytes: input.typicalMonthlyBytes,
    candidates,
    ranking: ranked.map((c) => c.carrierId),
    config,
  };
  const none = (reason: RefusalReason): ChooseTargetDecision => ({
    action: 'none',
    reason,
    facts,
  });

  if (input.hasActiveSwap) return none('swap_in_progress');
  if (!current) return none('no_enabled_profile');
  if (cause.kind === 'operator' && cause.targetCarrierId === current.carrierId)
    return none('already_on_target');
  if (automatic) {
    // One silent meter can't be told anything and may just be broken: its own fallback profile
    // is its way out. Silence moves meters only when its carrier is out in the region.
    if (signal === 'meter.lost' && !outage) return none('meter_unreachable');
    if (outage && now - outage.openedAt < config.outageMinDurationMs)
      return none('outage_too_young');
    // Its carrier's other meters in its cell (and region, where known) are fine: the fault is
    // the meter's own (antenna, cabinet, basement), which another carrier won't fix. With no
    // cell peers on record at all, fine region peers may say so instead (when configured).
    if (
      signal === 'meter.degraded' &&
      !outage &&
      peers &&
      ((peers.cell.class === 'good' && peers.region.class !== 'poor') ||
        (config.meterFaultFromRegionPeers &&
          peers.cell.samples === 0 &&
          peers.region.class === 'good'))
    )
      return none('meter_fault');
    if (lastChangeAt !== null && now - lastChangeAt < config.cooldownMs) return none('cooldown');
  }

  const best = ranked[0];
  if (!best) {
    if (candidates.length === 0) return none('no_target_carrier');
    const reasons = new Set(candidates.map((c) => c.excluded));
    const [only] = [...reasons];
    return none(reasons.size === 1 && only ? only : 'no_eligible_target');
  }
  const chosen = {
    action: 'swap' as const,
    fromIccid: current.iccid,
    fromCarrierId: current.carrierId,
    toCarrierId: best.carrierId,
    facts,
  };
  return best.iccid === null
    ? { ...chosen, needsDownload: true }
    : { ...chosen, needsDownload: false, toIccid: best.iccid };
}
