export type MeterKind = 'electricity' | 'gas' | 'water';

/**
 * When one radio report counts as bad or good. A report is bad when any known measure is under its
 * entry threshold (or attach failures reach theirs), good only when every known measure is above
 * its exit threshold, and neutral in between: the gap between entry and exit is the hysteresis.
 */
export interface SignalThresholds {
  entryRsrpDbm: number;
  exitRsrpDbm: number;
  entryRsrqDb: number;
  exitRsrqDb: number;
  entrySinrDb: number;
  exitSinrDb: number;
  /** Attach failures in one report that make it bad whatever the radio measures say. */
  entryAttachFailures: number;
  /** Consecutive bad reports before `meter.degraded`. */
  entryReports: number;
  /** Consecutive good reports before `meter.restored` from degraded. */
  exitReports: number;
}

export interface SilencePolicy {
  /** The deadline is `heard + interval × graceFactor`, at least `heard + interval + minGraceMs`. */
  graceFactor: number;
  minGraceMs: number;
}

export interface CoveragePolicy {
  signal: SignalThresholds;
  silence: SilencePolicy;
}

/**
 * Mains-powered electricity meters: LTE-M or NB-IoT in a meter cabinet, a report every 15 min.
 * - RSRP -115 dBm is where LTE-M/NB-IoT links enter coverage-enhancement levels 1-2 (many
 *   repetitions, latency and energy per byte up an order of magnitude); -105 dBm is comfortably
 *   attached. The 10 dB gap is about one fading margin, so a meter at the edge does not flap.
 * - RSRQ -15 dB and SINR -3 dB are the usual "poor" bands for a loaded or interfered cell; good
 *   again above -12 dB and 0 dB.
 * - Three consecutive bad reports (45 min) keep one bad sample (a cabinet door closed, a truck
 *   parked in front) from counting; two good ones end a degradation.
 * - Silence: one missed report plus half an interval (22.5 min at 15 min), at least 2 s for
 *   clock skew and queues when intervals are tiny (tests, simulations).
 */
const ELECTRICITY: CoveragePolicy = {
  signal: {
    entryRsrpDbm: -115,
    exitRsrpDbm: -105,
    entryRsrqDb: -15,
    exitRsrqDb: -12,
    entrySinrDb: -3,
    exitSinrDb: 0,
    entryAttachFailures: 3,
    entryReports: 3,
    exitReports: 2,
  },
  silence: { graceFactor: 1.5, minGraceMs: 2_000 },
};

/**
 * Battery gas and water meters: NB-IoT from basements and pits, a report every 6 to 24 h.
 * - They live at -115 to -120 dBm as a matter of course (deep coverage enhancement is what NB-IoT
 *   is for), so calling that degraded would flag half the fleet. Below -125 dBm the link nears the
 *   164 dB coupling-loss limit and every report costs the battery many repetitions: degraded.
 *   Good again above -117 dBm (8 dB of hysteresis; reports are too rare to need more).
 * - RSRQ and SINR: NB-IoT decodes far lower than LTE-M, so -17/-14 dB and -6/-2 dB.
 * - Two bad reports, not three: at a daily interval three would take three days to notice.
 *   One good report restores: a daily meter that got through well is fine, and waiting a second
 *   day would hold a working meter in "degraded" for nothing.
 * - Silence: one missed report plus half an interval (36 h for a daily meter), so a daily meter
 *   is never "silent" after an hour.
 */
const BATTERY: CoveragePolicy = {
  signal: {
    entryRsrpDbm: -125,
    exitRsrpDbm: -117,
    entryRsrqDb: -17,
    exitRsrqDb: -14,
    entrySinrDb: -6,
    exitSinrDb: -2,
    entryAttachFailures: 3,
    entryReports: 2,
    exitReports: 1,
  },
  silence: { graceFactor: 1.5, minGraceMs: 2_000 },
};

export const DEFAULT_COVERAGE_POLICIES: Readonly<Record<MeterKind, CoveragePolicy>> = {
  electricity: ELECTRICITY,
  gas: BATTERY,
  water: BATTERY,
};

/**
 * A configured override: applies to the meters of `kind` (all kinds when absent) in `region`
 * (all regions when absent). More specific overrides win: kind and region, then region, then kind.
 */
export interface PolicyOverride {
  kind?: MeterKind | undefined;
  region?: string | undefined;
  signal?: Partial<SignalThresholds> | undefined;
  silence?: Partial<SilencePolicy> | undefined;
}

function specificity(o: PolicyOverride): number {
  return (o.region !== undefined ? 2 : 0) + (o.kind !== undefined ? 1 : 0);
}

/** The policy for meters of one kind in one region: the kind's defaults, then the overrides. */
export function resolvePolicy(
  kind: MeterKind,
  region: string,
  overrides: readonly PolicyOverride[] = [],
): CoveragePolicy {
  const base = DEFAULT_COVERAGE_POLICIES[kind];
  const matching = overrides
    .filter(
      (o) =>
        (o.kind === undefined || o.kind === kind) &&
        (o.region === undefined || o.region === region),
    )
    .sort((a, b) => specificity(a) - specificity(b));
  let signal = { ...base.signal };
  let silence = { ...base.silence };
  for (const o of matching) {
    signal = { ...signal, ...definedOnly(o.signal) };
    silence = { ...silence, ...definedOnly(o.silence) };
  }
  return { signal, silence };
}

function definedOnly<T extends object>(value: Partial<T> | undefined): Partial<T> {
  if (!value) return {};
  return Object.fromEntries(
    Object.entries(value).filter(([, v]) => v !== undefined),
  ) as Partial<T>;
}

/** What is wrong with a policy (empty when it is usable): each exit must be above its entry. */
export function policyProblems(policy: CoveragePolicy): string[] {
  const s = policy.signal;
  const problems: string[] = [];
  const pairs: [string, number, number][] = [
    ['RSRP', s.entryRsrpDbm, s.exitRsrpDbm],
    ['RSRQ', s.entryRsrqDb, s.exitRsrqDb],
    ['SINR', s.entrySinrDb, s.exitSinrDb],
  ];
  for (const [name, entry, exit] of pairs)
    if (!(exit > entry)) problems.push(`${name} exit (${exit}) must be above entry (${entry})`);
  if (!(s.entryAttachFailures >= 1)) problems.push('entryAttachFailures must be at least 1');
  if (!(s.entryReports >= 1 && Number.isInteger(s.entryReports)))
    problems.push('entryReports must be a whole number of at least 1');
  if (!(s.exitReports >= 1 && Number.isInteger(s.exitReports)))
    problems.push('exitReports must be a whole number of at least 1');
  if (!(policy.silence.graceFactor >= 1)) problems.push('graceFactor must be at least 1');
  if (!(policy.silence.minGraceMs >= 0)) problems.push('minGraceMs must not be negative');
  return problems;
}

/**
 * When a meter heard at `heardAt` is overdue. It runs from when the platform heard the meter,
 * not from the meter's own clock, so a report sent late can't make the meter overdue at once.
 */
export function silenceDeadline(
  heardAt: number,
  reportIntervalS: number,
  policy: SilencePolicy,
): number {
  const intervalMs = reportIntervalS * 1000;
  return (
    heardAt +
    intervalMs +
    Math.max(policy.minGraceMs, Math.round(intervalMs * (policy.graceFactor - 1)))
  );
}
