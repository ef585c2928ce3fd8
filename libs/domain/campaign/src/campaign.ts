import { CampaignPolicyError } from './campaign-policy.error';
import {
  DEFAULT_GATE,
  assertGateConfig,
  evaluateWave,
  gateFacts,
  tripsErrorThreshold,
  type GateConfig,
  type GateFacts,
  type PauseReason,
  type WaitReason,
  type WaveCounts,
} from './gate';
import { DEFAULT_WAVE_PLAN, assertWaveConfig, waveSizeAt, type WavePlanConfig } from './waves';

export type CampaignState = 'pending-approval' | 'running' | 'paused' | 'completed' | 'stopped';

/** What the orchestrator knows of a campaign when it asks what to do next. */
export interface CampaignSnapshot {
  state: CampaignState;
  meterCount: number;
  /** Waves started so far, in order (index = position). */
  waves: readonly WaveCounts[];
  /**
   * An operator resumed the campaign after a pause: the verdicts on waves up to this index are
   * accepted as they are (no new pause for them). null when never resumed.
   */
  acknowledgedThroughWave: number | null;
}

export interface CampaignPolicyConfig {
  waves: WavePlanConfig;
  gate: GateConfig;
}

export const DEFAULT_CAMPAIGN_POLICY: CampaignPolicyConfig = {
  waves: DEFAULT_WAVE_PLAN,
  gate: DEFAULT_GATE,
};

export type CampaignStep =
  | { action: 'start-wave'; index: number; size: number }
  | {
      action: 'wait';
      reason: WaitReason | 'waves_in_progress';
      waveIndex: number;
      facts?: GateFacts;
    }
  | { action: 'pause'; reason: PauseReason; waveIndex: number; facts: GateFacts }
  | { action: 'complete' }
  /** The campaign is not running: nothing is planned, whatever its waves say. */
  | { action: 'none'; reason: 'not_running'; state: CampaignState };

const sum = (waves: readonly WaveCounts[]): number => waves.reduce((n, w) => n + w.size, 0);

/**
 * The next thing to do for a campaign, from its counts: start a wave, wait, pause (with the
 * reason), or complete. Only a running campaign ever plans a wave.
 */
export function nextStep(
  campaign: CampaignSnapshot,
  config: CampaignPolicyConfig = DEFAULT_CAMPAIGN_POLICY,
): CampaignStep {
  assertWaveConfig(config.waves);
  assertGateConfig(config.gate);
  if (!Number.isSafeInteger(campaign.meterCount) || campaign.meterCount < 0)
    throw new CampaignPolicyError('invalid_meter_count', 'meterCount must be an integer ≥ 0');
  if (campaign.state !== 'running')
    return { action: 'none', reason: 'not_running', state: campaign.state };
  const acknowledged = (index: number): boolean =>
    campaign.acknowledgedThroughWave !== null && index <= campaign.acknowledgedThroughWave;

  // Late outcomes of earlier waves (sleepy stragglers) still count against the error threshold.
  for (const [index, wave] of campaign.waves.entries()) {
    if (acknowledged(index)) continue;
    const facts = gateFacts(wave, config.gate);
    if (tripsErrorThreshold(facts, config.gate))
      return { action: 'pause', reason: 'error_threshold', waveIndex: index, facts };
  }

  const lastIndex = campaign.waves.length - 1;
  const last = campaign.waves[lastIndex];
  const assigned = sum(campaign.waves);
  // The latest wave's gate, unless an operator accepted its verdict.
  const verdict = last && !acknowledged(lastIndex) ? evaluateWave(last, config.gate) : undefined;
  if (assigned >= campaign.meterCount) {
    const openIndex = campaign.waves.findIndex((w) => gateFacts(w, config.gate).open > 0);
    if (openIndex >= 0)
      return { action: 'wait', reason: 'waves_in_progress', waveIndex: openIndex };
    // Every wave settled: only the last wave's pause stands between the campaign and completion.
    if (verdict?.verdict !== 'pause') return { action: 'complete' };
  }
  if (verdict && verdict.verdict !== 'continue') {
    const held = { waveIndex: lastIndex, facts: verdict.facts };
    return verdict.verdict === 'pause'
      ? { action: 'pause', reason: verdict.reason, ...held }
      : { action: 'wait', reason: verdict.reason, ...held };
  }
  const index = campaign.waves.length;
  return {
    action: 'start-wave',
    index,
    size: waveSizeAt(index, campaign.meterCount - assigned, config.waves),
  };
}

// ---- approval and operator commands

/** Large campaigns need an approver: more than `threshold` meters (CAMPAIGN_APPROVAL_THRESHOLD). */
export function requiresApproval(meterCount: number, threshold: number): boolean {
  return meterCount > threshold;
}

export function initialState(
  meterCount: number,
  threshold: number,
): Extract<CampaignState, 'pending-approval' | 'running'> {
  return requiresApproval(meterCount, threshold) ? 'pending-approval' : 'running';
}

/** Why a campaign is paused: a gate's verdict (with the wave it judged) or an operator. */
export type PausedReason = PauseReason | 'operator';

export interface CampaignCommandTarget {
  state: CampaignState;
  createdBy: string;
  pausedReason: PausedReason | null;
  /** The wave whose verdict paused the campaign (`nextStep`'s `waveIndex`); null for an operator pause. */
  pausedWaveIndex: number | null;
  acknowledgedThroughWave: number | null;
}

export type CampaignCommand =
  | { kind: 'approve'; actor: string }
  | { kind: 'pause'; actor: string }
  | { kind: 'resume'; actor: string }
  | { kind: 'stop'; actor: string };

export type CommandRefusal = 'invalid_transition' | 'approver_is_creator';

export type CommandOutcome =
  | {
      ok: true;
      state: CampaignState;
      /** Set by approve. */
      approvedBy?: string;
      /** Set by pause. */
      pausedReason?: 'operator';
      /**
       * Set by resume: store it as the snapshot's `acknowledgedThroughWave`. Resuming after a
       * gate's pause accepts that wave's verdict (and those before it); resuming after an
       * operator's pause accepts nothing new, so the gates still judge the waves in flight.
       */
      acknowledgedThroughWave?: number | null;
    }
  | { ok: false; code: CommandRefusal; state: CampaignState };

/**
 * The operator's commands on a campaign. Roles (admin for approve) are the API guard's business;
 * this says which transitions exist and that nobody approves their own campaign.
 * Emergency stop works from every state but the final ones.
 */
export function applyCommand(
  campaign: CampaignCommandTarget,
  command: CampaignCommand,
): CommandOutcome {
  const refuse = (code: CommandRefusal): CommandOutcome => ({
    ok: false,
    code,
    state: campaign.state,
  });
  switch (command.kind) {
    case 'approve':
      if (campaign.state !== 'pending-approval') return refuse('invalid_transition');
      if (command.actor === campaign.createdBy) return refuse('approver_is_creator');
      return { ok: true, state: 'running', approvedBy: command.actor };
    case 'pause':
      if (campaign.state !== 'running') return refuse('invalid_transition');
      return { ok: true, state: 'paused', pausedReason: 'operator' };
    case 'resume':
      if (campaign.state !== 'paused') return refuse('invalid_transition');
      return {
        ok: true,
        state: 'running',
        acknowledgedThroughWave:
          campaign.pausedReason !== 'operator' && campaign.pausedWaveIndex !== null
            ? Math.max(campaign.acknowledgedThroughWave ?? -1, campaign.pausedWaveIndex)
            : campaign.acknowledgedThroughWave,
      };
    case 'stop':
      if (campaign.state === 'completed' || campaign.state === 'stopped')
        return refuse('invalid_transition');
      return { ok: true, state: 'stopped' };
  }
}

// ---- emergency stop

/** A campaign swap's progress, as far as stopping it is concerned. */
export interface CampaignSwapProgress {
  swapId: string;
  /** In a final state already (completed, rolled-back, failed, expired, cancelled). */
  settled: boolean;
  /** The enable package reached the meter: it may be executing it, nothing can call it back. */
  enableDelivered: boolean;
  /** A download order is open at the carrier's SM-DP+ (ordered, not yet used or cancelled). */
  downloadOrderOpen: boolean;
}

export interface EmergencyStopPlan {
  /** Swaps to cancel now; `cancelDownloadOrder`: also ES2+ cancelOrder at the SM-DP+. */
  cancel: { swapId: string; cancelDownloadOrder: boolean }[];
  /** Swaps the meter already holds: left to finish (complete or roll back) and tracked. */
  leave: string[];
}

/**
 * Emergency stop: no new packages; every swap whose enable has not reached its meter is
 * cancelled (with its open download order); those in the meter's hands are left to finish,
 * since sending a contradicting package would be worse than letting the rollback window work.
 */
export function emergencyStopPlan(swaps: readonly CampaignSwapProgress[]): EmergencyStopPlan {
  const plan: EmergencyStopPlan = { cancel: [], leave: [] };
  for (const swap of swaps) {
    if (swap.settled) continue;
    if (swap.enableDelivered) plan.leave.push(swap.swapId);
    else plan.cancel.push({ swapId: swap.swapId, cancelDownloadOrder: swap.downloadOrderOpen });
  }
  return plan;
}
