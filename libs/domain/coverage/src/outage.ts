/**
 * Carrier × region correlation: tells a carrier outage in a region (many of its meters there
 * turn unhealthy together) from meters failing one by one, which is the normal background.
 */
export interface OutagePolicy {
  /** How far back a rise counts: an outage is a rise within this window, not a slow drift. */
  windowMs: number;
  /** How fast "normal" (the baseline share) follows the population: EWMA half-life. */
  baselineHalfLifeMs: number;
  /** Below this many meters a share is noise: no outage is declared. */
  minPopulation: number;
  /** Meters that must have turned unhealthy within the window. */
  minAffected: number;
  /** The unhealthy share must be at least this far above the baseline (0..1)... */
  entryExcess: number;
  /** ...and at least this much of it must have come within the window (0..1). */
  entryRise: number;
  /** Healed when the share is back within this of the baseline... */
  exitExcess: number;
  /** ...and has stayed there this long. */
  recoveryHoldMs: number;
}

/**
 * - 15 min window: a carrier's regional outage (core network, a region's RAN controller, a
 *   backhaul cut) silences its 15-min meters within one interval plus grace; anything slower is
 *   churn or drift, which the baseline absorbs.
 * - 6 h baseline half-life: normal follows a day's pattern (evening interference, maintenance
 *   nights) but not an outage's first hours; it is frozen while an outage is open.
 * - 20 meters, 10 affected: a single cell site or a building's basement takes out a handful of
 *   meters at once; that is a local problem each meter's own fallback can handle, not a carrier's.
 * - +20 points over normal, of which 10 within the window: a population that normally has 3 %
 *   unhealthy needs 23 %, reached mostly in the last 15 min. Healed at +5 points for 5 min.
 */
export const DEFAULT_OUTAGE_POLICY: OutagePolicy = {
  windowMs: 15 * 60_000,
  baselineHalfLifeMs: 6 * 3_600_000,
  minPopulation: 20,
  minAffected: 10,
  entryExcess: 0.2,
  entryRise: 0.1,
  exitExcess: 0.05,
  recoveryHoldMs: 5 * 60_000,
};

/**
 * A configured outage policy for one region and/or one carrier (all when absent). Regions differ:
 * a dense city with a few dominant sites loses many meters at once without a carrier fault,
 * while a rural region has so few meters per carrier that the default minimum population never
 * fills. More specific overrides win: carrier and region, then region, then carrier.
 */
export interface OutageOverride {
  region?: string | undefined;
  carrierId?: string | undefined;
  policy: Partial<OutagePolicy>;
}

function outageSpecificity(o: OutageOverride): number {
  return (o.region !== undefined ? 2 : 0) + (o.carrierId !== undefined ? 1 : 0);
}

/** The outage policy of one carrier in one region: the base, then the matching overrides. */
export function resolveOutagePolicy(
  carrierId: string,
  region: string,
  base: OutagePolicy,
  overrides: readonly OutageOverride[] = [],
): OutagePolicy {
  const matching = overrides
    .filter(
      (o) =>
        (o.region === undefined || o.region === region) &&
        (o.carrierId === undefined || o.carrierId === carrierId),
    )
    .sort((a, b) => outageSpecificity(a) - outageSpecificity(b));
  let policy = { ...base };
  for (const o of matching)
    policy = {
      ...policy,
      ...Object.fromEntries(Object.entries(o.policy).filter(([, v]) => v !== undefined)),
    };
  return policy;
}

/**
 * What is wrong with an outage policy (empty when usable): an outage that opened must be able to
 * heal. (One that can never open, e.g. more affected meters than any population, is a legitimate
 * way to switch correlation off for a region or carrier.)
 */
export function outagePolicyProblems(policy: OutagePolicy): string[] {
  if (policy.exitExcess < policy.entryExcess) return [];
  return [`exitExcess (${policy.exitExcess}) must be below entryExcess (${policy.entryExcess})`];
}

/** Samples kept per window: the resolution of "within the window". */
export const SAMPLES_PER_WINDOW = 15;

/** One observation of a carrier's meters in a region. */
export interface GroupSample {
  at: number;
  population: number;
  unhealthy: number;
}

export interface OpenOutage {
  outageId: string;
  openedAt: number;
  /** Since when the share has been back to normal; null while it is not. */
  healthySince: number | null;
  /** The baseline when it opened (frozen for the outage's duration). */
  baseline: number;
}

export interface CarrierRegionState {
  /** Normal unhealthy share (EWMA); null until the group had meters. */
  baseline: number | null;
  baselineAt: number;
  /** [at, population, unhealthy], oldest first, covering the window. */
  samples: [number, number, number][];
  outage: OpenOutage | null;
}

export interface CarrierEvent {
  type: 'carrier.outage' | 'carrier.recovered';
  outageId: string;
  at: number;
  population: number;
  unhealthy: number;
  share: number;
  baseline: number;
  /** When the outage opened (for `carrier.recovered`, when it began). */
  openedAt: number;
}

export interface OutageDecision {
  state: CarrierRegionState;
  event: CarrierEvent | null;
}

export const emptyCarrierRegionState = (): CarrierRegionState => ({
  baseline: null,
  baselineAt: 0,
  samples: [],
  outage: null,
});

const shareOf = (population: number, unhealthy: number): number =>
  population > 0 ? unhealthy / population : 0;

/**
 * One evaluation of a carrier's meters in a region. Pure: `outageIdFor` names an outage that
 * opens now (the caller makes it deterministic so that a replayed evaluation names it the same).
 */
export function evaluateCarrierRegion(
  previous: CarrierRegionState,
  sample: GroupSample,
  policy: OutagePolicy,
  outageIdFor: (openedAt: number) => string,
): OutageDecision {
  const now = sample.at;
  const share = shareOf(sample.population, sample.unhealthy);
  const samples = keepWindow(previous.samples, sample, policy);
  const state: CarrierRegionState = { ...previous, samples };

  if (previous.outage) {
    const outage = previous.outage;
    // Nobody left on the carrier here (they were all moved away): no evidence either way.
    if (sample.population === 0) {
      return { state: { ...state, outage: { ...outage, healthySince: null } }, event: null };
    }
    if (share - outage.baseline > policy.exitExcess) {
      return { state: { ...state, outage: { ...outage, healthySince: null } }, event: null };
    }
    const healthySince = outage.healthySince ?? now;
    if (now - healthySince < policy.recoveryHoldMs) {
      return { state: { ...state, outage: { ...outage, healthySince } }, event: null };
    }
    return {
      state: { ...state, outage: null, baseline: outage.baseline, baselineAt: now },
      event: {
        type: 'carrier.recovered',
        outageId: outage.outageId,
        at: now,
        population: sample.population,
        unhealthy: sample.unhealthy,
        share,
        baseline: outage.baseline,
        openedAt: outage.openedAt,
      },
    };
  }

  const baseline = previous.baseline;
  const updated: CarrierRegionState = {
    ...state,
    baseline: nextBaseline(previous, sample, share, policy),
    baselineAt: now,
  };
  if (baseline === null || sample.population < policy.minPopulation) {
    return { state: updated, event: null };
  }
  // The lowest point within the window (samples plus now) is where a sudden rise started from.
  const inWindow = samples.filter(([at]) => at >= now - policy.windowMs);
  const minUnhealthy = Math.min(sample.unhealthy, ...inWindow.map(([, , u]) => u));
  const minShare = Math.min(share, ...inWindow.map(([, p, u]) => shareOf(p, u)));
  const opens =
    sample.unhealthy - minUnhealthy >= policy.minAffected &&
    share - baseline >= policy.entryExcess &&
    share - minShare >= policy.entryRise;
  if (!opens) return { state: updated, event: null };
  const outageId = outageIdFor(now);
  // Normal is what it was before this sample: the outage's own first sample is not normal.
  return {
    state: {
      ...state,
      baseline,
      baselineAt: now,
      outage: { outageId, openedAt: now, healthySince: null, baseline },
    },
    event: {
      type: 'carrier.outage',
      outageId,
      at: now,
      population: sample.population,
      unhealthy: sample.unhealthy,
      share,
      baseline,
      openedAt: now,
    },
  };
}

/** Exponentially weighted over time, so irregular evaluation intervals weigh what they cover. */
function nextBaseline(
  previous: CarrierRegionState,
  sample: GroupSample,
  share: number,
  policy: OutagePolicy,
): number | null {
  if (sample.population === 0) return previous.baseline;
  if (previous.baseline === null) return share;
  const elapsed = Math.max(0, sample.at - previous.baselineAt);
  const weight = 1 - Math.pow(2, -elapsed / policy.baselineHalfLifeMs);
  return previous.baseline + (share - previous.baseline) * weight;
}

/** Appends the sample when a step has passed since the last one and drops what left the window. */
function keepWindow(
  samples: [number, number, number][],
  sample: GroupSample,
  policy: OutagePolicy,
): [number, number, number][] {
  const step = policy.windowMs / SAMPLES_PER_WINDOW;
  const last = samples.at(-1);
  const appended: [number, number, number][] =
    !last || sample.at - last[0] >= step
      ? [...samples, [sample.at, sample.population, sample.unhealthy]]
      : samples;
  return appended.filter(([at]) => at >= sample.at - policy.windowMs);
}

/** Whether a state changed enough to be worth storing (samples, outage, or an event). */
export function carrierStateChanged(a: CarrierRegionState, b: CarrierRegionState): boolean {
  return (
    a.samples.length !== b.samples.length ||
    a.samples.at(-1)?.[0] !== b.samples.at(-1)?.[0] ||
    a.outage?.outageId !== b.outage?.outageId ||
    a.outage?.healthySince !== b.outage?.healthySince ||
    (a.baseline === null) !== (b.baseline === null)
  );
}
