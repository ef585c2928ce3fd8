import {
  decideSwap,
  type InventoryProfile,
  type SwapPolicyConfig,
  type SwapPolicyInput,
} from '@meterlink/swap-policy';

/**
 * The orchestrator's one seam to the target-choice policy: today decideSwap (profiles already on
 * the eUICC) extended with downloads; to be replaced by `chooseTarget` of @meterlink/swap-policy
 * (branch h/policy) without touching the saga.
 */
export type TargetDecision =
  | {
      action: 'swap';
      fromIccid: string;
      fromCarrierId: string;
      toCarrierId: string;
      /** Absent when the target profile must first be downloaded from the carrier's SM-DP+. */
      toIccid?: string;
      needsDownload: boolean;
    }
  | { action: 'none'; reason: string };

export function chooseSwapTarget(input: SwapPolicyInput, config: SwapPolicyConfig): TargetDecision {
  const decision = decideSwap(input, config);
  if (decision.action === 'swap') return { ...decision, needsDownload: false };
  if (decision.reason !== 'no_target_carrier') return decision;
  // No carrier under contract has a profile on the eUICC: download the most preferred one that is
  // not in outage and would not flap back.
  const current = input.profiles.find((p) => p.state === 'enabled')!;
  const flapsBack = (carrierId: string): boolean =>
    input.history.some(
      (h) =>
        h.toCarrierId === current.carrierId &&
        h.fromCarrierId === carrierId &&
        input.now - h.at < config.antiFlapWindowMs,
    );
  const target = input.regionCarriers.find(
    (c) =>
      c !== current.carrierId &&
      !input.carriersInOutage.has(c) &&
      !input.profiles.some((p) => p.carrierId === c) &&
      !flapsBack(c),
  );
  if (!target) return decision;
  return {
    action: 'swap',
    fromIccid: current.iccid,
    fromCarrierId: current.carrierId,
    toCarrierId: target,
    needsDownload: true,
  };
}

/** How to move a meter to a given carrier (operator swaps and campaigns). */
export type DirectedTarget =
  | {
      action: 'swap';
      fromIccid: string;
      fromCarrierId: string;
      toIccid?: string;
      needsDownload: boolean;
    }
  | { action: 'none'; reason: 'already_on_target' | 'no_enabled_profile' };

export function targetOnCarrier(profiles: InventoryProfile[], toCarrierId: string): DirectedTarget {
  const current = profiles.find((p) => p.state === 'enabled');
  if (!current) return { action: 'none', reason: 'no_enabled_profile' };
  if (current.carrierId === toCarrierId) return { action: 'none', reason: 'already_on_target' };
  const existing = profiles.find((p) => p.carrierId === toCarrierId);
  return existing
    ? {
        action: 'swap',
        fromIccid: current.iccid,
        fromCarrierId: current.carrierId,
        toIccid: existing.iccid,
        needsDownload: false,
      }
    : {
        action: 'swap',
        fromIccid: current.iccid,
        fromCarrierId: current.carrierId,
        needsDownload: true,
      };
}
