import { silenceDeadline, type CoveragePolicy, type SignalThresholds } from './policy';

export type CoverageStatus = 'ok' | 'degraded' | 'lost';
export type MeterTransitionType = 'meter.degraded' | 'meter.lost' | 'meter.restored';

export const TRANSITION_REASONS = [
  'signal_below_threshold',
  'signal_above_exit_threshold',
  'reported_again',
  'reported_on_another_profile',
  'silent_past_deadline',
] as const;
export type TransitionReason = (typeof TRANSITION_REASONS)[number];

export interface MeterCoverageState {
  status: CoverageStatus;
  badReports: number;
  goodReports: number;
  /** `at` (epoch ms, the meter's send time) of the newest report applied... */
  lastReportAt: number;
  /** ...and its seq, which orders two reports sent within the same millisecond. */
  lastSeq: number;
  /** Epoch ms after which the meter counts as silent. */
  deadline: number;
  iccid: string;
  carrierId: string;
  region: string;
}

export interface RadioReport {
  /** The meter's send time (epoch ms). */
  at: number;
  seq: number;
  /** When the platform received it (epoch ms): silence deadlines run from here. */
  receivedAt: number;
  reportIntervalS: number;
  iccid: string;
  carrierId: string;
  region: string;
  rsrp: number | null;
  rsrq: number | null;
  sinr: number | null;
  attachFailures: number;
}

/** A change of a meter's coverage state; `carrierId` and `region` are where it happened. */
export interface MeterTransition {
  type: MeterTransitionType;
  reason: TransitionReason;
  /** The send time of the report that caused it, or the deadline that passed. */
  at: number;
  carrierId: string;
  region: string;
  iccid: string;
}

export type ReportVerdict =
  | { applied: true; state: MeterCoverageState; transition: MeterTransition | null }
  /** Older than the newest report applied: a redelivery, a replay, or a message held up. */
  | { applied: false };

export type SignalQuality = 'bad' | 'good' | 'neutral';

export function signalQuality(
  report: Pick<RadioReport, 'rsrp' | 'rsrq' | 'sinr' | 'attachFailures'>,
  t: SignalThresholds,
): SignalQuality {
  if (report.attachFailures >= t.entryAttachFailures) return 'bad';
  const measures: [number | null, number, number][] = [
    [report.rsrp, t.entryRsrpDbm, t.exitRsrpDbm],
    [report.rsrq, t.entryRsrqDb, t.exitRsrqDb],
    [report.sinr, t.entrySinrDb, t.exitSinrDb],
  ];
  const known = measures.filter((m): m is [number, number, number] => m[0] !== null);
  if (known.some(([value, entry]) => value < entry)) return 'bad';
  // A report that measured nothing says nothing about the radio.
  if (known.length > 0 && known.every(([value, , exit]) => value > exit)) return 'good';
  return 'neutral';
}

/** True when `report` is not newer than what the state already reflects. */
export function isLate(
  state: MeterCoverageState,
  report: Pick<RadioReport, 'at' | 'seq'>,
): boolean {
  return (
    report.at < state.lastReportAt ||
    (report.at === state.lastReportAt && report.seq <= state.lastSeq)
  );
}

/**
 * Applies one radio report to a meter's coverage state. Pure; the caller persists the result.
 * A report older than the newest applied changes nothing, so data held up for hours never flips
 * the state backwards, and a redelivered report is a no-op.
 */
export function applyReport(
  previous: MeterCoverageState | undefined,
  report: RadioReport,
  policy: CoveragePolicy,
): ReportVerdict {
  if (previous && isLate(previous, report)) return { applied: false };
  const t = policy.signal;
  const q = signalQuality(report, t);
  const heardAt = Math.max(report.at, report.receivedAt);
  const deadline = silenceDeadline(heardAt, report.reportIntervalS, policy.silence);
  const fresh: MeterCoverageState = {
    status: 'ok',
    badReports: q === 'bad' ? 1 : 0,
    goodReports: q === 'good' ? 1 : 0,
    lastReportAt: report.at,
    lastSeq: report.seq,
    deadline,
    iccid: report.iccid,
    carrierId: report.carrierId,
    region: report.region,
  };
  const transition = (
    type: MeterTransitionType,
    reason: TransitionReason,
    where: MeterCoverageState,
  ): MeterTransition => ({
    type,
    reason,
    at: report.at,
    carrierId: where.carrierId,
    region: where.region,
    iccid: report.iccid,
  });

  if (!previous) {
    const state = { ...fresh, status: degradedAfter(fresh, t) ? 'degraded' : 'ok' } as const;
    return {
      applied: true,
      state,
      transition:
        state.status === 'degraded'
          ? transition('meter.degraded', 'signal_below_threshold', state)
          : null,
    };
  }

  // Heard from a meter we had given up on: whatever its signal, it is reachable again.
  if (previous.status === 'lost') {
    return {
      applied: true,
      state: fresh,
      transition: transition('meter.restored', 'reported_again', previous),
    };
  }

  // Another profile (a swap, or the meter's own fallback) is a fresh start on that carrier; a
  // degradation on the old one has ended for this meter.
  if (previous.iccid !== report.iccid || previous.region !== report.region) {
    const state = { ...fresh, status: degradedAfter(fresh, t) ? 'degraded' : 'ok' } as const;
    if (previous.status === 'degraded')
      return {
        applied: true,
        state,
        transition: transition('meter.restored', 'reported_on_another_profile', previous),
      };
    return {
      applied: true,
      state,
      transition:
        state.status === 'degraded'
          ? transition('meter.degraded', 'signal_below_threshold', state)
          : null,
    };
  }

  const next: MeterCoverageState = {
    ...previous,
    badReports: q === 'bad' ? previous.badReports + 1 : 0,
    // A neutral report neither counts towards nor breaks a run of good ones.
    goodReports:
      q === 'good' ? previous.goodReports + 1 : q === 'neutral' ? previous.goodReports : 0,
    lastReportAt: report.at,
    lastSeq: report.seq,
    deadline,
    carrierId: report.carrierId,
  };
  switch (previous.status) {
    case 'ok':
      if (degradedAfter(next, t)) {
        const state = { ...next, status: 'degraded' } as const;
        return {
          applied: true,
          state,
          transition: transition('meter.degraded', 'signal_below_threshold', state),
        };
      }
      return { applied: true, state: next, transition: null };
    case 'degraded':
      if (next.goodReports >= t.exitReports) {
        const state = { ...next, status: 'ok' } as const;
        return {
          applied: true,
          state,
          transition: transition('meter.restored', 'signal_above_exit_threshold', state),
        };
      }
      return { applied: true, state: next, transition: null };
  }
}

function degradedAfter(state: MeterCoverageState, t: SignalThresholds): boolean {
  return state.badReports >= t.entryReports;
}

/**
 * The meter's deadline passed with no report: it is lost. Null when it is not due yet or was
 * already declared lost, so that claiming twice never yields a second transition.
 */
export function applySilence(
  state: MeterCoverageState,
  now: number,
): { state: MeterCoverageState; transition: MeterTransition } | null {
  if (state.status === 'lost' || state.deadline > now) return null;
  return {
    state: { ...state, status: 'lost', badReports: 0, goodReports: 0 },
    transition: {
      type: 'meter.lost',
      reason: 'silent_past_deadline',
      at: state.deadline,
      carrierId: state.carrierId,
      region: state.region,
      iccid: state.iccid,
    },
  };
}

/** Lost and degraded meters are the "unhealthy" share that carrier outages are judged on. */
export const isUnhealthy = (status: CoverageStatus): boolean => status !== 'ok';
