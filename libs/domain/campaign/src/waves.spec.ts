import { CampaignPolicyError } from './campaign-policy.error';
import { seeded } from '@meterlink/testing';
import {
  DEFAULT_WAVE_PLAN,
  nominalWaveSize,
  planWaves,
  resolveWavePlan,
  waveSizeAt,
  type WavePlanConfig,
} from './waves';

const plan = (canarySize: number, growthFactor: number, maxWaveSize: number): WavePlanConfig => ({
  canarySize,
  growthFactor,
  maxWaveSize,
});

describe('wave plan', () => {
  it.each<[string, number, WavePlanConfig, number[]]>([
    ['no meters, no waves', 0, DEFAULT_WAVE_PLAN, []],
    ['fewer meters than the canary: one wave', 5, DEFAULT_WAVE_PLAN, [5]],
    ['exactly the canary', 10, DEFAULT_WAVE_PLAN, [10]],
    ['one more than the canary', 11, DEFAULT_WAVE_PLAN, [10, 1]],
    [
      '10,000 meters with the defaults: doubling up to 1000, then 1000s, then the rest',
      10_000,
      DEFAULT_WAVE_PLAN,
      [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 730],
    ],
    ['growth 1.5 rounds up each wave', 200, plan(10, 1.5, 1000), [10, 15, 23, 34, 51, 67]],
    [
      'growth 1.1 from 100 gives 110, not 111 (floating point)',
      300,
      plan(100, 1.1, 1000),
      [100, 110, 90],
    ],
    ['growth 1 keeps every wave the canary’s size', 25, plan(10, 1, 1000), [10, 10, 5]],
    ['a canary above the maximum is clamped to it', 20, plan(50, 2, 8), [8, 8, 4]],
    ['maximum 1: one meter at a time', 3, plan(1, 3, 1), [1, 1, 1]],
    [
      'a tiny growth rounds up (ceil of canary × growth^i, not compounded)',
      10,
      plan(1, 1.01, 100),
      [1, 2, 2, 2, 2, 1],
    ],
  ])('%s', (_name, n, config, expected) => {
    expect(planWaves(n, config)).toEqual(expected);
  });

  it.each<[string, number, Partial<WavePlanConfig>]>([
    ['a negative meter count', -1, {}],
    ['a fractional meter count', 2.5, {}],
    ['a zero canary', 10, { canarySize: 0 }],
    ['a fractional canary', 10, { canarySize: 1.5 }],
    ['a growth below 1', 10, { growthFactor: 0.9 }],
    ['a NaN growth', 10, { growthFactor: Number.NaN }],
    ['an infinite growth', 10, { growthFactor: Number.POSITIVE_INFINITY }],
    ['a zero maximum', 10, { maxWaveSize: 0 }],
  ])('refuses %s with a coded error', (_name, n, over) => {
    expect(() => planWaves(n, { ...DEFAULT_WAVE_PLAN, ...over })).toThrow(CampaignPolicyError);
    try {
      planWaves(n, { ...DEFAULT_WAVE_PLAN, ...over });
    } catch (error) {
      expect((error as CampaignPolicyError).code).toBe(
        n === 10 ? 'invalid_wave_config' : 'invalid_meter_count',
      );
    }
  });

  it('fills the API’s optional fields from the defaults and validates the result', () => {
    expect(resolveWavePlan({ canarySize: 5 })).toEqual({ ...DEFAULT_WAVE_PLAN, canarySize: 5 });
    expect(resolveWavePlan()).toEqual(DEFAULT_WAVE_PLAN);
    expect(() => resolveWavePlan({ growthFactor: 0 })).toThrow('invalid_wave_config');
  });

  it('caps huge growth at the maximum instead of overflowing', () => {
    expect(nominalWaveSize(5000, plan(10, 10, 500))).toBe(500);
  });

  it('properties: waves sum to N, never exceed the maximum, grow until the last', () => {
    const violations: string[] = [];
    for (let seed = 1; seed <= 2000; seed++) {
      const r = seeded(seed);
      const config = plan(r.int(1, 200), r.pick([1, 1.1, 1.5, 2, 3, 10]), r.int(1, 2000));
      const n = r.chance(0.1) ? r.int(0, 5) : r.int(0, 20_000);
      const waves = planWaves(n, config);
      const bad = (what: string): number => violations.push(`seed ${seed} (n ${n}): ${what}`);
      if (waves.reduce((a, b) => a + b, 0) !== n) bad('sum');
      if (waves.some((w) => w < 1 || w > config.maxWaveSize)) bad('size out of 1..max');
      if (waves.length > 0 && waves[0] !== Math.min(n, config.canarySize, config.maxWaveSize))
        bad('first wave is not the canary');
      // Non-decreasing, except the last wave, which takes what is left.
      for (let i = 1; i < waves.length - 1; i++)
        if ((waves[i] ?? 0) < (waves[i - 1] ?? 0)) bad(`wave ${i} shrinks`);
      // Wave by wave, as the orchestrator asks, gives the same plan.
      let remaining = n;
      waves.forEach((size, index) => {
        if (waveSizeAt(index, remaining, config) !== size) bad(`waveSizeAt(${index})`);
        remaining -= size;
      });
    }
    expect(violations).toEqual([]);
  });
});
