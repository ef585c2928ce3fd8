import { ACTIVE_STATES, type InternalSwapState, type SwapPhase } from '../swaps.repository';

/**
 * What an ES2+ ordering step does with the SM-DP+'s answer, given the swap as it is once the
 * answer is in (the step runs outside the swap's lock, under a lease on its work):
 * - `continue`: the swap still waits for this step;
 * - `release`: it ended without completing meanwhile (cancelled, expired, failed): the order
 *   just made is owed a cancelOrder;
 * - `leave`: it moved on or completed without this step. The step's claim outlived its lease
 *   and another pass made the same order (ES2+ calls are idempotent by function call id), so the
 *   order is the live swap's own: releasing it would take the profile from under the meter.
 */
export type OrderStep = 'continue' | 'release' | 'leave';

export function orderStep(
  swap: { state: InternalSwapState; phase: SwapPhase } | undefined,
): OrderStep {
  if (!swap) return 'leave';
  if (swap.state === 'requested' && swap.phase === 'ordering') return 'continue';
  if (swap.state === 'completed' || ACTIVE_STATES.includes(swap.state)) return 'leave';
  return 'release';
}
