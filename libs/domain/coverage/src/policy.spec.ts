import {
  DEFAULT_COVERAGE_POLICIES,
  policyProblems,
  resolvePolicy,
  silenceDeadline,
  type PolicyOverride,
} from './policy';

describe('coverage policy per meter kind and region', () => {
  it('gives battery meters more tolerant thresholds than mains meters', () => {
    expect(resolvePolicy('gas', 'x').signal.entryRsrpDbm).toBeLessThan(
      resolvePolicy('electricity', 'x').signal.entryRsrpDbm,
    );
    expect(resolvePolicy('water', 'x')).toEqual(DEFAULT_COVERAGE_POLICIES.water);
  });

  it('applies overrides from the least to the most specific', () => {
    const overrides: PolicyOverride[] = [
      { kind: 'gas', region: 'rural', signal: { entryRsrpDbm: -130 } },
      { region: 'rural', signal: { entryRsrpDbm: -120, exitRsrpDbm: -110 } },
      { kind: 'gas', signal: { entryReports: 4 } },
      { signal: { entryAttachFailures: 5 }, silence: { graceFactor: 2 } },
    ];
    const gasRural = resolvePolicy('gas', 'rural', overrides);
    expect(gasRural.signal).toMatchObject({
      entryRsrpDbm: -130,
      exitRsrpDbm: -110,
      entryReports: 4,
      entryAttachFailures: 5,
    });
    expect(gasRural.silence.graceFactor).toBe(2);
    expect(resolvePolicy('electricity', 'rural', overrides).signal).toMatchObject({
      entryRsrpDbm: -120,
      entryReports: 3,
    });
    expect(resolvePolicy('gas', 'city', overrides).signal.entryRsrpDbm).toBe(-125);
  });

  it('ignores fields an override leaves undefined', () => {
    const policy = resolvePolicy('electricity', 'x', [{ signal: { entryRsrpDbm: undefined } }]);
    expect(policy.signal.entryRsrpDbm).toBe(-115);
  });

  it('accepts every default and refuses an exit threshold that is not above its entry', () => {
    for (const policy of Object.values(DEFAULT_COVERAGE_POLICIES))
      expect(policyProblems(policy)).toEqual([]);
    const broken = resolvePolicy('electricity', 'x', [{ signal: { exitRsrpDbm: -120 } }]);
    expect(policyProblems(broken)).toEqual(['RSRP exit (-120) must be above entry (-115)']);
  });
});

describe('silence deadline', () => {
  const policy = { graceFactor: 1.5, minGraceMs: 2_000 };
  it('is one interval plus half an interval after the meter was heard', () => {
    expect(silenceDeadline(0, 900, policy)).toBe(1_350_000);
  });
  it('puts a daily meter a day and a half out', () => {
    expect(silenceDeadline(0, 86_400, policy)).toBe(129_600_000);
  });
  it('never leaves less than the minimum grace', () => {
    expect(silenceDeadline(1_000, 1, policy)).toBe(4_000);
  });
});
