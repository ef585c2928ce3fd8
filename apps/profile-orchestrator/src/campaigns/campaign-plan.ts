/**
 * Wave planning and gates of a campaign, pure. The orchestrator's seam to
 * `@meterlink/campaign-policy` (branch h/policy): the driver calls only these two functions.
 */
export interface WavePlan {
  canarySize: number;
  growthFactor: number;
  maxWaveSize: number;
}

export interface Gates {
  /** Share of a finished wave's attempted swaps that must complete (0..1). */
  successRateGate: number;
  /** Share of a wave's attempted swaps that may fail, roll back or expire before the campaign pauses (0..1). */
  errorThreshold: number;
}

export interface WaveCounts {
  size: number;
  completed: number;
  rolledBack: number;
  failed: number;
  expired: number;
  cancelled: number;
  skipped: number;
  inFlight: number;
  /** Members of the wave whose swap has not been started yet. */
  pending: number;
}

/** Size of wave `index` (0 is the canary): canary × growth^index, capped, never more than remain. */
export function waveSize(index: number, plan: WavePlan, remaining: number): number {
  const grown = Math.floor(plan.canarySize * plan.growthFactor ** index);
  return Math.max(1, Math.min(remaining, plan.maxWaveSize, Math.max(plan.canarySize, grown)));
}

export type WaveVerdict =
  | { action: 'continue' }
  | { action: 'wait' }
  | { action: 'pause'; reason: 'error_threshold_exceeded' | 'success_rate_below_gate' };

/**
 * Errors pause as soon as they exceed the threshold (a dead target carrier stops the bleeding
 * mid-wave); the success-rate gate is judged once the wave has nothing pending or in flight.
 */
export function evaluateWave(counts: WaveCounts, gates: Gates): WaveVerdict {
  const attempted = counts.size - counts.skipped - counts.cancelled;
  if (attempted <= 0)
    return counts.pending + counts.inFlight > 0 ? { action: 'wait' } : { action: 'continue' };
  const errors = counts.failed + counts.rolledBack + counts.expired;
  if (errors / attempted > gates.errorThreshold)
    return { action: 'pause', reason: 'error_threshold_exceeded' };
  if (counts.pending + counts.inFlight > 0) return { action: 'wait' };
  if (counts.completed / attempted < gates.successRateGate)
    return { action: 'pause', reason: 'success_rate_below_gate' };
  return { action: 'continue' };
}
