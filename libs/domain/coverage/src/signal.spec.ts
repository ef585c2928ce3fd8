import { resolvePolicy } from './policy';
import {
  applyReport,
  applySilence,
  signalQuality,
  type MeterCoverageState,
  type MeterTransition,
  type RadioReport,
} from './signal';

const ELECTRICITY = resolvePolicy('electricity', 'north');
const GAS = resolvePolicy('gas', 'north');
const A_ICCID = '8944150000000000017';
const B_ICCID = '8944200000000000022';
const MINUTE = 60_000;

let seq = 0;
/** A report sent at minute `m` of a 15-min electricity meter, with the given RSRP. */
const report = (m: number, rsrp: number | null, extra: Partial<RadioReport> = {}): RadioReport => ({
  at: m * MINUTE,
  seq: ++seq,
  receivedAt: m * MINUTE + 500,
  reportIntervalS: 900,
  iccid: A_ICCID,
  carrierId: 'carrier-a',
  region: 'north',
  rsrp,
  rsrq: null,
  sinr: null,
  attachFailures: 0,
  ...extra,
});

function run(
  reports: RadioReport[],
  policy = ELECTRICITY,
  start?: MeterCoverageState,
): { state: MeterCoverageState | undefined; transitions: MeterTransition[]; late: number } {
  let state = start;
  const transitions: MeterTransition[] = [];
  let late = 0;
  for (const r of reports) {
    const verdict = applyReport(state, r, policy);
    if (!verdict.applied) {
      late++;
      continue;
    }
    state = verdict.state;
    if (verdict.transition) transitions.push(verdict.transition);
  }
  return { state, transitions, late };
}
const types = (reports: RadioReport[], policy = ELECTRICITY): string[] =>
  run(reports, policy).transitions.map((t) => t.type);

describe('signal quality of one report', () => {
  const t = ELECTRICITY.signal;
  const q = (rsrp: number | null, rsrq: number | null, sinr: number | null, attach = 0) =>
    signalQuality({ rsrp, rsrq, sinr, attachFailures: attach }, t);

  it('is bad when any measure is under its entry threshold', () => {
    expect(q(-90, -20, 10)).toBe('bad');
    expect(q(-90, -8, -5)).toBe('bad');
    expect(q(-120, -8, 10)).toBe('bad');
  });
  it('is good only when every known measure is above its exit threshold', () => {
    expect(q(-90, -8, 10)).toBe('good');
    expect(q(-90, -13, 10)).toBe('neutral');
    expect(q(-90, null, null)).toBe('good');
  });
  it('is neutral when nothing was measured', () => {
    expect(q(null, null, null)).toBe('neutral');
  });
  it('is bad with many attach failures even when the radio looks fine', () => {
    expect(q(-80, -5, 15, t.entryAttachFailures)).toBe('bad');
  });
});

describe('coverage hysteresis', () => {
  it('degrades only after the configured number of consecutive bad reports', () => {
    expect(types([report(0, -120), report(15, -120)])).toEqual([]);
    expect(types([report(0, -120), report(15, -120), report(30, -120)])).toEqual([
      'meter.degraded',
    ]);
  });

  it('does not count bad reports interrupted by a good one', () => {
    expect(
      types([report(0, -120), report(15, -120), report(30, -95), report(45, -120), report(60, -120)]),
    ).toEqual([]);
  });

  it('stays degraded between the entry and exit thresholds', () => {
    const { transitions, state } = run([
      report(0, -120),
      report(15, -120),
      report(30, -120),
      report(45, -110),
      report(60, -110),
      report(75, -110),
    ]);
    expect(transitions.map((t) => t.type)).toEqual(['meter.degraded']);
    expect(state?.status).toBe('degraded');
  });

  it('restores only after consecutive reports above the exit threshold', () => {
    const { transitions } = run([
      report(0, -120),
      report(15, -120),
      report(30, -120),
      report(45, -100),
      report(60, -110),
      report(75, -100),
    ]);
    expect(transitions).toEqual([
      expect.objectContaining({ type: 'meter.degraded', reason: 'signal_below_threshold', at: 30 * MINUTE }),
      expect.objectContaining({ type: 'meter.restored', reason: 'signal_above_exit_threshold', at: 75 * MINUTE }),
    ]);
  });

  it('uses the thresholds of the meter kind: -120 dBm is normal for a gas meter in a pit', () => {
    const gas = (m: number, rsrp: number): RadioReport => report(m, rsrp, { reportIntervalS: 86_400 });
    expect(types([gas(0, -120), gas(1440, -120), gas(2880, -120)], GAS)).toEqual([]);
    expect(types([gas(0, -127), gas(1440, -127)], GAS)).toEqual(['meter.degraded']);
  });

  it('degrades a meter whose very first reports are bad', () => {
    expect(types([report(0, -125), report(15, -125), report(30, -125)])).toEqual([
      'meter.degraded',
    ]);
  });
});

describe('late and repeated reports', () => {
  it('ignores a report older than the newest applied, so buffered data never flips state back', () => {
    const degraded = run([report(100, -120), report(115, -120), report(130, -120)]).state!;
    const late = run([report(50, -90), report(60, -90), report(70, -90)], ELECTRICITY, degraded);
    expect(late.late).toBe(3);
    expect(late.transitions).toEqual([]);
    expect(late.state?.status).toBe('degraded');
  });

  it('treats a redelivered report (same time, same seq) as a no-op', () => {
    const first = report(0, -120);
    const state = run([first]).state!;
    expect(applyReport(state, first, ELECTRICITY)).toEqual({ applied: false });
  });

  it('orders two reports sent within the same millisecond by seq', () => {
    const state = run([report(0, -120)]).state!;
    const sameTime = { ...report(0, -120), seq: state.lastSeq + 1 };
    const verdict = applyReport(state, sameTime, ELECTRICITY);
    expect(verdict.applied && verdict.state.badReports).toBe(2);
  });
});

describe('silence', () => {
  it('gives a 15-minute meter one interval plus half an interval from when it was heard', () => {
    const state = run([report(0, -95)]).state!;
    expect(state.deadline).toBe(500 + 900_000 + 450_000);
  });

  it('does not call a daily battery meter silent after an hour', () => {
    const state = run([report(0, -95, { reportIntervalS: 86_400 })], GAS).state!;
    expect(applySilence(state, 60 * MINUTE)).toBeNull();
    expect(applySilence(state, 35 * 60 * MINUTE)).toBeNull();
    expect(applySilence(state, 36 * 60 * MINUTE + 500)?.transition.type).toBe('meter.lost');
  });

  it('keeps at least two seconds of grace for tiny intervals', () => {
    const state = run([report(0, -95, { reportIntervalS: 1, receivedAt: 1_000 })]).state!;
    expect(state.deadline).toBe(1_000 + 1_000 + 2_000);
  });

  it('runs the deadline from when the platform heard the meter, not from a late send time', () => {
    const state = run([report(0, -95, { receivedAt: 120 * MINUTE })]).state!;
    expect(state.deadline).toBe(120 * MINUTE + 1_350_000);
  });

  it('declares a silent meter lost once, at its deadline', () => {
    const state = run([report(0, -95)]).state!;
    const lost = applySilence(state, state.deadline)!;
    expect(lost.transition).toEqual({
      type: 'meter.lost',
      reason: 'silent_past_deadline',
      at: state.deadline,
      carrierId: 'carrier-a',
      region: 'north',
      iccid: A_ICCID,
    });
    expect(applySilence(lost.state, state.deadline + 10 * MINUTE)).toBeNull();
  });

  it('restores a lost meter as soon as it reports again, even with a weak signal', () => {
    const lost = applySilence(run([report(0, -95)]).state!, 60 * MINUTE)!.state;
    const back = applyReport(lost, report(61, -121), ELECTRICITY);
    expect(back.applied && back.transition).toMatchObject({
      type: 'meter.restored',
      reason: 'reported_again',
    });
    expect(back.applied && back.state.status).toBe('ok');
  });

  it('ignores a report held up from before the meter went silent', () => {
    const lost = applySilence(run([report(0, -95)]).state!, 60 * MINUTE)!.state;
    expect(applyReport(lost, report(-5, -95), ELECTRICITY)).toEqual({ applied: false });
  });
});

describe('a report on another profile', () => {
  it('starts counting afresh on the new carrier', () => {
    const { state } = run([
      report(0, -120),
      report(15, -120),
      report(30, -95, { iccid: B_ICCID, carrierId: 'carrier-b' }),
    ]);
    expect(state).toMatchObject({ carrierId: 'carrier-b', badReports: 0, status: 'ok' });
  });

  it('ends a degradation on the old carrier, which the event names', () => {
    const { transitions, state } = run([
      report(0, -120),
      report(15, -120),
      report(30, -120),
      report(45, -95, { iccid: B_ICCID, carrierId: 'carrier-b' }),
    ]);
    expect(transitions.at(-1)).toMatchObject({
      type: 'meter.restored',
      reason: 'reported_on_another_profile',
      carrierId: 'carrier-a',
      iccid: B_ICCID,
    });
    expect(state?.status).toBe('ok');
  });

  it('names the carrier the meter was lost on when it comes back on another', () => {
    const lost = applySilence(run([report(0, -95)]).state!, 60 * MINUTE)!.state;
    const back = applyReport(
      lost,
      report(61, -95, { iccid: B_ICCID, carrierId: 'carrier-b' }),
      ELECTRICITY,
    );
    expect(back.applied && back.transition).toMatchObject({ carrierId: 'carrier-a' });
    expect(back.applied && back.state.carrierId).toBe('carrier-b');
  });
});
