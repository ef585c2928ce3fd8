import { DEFAULT_OUTAGE_POLICY, resolvePolicy } from '@meterlink/coverage-domain';
import { coverageConfigSchema, outagePolicyFor } from './config';

const baseEnv = { KAFKA_BROKERS: '127.0.0.1:9092', REDIS_URL: 'redis://127.0.0.1:6379' };

/** The messages of the issues a configuration is refused with, and the variables they name. */
function refusals(env: Record<string, string>): { variable: string; message: string }[] {
  const result = coverageConfigSchema.safeParse({ ...baseEnv, ...env });
  return result.success
    ? []
    : result.error.issues.map((i) => ({ variable: String(i.path[0]), message: i.message }));
}

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

  it('refuses a region override and a carrier override that together could never heal', () => {
    // Each is fine alone (0.15 < 0.2 in rural; 0.05 < 0.1 for carrier-c): crossed, carrier-c in
    // rural would open at +10 points and never count as healed until +15 points.
    const overrides = [
      { region: 'rural', exitExcess: 0.15 },
      { carrierId: 'carrier-c', entryExcess: 0.1 },
    ];
    expect(refusals({ COVERAGE_OUTAGE_OVERRIDES: JSON.stringify(overrides) })).toEqual([
      {
        variable: 'COVERAGE_OUTAGE_OVERRIDES',
        message:
          'carrier carrier-c in region rural: exitExcess (0.15) must be below entryExcess (0.1)',
      },
    ]);
    // A carrier × region override that settles the combination makes it acceptable.
    expect(
      refusals({
        COVERAGE_OUTAGE_OVERRIDES: JSON.stringify([
          ...overrides,
          { region: 'rural', carrierId: 'carrier-c', exitExcess: 0.05 },
        ]),
      }),
    ).toEqual([]);
  });

  it('checks every named carrier in every named region against the COVERAGE_OUTAGE_* base', () => {
    // The base's exit is 0.1; carrier-d's entry of 0.08 is below it everywhere, region or not.
    const problems = refusals({
      COVERAGE_OUTAGE_EXIT_EXCESS: '0.1',
      COVERAGE_OUTAGE_OVERRIDES: JSON.stringify([
        { region: 'east', minPopulation: 10 },
        { region: 'west', exitExcess: 0.05 },
        { carrierId: 'carrier-d', entryExcess: 0.08 },
      ]),
    }).map((p) => p.message);
    expect(problems).toEqual([
      'carrier carrier-d in region (any): exitExcess (0.1) must be below entryExcess (0.08)',
      'carrier carrier-d in region east: exitExcess (0.1) must be below entryExcess (0.08)',
    ]);
  });
});

describe('coverage-monitor signal overrides (COVERAGE_POLICY_OVERRIDES)', () => {
  it('parses the JSON array into per kind and region policies, the most specific winning', () => {
    const config = coverageConfigSchema.parse({
      ...baseEnv,
      COVERAGE_POLICY_OVERRIDES: JSON.stringify([
        { region: 'highlands', signal: { entryRsrpDbm: -120, exitRsrpDbm: -112 } },
        { kind: 'gas', region: 'highlands', signal: { entryReports: 1 } },
        { kind: 'water', silence: { graceFactor: 3 } },
      ]),
    });
    const overrides = config.COVERAGE_POLICY_OVERRIDES;
    expect(overrides).toHaveLength(3);
    expect(resolvePolicy('electricity', 'highlands', overrides).signal).toMatchObject({
      entryRsrpDbm: -120,
      exitRsrpDbm: -112,
      entryReports: 3,
    });
    expect(resolvePolicy('gas', 'highlands', overrides).signal).toMatchObject({
      entryRsrpDbm: -120,
      exitRsrpDbm: -112,
      entryReports: 1,
    });
    expect(resolvePolicy('water', 'lowlands', overrides).silence.graceFactor).toBe(3);
    expect(resolvePolicy('electricity', 'lowlands', overrides).signal.entryRsrpDbm).toBe(-115);
  });

  it('defaults to no overrides', () => {
    expect(coverageConfigSchema.parse(baseEnv).COVERAGE_POLICY_OVERRIDES).toEqual([]);
  });

  it('refuses bad JSON, unknown fields and values out of range, naming the variable', () => {
    const messages = (text: string): string[] =>
      refusals({ COVERAGE_POLICY_OVERRIDES: text }).map((p) => `${p.variable}: ${p.message}`);
    expect(messages('[{"region":')).toEqual(['COVERAGE_POLICY_OVERRIDES: must be a JSON array']);
    expect(messages('{"region":"x"}').join()).toMatch(/^COVERAGE_POLICY_OVERRIDES: .*array/);
    expect(messages('[{"region":"x","signal":{"entryRsrp":-120}}]').join()).toMatch(/entryRsrp/);
    expect(messages('[{"kind":"heat"}]').join()).toMatch(/^COVERAGE_POLICY_OVERRIDES: \[0\.kind\]/);
    expect(messages('[{"signal":{"entryReports":0}}]').join()).toMatch(/entryReports/);
  });

  it('refuses a kind override and a region override whose combination puts an exit below its entry', () => {
    // Gas alone: -125 / -122, fine. Highlands alone: -121 / -105 (electricity), -121 / -117
    // (battery), fine. Gas in the highlands: entry -121, exit -122.
    expect(
      refusals({
        COVERAGE_POLICY_OVERRIDES: JSON.stringify([
          { kind: 'gas', signal: { exitRsrpDbm: -122 } },
          { region: 'highlands', signal: { entryRsrpDbm: -121 } },
        ]),
      }),
    ).toEqual([
      {
        variable: 'COVERAGE_POLICY_OVERRIDES',
        message: 'gas meters in highlands: RSRP exit (-122) must be above entry (-121)',
      },
    ]);
  });
});
