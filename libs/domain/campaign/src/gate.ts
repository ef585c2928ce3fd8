import { CampaignPolicyError } from './campaign-policy.error';

/**
 * One wave's swaps by outcome (the orchestrator's counts, as in GET /v1/campaigns/{id}).
 * `completed`, `rolledBack` and `failed` are outcomes: the meter executed (or refused) the swap.
 * `expired` (the meter never polled in time) and `cancelled` say nothing about the target carrier.
 */
export interface WaveCounts {
  size: number;
  completed: number;
  rolledBack: number;
  failed: number;
  expired: number;
  cancelled: number;
}

/** A wave's counts: `size` meters, nothing settled unless said. */
export function waveCounts(
  size: number,
  counts: Partial<Omit<WaveCounts, 'size'>> = {},
): WaveCounts {
  return { size, completed: 0, rolledBack: 0, failed: 0, expired: 0, cancelled: 0, ...counts };
}

export interface GateConfig {
  /** completed / outcomes must be at least this for the next wave to start (0..1). */
  successRateGate: number;
  /** (rolledBack + failed) / outcomes above this pauses the campaign at once, mid-wave too (0..1). */
  errorThreshold: number;
  /** Fewer outcomes than this (or than the wave can still produce) are too few to judge. */
  minSettled: number;
  /** Share of a wave that must be settled before it is judged; the rest may be sleepy stragglers (0..1). */
  settleQuorum: number;
  /** expired / (outcomes + expired) above this pauses: packages are not reaching meters (0..1). */
  maxExpiredShare: number;
}

/** Reasoning in the library's README. */
export const DEFAULT_GATE: GateConfig = {
  successRateGate: 0.9,
  errorThreshold: 0.2,
  minSettled: 10,
  settleQuorum: 0.9,
  maxExpiredShare: 0.5,
};

export type PauseReason = 'error_threshold' | 'success_rate_gate' | 'expired_threshold';
export type WaitReason = 'wave_in_progress' | 'too_few_settled';

export interface GateFacts {
  size: number;
  outcomes: number;
  settled: number;
  open: number;
  /** Outcomes the wave can still produce: size − cancelled − expired. */
  possibleOutcomes: number;
  /** The outcomes needed to judge: min(minSettled, possibleOutcomes). */
  needed: number;
  successRate: number | null;
  errorShare: number | null;
  expiredShare: number | null;
}

export type GateVerdict =
  | { verdict: 'continue'; facts: GateFacts }
  | { verdict: 'wait'; reason: WaitReason; facts: GateFacts }
  | { verdict: 'pause'; reason: PauseReason; facts: GateFacts };

const isShare = (n: number): boolean => Number.isFinite(n) && n >= 0 && n <= 1;

export function assertGateConfig(config: GateConfig): void {
  for (const key of [
    'successRateGate',
    'errorThreshold',
    'settleQuorum',
    'maxExpiredShare',
  ] as const)
    if (!isShare(config[key]))
      throw new CampaignPolicyError('invalid_gate_config', `${key} must be within 0..1`);
  if (!Number.isSafeInteger(config.minSettled) || config.minSettled < 1)
    throw new CampaignPolicyError('invalid_gate_config', 'minSettled must be an integer ≥ 1');
}

/** The API's optional gate fields over the defaults, validated. */
export function resolveGate(
  partial: Partial<GateConfig> = {},
  defaults: GateConfig = DEFAULT_GATE,
): GateConfig {
  const config: GateConfig = {
    successRateGate: partial.successRateGate ?? defaults.successRateGate,
    errorThreshold: partial.errorThreshold ?? defaults.errorThreshold,
    minSettled: partial.minSettled ?? defaults.minSettled,
    settleQuorum: partial.settleQuorum ?? defaults.settleQuorum,
    maxExpiredShare: partial.maxExpiredShare ?? defaults.maxExpiredShare,
  };
  assertGateConfig(config);
  return config;
}

export function gateFacts(wave: WaveCounts, config: GateConfig): GateFacts {
  const errors = wave.rolledBack + wave.failed;
  const outcomes = wave.completed + errors;
  const settled = outcomes + wave.expired + wave.cancelled;
  const possibleOutcomes = Math.max(0, wave.size - wave.cancelled - wave.expired);
  return {
    size: wave.size,
    outcomes,
    settled,
    open: Math.max(0, wave.size - settled),
    possibleOutcomes,
    needed: Math.min(config.minSettled, possibleOutcomes),
    successRate: outcomes > 0 ? wave.completed / outcomes : null,
    errorShare: outcomes > 0 ? errors / outcomes : null,
    expiredShare: outcomes + wave.expired > 0 ? wave.expired / (outcomes + wave.expired) : null,
  };
}

/** The error threshold alone: may trip at any time, before the wave has settled. */
export function tripsErrorThreshold(facts: GateFacts, config: GateConfig): boolean {
  return (
    facts.needed > 0 &&
    facts.outcomes >= facts.needed &&
    facts.errorShare !== null &&
    facts.errorShare > config.errorThreshold
  );
}

/**
 * Judges one wave. In order: the error threshold (as soon as enough outcomes are in); the wave
 * must be settled up to the quorum; too many expired pauses; too few outcomes waits; the success
 * rate must reach the gate. A wave that can produce no outcome at all (every swap cancelled or
 * expired, within the expired share allowed) continues: there is nothing to judge.
 */
export function evaluateWave(wave: WaveCounts, config: GateConfig = DEFAULT_GATE): GateVerdict {
  assertGateConfig(config);
  const facts = gateFacts(wave, config);
  if (tripsErrorThreshold(facts, config))
    return { verdict: 'pause', reason: 'error_threshold', facts };
  if (facts.settled < Math.ceil(config.settleQuorum * wave.size - 1e-9))
    return { verdict: 'wait', reason: 'wave_in_progress', facts };
  if (facts.expiredShare !== null && facts.expiredShare > config.maxExpiredShare)
    return { verdict: 'pause', reason: 'expired_threshold', facts };
  if (facts.possibleOutcomes === 0) return { verdict: 'continue', facts };
  if (facts.outcomes < facts.needed) return { verdict: 'wait', reason: 'too_few_settled', facts };
  if (facts.successRate !== null && facts.successRate < config.successRateGate)
    return { verdict: 'pause', reason: 'success_rate_gate', facts };
  return { verdict: 'continue', facts };
}
