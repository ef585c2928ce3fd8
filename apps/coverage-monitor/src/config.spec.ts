import { DEFAULT_OUTAGE_POLICY } from '@meterlink/coverage-domain';
import { coverageConfigSchema, outagePolicyFor } from './config';

const baseEnv = { KAFKA_BROKERS: '127.0.0.1:9092', REDIS_URL: 'redis://127.0.0.1:6379' };

describe('coverage-monitor outage overrides (COVERAGE_OUTAGE_OVERRIDES)', () => {
  it('turns seconds into the policy and resolves per carrier and region', () => {
    const config = coverageConfigSchema.parse({
      ...baseEnv,
      COVERAGE_OUTAGE_MIN_AFFECTED: '8',
      COVERAGE_OUTAGE_OVERRIDES: JSON.stringify([
        { region: 'rural', minPopulation: 10, minAffected: 5, recoveryHoldS: 600 },
        { region: 'rural', carrierId: 'carrier-c', windowS: 1800 },
      ]),
    });
    expect(outagePolicyFor(config, 'carrier-a', 'north')).toEqual({
      ...DEFAULT_OUTAGE_POLICY,
      minAffected: 8,
    });
    expect(outagePolicyFor(config, 'carrier-c', 'rural')).toEqual({
      ...DEFAULT_OUTAGE_POLICY,
      minPopulation: 10,
      minAffected: 5,
      recoveryHoldMs: 600_000,
      windowMs: 1_800_000,
    });
  });

  it('refuses unknown fields, bad JSON and policies that could never heal', () => {
    const problems = (overrides: string): string[] => {
      const result = coverageConfigSchema.safeParse({
        ...baseEnv,
        COVERAGE_OUTAGE_OVERRIDES: overrides,
      });
      return result.success ? [] : result.error.issues.map((i) => i.message);
    };
    expect(problems('[{"region":"x","minAfected":3}]').join()).toMatch(/minAfected/);
    expect(problems('{not json')).toEqual(['must be a JSON array']);
    expect(problems('[{"region":"x","exitExcess":0.5}]')).toEqual([
      'carrier (any) in region x: exitExcess (0.5) must be below entryExcess (0.2)',
    ]);
    expect(problems('[{"carrierId":"c","minAffected":5}]')).toEqual([]);
    // Switching correlation off for a region is allowed.
    expect(problems('[{"region":"x","minAffected":1000000}]')).toEqual([]);
  });
});
