export interface InventoryProfile {
  iccid: string;
  carrierId: string;
  state: 'enabled' | 'disabled';
}

export interface SwapHistoryEntry {
  fromCarrierId: string;
  toCarrierId: string;
  /** epoch ms the swap completed (or was attempted, for failed ones). */
  at: number;
}

export interface SwapPolicyInput {
  now: number;
  /** What the coverage monitor said: a degraded link or a silent meter. */
  signal: 'meter.degraded' | 'meter.lost';
  /** The event belongs to a carrier outage in the meter's region (coverage.events.v1 outageId). */
  partOfCarrierOutage: boolean;
  profiles: InventoryProfile[];
  /** Carriers under contract in the meter's region, in order of preference. */
  regionCarriers: string[];
  /** Carriers known to be in outage in the region; never a target. */
  carriersInOutage: ReadonlySet<string>;
  hasActiveSwap: boolean;
  history: SwapHistoryEntry[];
}

export interface SwapPolicyConfig {
  /** No new swap for a meter within this long of its last one. */
  cooldownMs: number;
  /** A → B → A within this window is flapping and refused. */
  antiFlapWindowMs: number;
}

export const DEFAULT_SWAP_POLICY: SwapPolicyConfig = {
  cooldownMs: 6 * 3_600_000,
  antiFlapWindowMs: 7 * 86_400_000,
};

export type SwapDecision =
  | {
      action: 'swap';
      fromIccid: string;
      fromCarrierId: string;
      toIccid: string;
      toCarrierId: string;
    }
  | {
      action: 'none';
      reason:
        | 'swap_in_progress'
        | 'no_enabled_profile'
        | 'cooldown'
        | 'no_target_carrier'
        | 'would_flap'
        | 'meter_unreachable';
    };

/**
 * Chooses whether and where to move a meter. Pure: the orchestrator supplies the facts.
 * Targets are carriers under contract in the region, in preference order, that are not the
 * current one, not in outage, and already have a profile on the eUICC (downloads come later).
 */
export function decideSwap(
  input: SwapPolicyInput,
  config: SwapPolicyConfig = DEFAULT_SWAP_POLICY,
): SwapDecision {
  if (input.hasActiveSwap) return { action: 'none', reason: 'swap_in_progress' };
  // One silent meter can't be reached to be told anything, and may just be broken: its own
  // fallback profile is its way out. Silence moves meters only when the carrier is out in the region.
  if (input.signal === 'meter.lost' && !input.partOfCarrierOutage)
    return { action: 'none', reason: 'meter_unreachable' };
  const current = input.profiles.find((p) => p.state === 'enabled');
  if (!current) return { action: 'none', reason: 'no_enabled_profile' };
  const last = input.history.reduce<SwapHistoryEntry | undefined>(
    (a, b) => (!a || b.at > a.at ? b : a),
    undefined,
  );
  if (last && input.now - last.at < config.cooldownMs)
    return { action: 'none', reason: 'cooldown' };

  const candidates = input.regionCarriers
    .filter((c) => c !== current.carrierId && !input.carriersInOutage.has(c))
    .map((carrierId) =>
      input.profiles.find((p) => p.carrierId === carrierId && p.state === 'disabled'),
    )
    .filter((p): p is InventoryProfile => p !== undefined);
  if (candidates.length === 0) return { action: 'none', reason: 'no_target_carrier' };

  const flapsBack = (carrierId: string): boolean =>
    input.history.some(
      (h) =>
        h.toCarrierId === current.carrierId &&
        h.fromCarrierId === carrierId &&
        input.now - h.at < config.antiFlapWindowMs,
    );
  const target = candidates.find((p) => !flapsBack(p.carrierId));
  if (!target) return { action: 'none', reason: 'would_flap' };
  return {
    action: 'swap',
    fromIccid: current.iccid,
    fromCarrierId: current.carrierId,
    toIccid: target.iccid,
    toCarrierId: target.carrierId,
  };
}
