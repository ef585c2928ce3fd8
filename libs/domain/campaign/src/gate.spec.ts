import {
  DEFAULT_GATE,
  evaluateWave,
  resolveGate,
  waveCounts,
  type GateConfig,
  type GateVerdict,
  type WaveCounts,
} from './gate';

const wave = waveCounts;

const verdict = (v: GateVerdict): string =>
  v.verdict === 'continue' ? 'continue' : `${v.verdict}:${v.reason}`;

describe('wave gate', () => {
  it.each<[string, WaveCounts, string]>([
    ['nothing settled yet', wave(100), 'wait:wave_in_progress'],
    ['all completed', wave(100, { completed: 100 }), 'continue'],
    [
      'settled just under the quorum (89 of 100)',
      wave(100, { completed: 89 }),
      'wait:wave_in_progress',
    ],
    ['settled exactly at the quorum (90 of 100)', wave(100, { completed: 90 }), 'continue'],
    [
      'success rate exactly at the gate (90 %)',
      wave(100, { completed: 90, rolledBack: 10 }),
      'continue',
    ],
    [
      'success rate just under the gate',
      wave(1000, { completed: 899, rolledBack: 101 }),
      'pause:success_rate_gate',
    ],
    [
      'error share exactly at the threshold (20 %) does not trip it; the gate pauses',
      wave(100, { completed: 80, failed: 20 }),
      'pause:success_rate_gate',
    ],
    [
      'error share above the threshold trips it mid-wave, once enough outcomes are in',
      wave(1000, { completed: 7, rolledBack: 3 }),
      'pause:error_threshold',
    ],
    [
      'a high error share on too few outcomes waits (9 < minSettled)',
      wave(1000, { completed: 6, failed: 3 }),
      'wait:wave_in_progress',
    ],
    [
      'failed and rolled-back count alike',
      wave(1000, { completed: 8, rolledBack: 2, failed: 1 }),
      'pause:error_threshold',
    ],
    [
      'expired swaps are not failures: the success rate is over outcomes only',
      wave(100, { completed: 60, expired: 40 }),
      'continue',
    ],
    [
      'expired share exactly at the maximum (50 %) does not pause',
      wave(100, { completed: 50, expired: 50 }),
      'continue',
    ],
    [
      'expired share above the maximum pauses',
      wave(100, { completed: 49, expired: 51 }),
      'pause:expired_threshold',
    ],
    ['every swap expired', wave(20, { expired: 20 }), 'pause:expired_threshold'],
    ['every swap cancelled: nothing to judge', wave(20, { cancelled: 20 }), 'continue'],
    [
      'cancelled swaps are left out of every share',
      wave(100, { completed: 9, rolledBack: 1, cancelled: 90 }),
      'continue',
    ],
    [
      'a canary smaller than minSettled waits for every outcome',
      wave(5, { completed: 4 }),
      'wait:wave_in_progress',
    ],
    ['a canary smaller than minSettled, all in', wave(5, { completed: 5 }), 'continue'],
    [
      'a small canary with one rollback in five: exactly at the threshold, under the gate',
      wave(5, { completed: 4, rolledBack: 1 }),
      'pause:success_rate_gate',
    ],
    [
      'a canary of 10 at the quorum but one outcome short of minSettled',
      wave(10, { completed: 9 }),
      'wait:too_few_settled',
    ],
    [
      'quorum reached mostly by cancellations: outcomes still too few',
      wave(100, { completed: 5, expired: 5, cancelled: 80 }),
      'wait:too_few_settled',
    ],
    [
      'a late straggler’s failure still trips the threshold after the quorum',
      wave(100, { completed: 70, rolledBack: 25 }),
      'pause:error_threshold',
    ],
  ])('%s', (_name, counts, expected) => {
    expect(verdict(evaluateWave(counts, DEFAULT_GATE))).toBe(expected);
  });

  it('reports the figures it judged on', () => {
    expect(evaluateWave(wave(100, { completed: 60, rolledBack: 5, expired: 30 })).facts).toEqual({
      size: 100,
      outcomes: 65,
      settled: 95,
      open: 5,
      possibleOutcomes: 70,
      needed: 10,
      successRate: 60 / 65,
      errorShare: 5 / 65,
      expiredShare: 30 / 95,
    });
  });

  it('honours the campaign’s own gate and threshold', () => {
    const strict: GateConfig = { ...DEFAULT_GATE, successRateGate: 1, errorThreshold: 0 };
    expect(verdict(evaluateWave(wave(100, { completed: 99, failed: 1 }), strict))).toBe(
      'pause:error_threshold',
    );
    const lax: GateConfig = { ...DEFAULT_GATE, successRateGate: 0, errorThreshold: 1 };
    expect(verdict(evaluateWave(wave(100, { failed: 100 }), lax))).toBe('continue');
  });

  it.each<[string, Partial<GateConfig>]>([
    ['a gate above 1', { successRateGate: 1.1 }],
    ['a negative threshold', { errorThreshold: -0.1 }],
    ['a NaN quorum', { settleQuorum: Number.NaN }],
    ['an expired share above 1', { maxExpiredShare: 2 }],
    ['minSettled 0', { minSettled: 0 }],
    ['a fractional minSettled', { minSettled: 2.5 }],
  ])('refuses %s with invalid_gate_config', (_name, over) => {
    expect(() => resolveGate(over)).toThrow('invalid_gate_config');
    expect(() => evaluateWave(wave(10), { ...DEFAULT_GATE, ...over })).toThrow(
      'invalid_gate_config',
    );
  });

  it('fills the API’s optional fields from the defaults', () => {
    expect(resolveGate({ successRateGate: 0.95 })).toEqual({
      ...DEFAULT_GATE,
      successRateGate: 0.95,
    });
  });
});
