import { evaluateWave, waveSize, type WaveCounts } from './campaign-plan';

const plan = { canarySize: 5, growthFactor: 2, maxWaveSize: 30 };
const gates = { successRateGate: 0.9, errorThreshold: 0.2 };
const wave = (over: Partial<WaveCounts>): WaveCounts => ({
  size: 10,
  completed: 0,
  rolledBack: 0,
  failed: 0,
  expired: 0,
  cancelled: 0,
  skipped: 0,
  inFlight: 0,
  pending: 0,
  ...over,
});

describe('campaign waves', () => {
  it('start with the canary and grow by the factor up to the maximum', () => {
    expect([0, 1, 2, 3, 4].map((i) => waveSize(i, plan, 1000))).toEqual([5, 10, 20, 30, 30]);
  });

  it('never plan more than remain, nor an empty wave', () => {
    expect(waveSize(3, plan, 7)).toBe(7);
    expect(waveSize(0, { ...plan, canarySize: 1, growthFactor: 1 }, 1)).toBe(1);
  });

  it('pause as soon as errors pass the threshold, even mid-wave', () => {
    expect(evaluateWave(wave({ failed: 2, rolledBack: 1, inFlight: 7 }), gates)).toEqual({
      action: 'pause',
      reason: 'error_threshold_exceeded',
    });
    expect(evaluateWave(wave({ failed: 2, inFlight: 8 }), gates)).toEqual({ action: 'wait' });
  });

  it('judge the success rate once the wave is done, over the meters actually attempted', () => {
    expect(evaluateWave(wave({ completed: 8, expired: 2 }), gates)).toEqual({
      action: 'pause',
      reason: 'success_rate_below_gate',
    });
    expect(evaluateWave(wave({ completed: 9, skipped: 1 }), gates)).toEqual({
      action: 'continue',
    });
    expect(evaluateWave(wave({ completed: 8, skipped: 1, cancelled: 1 }), gates)).toEqual({
      action: 'continue',
    });
  });

  it('go on past a wave in which every meter was skipped', () => {
    expect(evaluateWave(wave({ skipped: 10 }), gates)).toEqual({ action: 'continue' });
    expect(evaluateWave(wave({ skipped: 5, pending: 5 }), gates)).toEqual({ action: 'wait' });
  });
});
