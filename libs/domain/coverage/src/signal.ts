export type CoverageStatus = 'ok' | 'degraded' | 'lost';

export interface SignalThresholds {
  /** A report is "bad" under this RSRP (dBm)... */
  entryRsrpDbm: number;
  /** ...and "good" only above this one: the gap between the two is the hysteresis. */
  exitRsrpDbm: number;
  /** Attach failures in one report that make it bad whatever the RSRP says. */
  entryAttachFailures: number;
  /** Consecutive bad reports before `meter.degraded`. */
  entryReports: number;
  /** Consecutive good reports before `meter.restored` from degraded. */
  exitReports: number;
}

/**
 * Defaults: -115 dBm is where NB-IoT/LTE-M links start needing heavy repetition (3GPP coverage
 * enhancement levels 1-2), -105 dBm is comfortably attached; three consecutive reports keep a
 * single bad sample (a door closed on the meter cabinet) from counting as degradation.
 */
export const DEFAULT_SIGNAL_THRESHOLDS: SignalThresholds = {
  entryRsrpDbm: -115,
  exitRsrpDbm: -105,
  entryAttachFailures: 3,
  entryReports: 3,
  exitReports: 2,
};

export interface MeterCoverageState {
  status: CoverageStatus;
  badReports: number;
  goodReports: number;
  /** `at` (epoch ms) of the newest report applied; older reports never change the state. */
  lastReportAt: number;
  iccid: string;
  carrierId: string;
}

export interface RadioReport {
  at: number;
  iccid: string;
  carrierId: string;
  rsrp: number | null;
  attachFailures: number;
}

export type Transition = 'meter.degraded' | 'meter.restored' | null;
export type Verdict = { state: MeterCoverageState; transition: Transition; reason?: string } | { state: null; transition: null; reason: 'late' };

function quality(report: RadioReport, t: SignalThresholds): 'bad' | 'good' | 'neutral' {
  if (report.attachFailures >= t.entryAttachFailures) return 'bad';
  if (report.rsrp === null) return 'neutral';
  if (report.rsrp < t.entryRsrpDbm) return 'bad';
  if (report.rsrp > t.exitRsrpDbm) return 'good';
  return 'neutral';
}

/** Applies one radio report to a meter's coverage state. Pure; the caller persists the result. */
export function applyReport(previous: MeterCoverageState | undefined, report: RadioReport, t: SignalThresholds = DEFAULT_SIGNAL_THRESHOLDS): Verdict {
  if (previous && report.at <= previous.lastReportAt) return { state: null, transition: null, reason: 'late' };
  const q = quality(report, t);
  const base: MeterCoverageState = previous
    ? { ...previous, lastReportAt: report.at }
    : { status: 'ok', badReports: 0, goodReports: 0, lastReportAt: report.at, iccid: report.iccid, carrierId: report.carrierId };
  // A report on another profile is a fresh start on that carrier.
  if (previous && previous.iccid !== report.iccid) {
    base.iccid = report.iccid;
    base.carrierId = report.carrierId;
    base.badReports = 0;
    base.goodReports = 0;
  }
  base.badReports = q === 'bad' ? base.badReports + 1 : 0;
  base.goodReports = q === 'good' ? base.goodReports + 1 : q === 'neutral' ? base.goodReports : 0;

  switch (base.status) {
    case 'lost':
      // Heard from again: restored, unless the signal is still bad, which makes it degraded.
      if (q === 'bad' && base.badReports >= t.entryReports) return { state: { ...base, status: 'degraded' }, transition: 'meter.restored', reason: 'reported_again' };
      return { state: { ...base, status: 'ok' }, transition: 'meter.restored', reason: 'reported_again' };
    case 'degraded':
      if (base.goodReports >= t.exitReports) return { state: { ...base, status: 'ok' }, transition: 'meter.restored', reason: 'signal_above_exit_threshold' };
      return { state: base, transition: null };
    case 'ok':
      if (base.badReports >= t.entryReports) return { state: { ...base, status: 'degraded' }, transition: 'meter.degraded', reason: 'signal_below_threshold' };
      return { state: base, transition: null };
  }
}

export interface SilencePolicy {
  /** Extra time on top of the report interval before a meter counts as silent. */
  graceFactor: number;
  minGraceMs: number;
}
/** One missed report plus a grace of half an interval (at least 2 s for clock skew and queues). */
export const DEFAULT_SILENCE_POLICY: SilencePolicy = { graceFactor: 1.5, minGraceMs: 2_000 };

/** When a meter that reported at `lastReportAt` is overdue. Battery meters have long intervals, so they are not "silent" early. */
export function silenceDeadline(lastReportAt: number, reportIntervalS: number, policy: SilencePolicy = DEFAULT_SILENCE_POLICY): number {
  const intervalMs = reportIntervalS * 1000;
  return lastReportAt + intervalMs + Math.max(policy.minGraceMs, Math.round(intervalMs * (policy.graceFactor - 1)));
}
