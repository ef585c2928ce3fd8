import { DEFAULT_SIGNAL_THRESHOLDS, applyReport, silenceDeadline, type MeterCoverageState, type RadioReport } from './signal';

const report = (at: number, rsrp: number | null, extra: Partial<RadioReport> = {}): RadioReport => ({
  at, iccid: '8944150000000000017', carrierId: 'carrier-a', rsrp, attachFailures: 0, ...extra,
});

function run(reports: RadioReport[]): { state: MeterCoverageState | undefined; transitions: string[] } {
  let state: MeterCoverageState | undefined;
  const transitions: string[] = [];
  for (const r of reports) {
    const verdict = applyReport(state, r);
    if (verdict.state) state = verdict.state;
    if (verdict.transition) transitions.push(verdict.transition);
  }
  return { state, transitions };
}

describe('coverage signal hysteresis', () => {
  it('degrades only after the configured number of consecutive bad reports', () => {
    expect(run([report(1, -120), report(2, -120)]).transitions).toEqual([]);
    expect(run([report(1, -120), report(2, -120), report(3, -120)]).transitions).toEqual(['meter.degraded']);
  });

  it('does not count a bad report interrupted by a good one', () => {
    expect(run([report(1, -120), report(2, -120), report(3, -95), report(4, -120), report(5, -120)]).transitions).toEqual([]);
  });

  it('stays degraded between the entry and exit thresholds', () => {
    const { transitions, state } = run([report(1, -120), report(2, -120), report(3, -120), report(4, -110), report(5, -110), report(6, -110)]);
    expect(transitions).toEqual(['meter.degraded']);
    expect(state?.status).toBe('degraded');
  });

  it('restores only after consecutive reports above the exit threshold', () => {
    const { transitions } = run([report(1, -120), report(2, -120), report(3, -120), report(4, -100), report(5, -100)]);
    expect(transitions).toEqual(['meter.degraded', 'meter.restored']);
  });

  it('treats many attach failures as bad even when RSRP looks fine', () => {
    const bad = (at: number): RadioReport => report(at, -90, { attachFailures: DEFAULT_SIGNAL_THRESHOLDS.entryAttachFailures });
    expect(run([bad(1), bad(2), bad(3)]).transitions).toEqual(['meter.degraded']);
  });

  it('ignores a late report so that buffered data never flips state backwards', () => {
    let state = run([report(10, -120), report(11, -120), report(12, -120)]).state!;
    const late = applyReport(state, report(5, -90));
    expect(late).toEqual({ state: null, transition: null, reason: 'late' });
    state = applyReport(state, report(12, -90)).state ?? state;
    expect(state.status).toBe('degraded');
  });

  it('restores a lost meter as soon as it reports again', () => {
    const lost: MeterCoverageState = { status: 'lost', badReports: 0, goodReports: 0, lastReportAt: 1, iccid: '8944150000000000017', carrierId: 'carrier-a' };
    expect(applyReport(lost, report(2, -95)).transition).toBe('meter.restored');
  });

  it('starts counting afresh on a new profile', () => {
    const { state } = run([report(1, -120), report(2, -120), report(3, -95, { iccid: '8944200000000000022', carrierId: 'carrier-b' })]);
    expect(state).toMatchObject({ carrierId: 'carrier-b', badReports: 0, status: 'ok' });
  });
});

describe('silence deadline', () => {
  it('gives a 15-minute meter one interval plus half an interval', () => {
    expect(silenceDeadline(0, 900)).toBe(900_000 + 450_000);
  });
  it('does not call a daily battery meter silent after an hour', () => {
    expect(silenceDeadline(0, 86_400)).toBeGreaterThan(3_600_000 * 24);
  });
  it('keeps at least two seconds of grace for tiny test intervals', () => {
    expect(silenceDeadline(1_000, 1)).toBe(1_000 + 1_000 + 2_000);
  });
});
