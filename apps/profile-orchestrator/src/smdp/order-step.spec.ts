import type { InternalSwapState, SwapPhase } from '../swaps.repository';
import { orderStep } from './order-step';

describe('orderStep: an ES2+ ordering step with its answer in hand', () => {
  const PHASES: SwapPhase[] = ['ordering', 'downloading', 'enabling', 'confirming'];

  it('continues only while the swap still waits for it', () => {
    expect(orderStep({ state: 'requested', phase: 'ordering' })).toBe('continue');
  });

  it('leaves a swap that moved on or completed without it: the order is the live swap’s own', () => {
    const movedOn: [InternalSwapState, SwapPhase][] = [
      ['requested', 'downloading'],
      ['dispatched', 'enabling'],
      ['confirming', 'confirming'],
      ...PHASES.map((phase): [InternalSwapState, SwapPhase] => ['completed', phase]),
    ];
    for (const [state, phase] of movedOn)
      expect([state, phase, orderStep({ state, phase })]).toEqual([state, phase, 'leave']);
    expect(orderStep(undefined)).toBe('leave');
  });

  it('releases the order of a swap that ended without completing meanwhile', () => {
    const ended: InternalSwapState[] = ['cancelled', 'expired', 'failed', 'rolled-back'];
    for (const state of ended)
      for (const phase of PHASES)
        expect([state, phase, orderStep({ state, phase })]).toEqual([state, phase, 'release']);
  });
});
