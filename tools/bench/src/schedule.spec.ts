import { Schedule } from './schedule';

const schedule = (over: Partial<ConstructorParameters<typeof Schedule>[0]> = {}): Schedule =>
  new Schedule({ ratePerS: 1000, durationS: 2, meters: 10, seqBase: 5000, startMs: 1e12, ...over });

describe('Schedule', () => {
  it('spreads messages evenly over meters with strictly increasing seqs per meter', () => {
    const s = schedule();
    expect(s.total).toBe(2000);
    const lastSeq = new Map<number, number>();
    for (let i = 0; i < s.total; i++) {
      const m = s.meterOf(i);
      const seq = s.seqOf(i);
      expect(seq).toBeGreaterThan(lastSeq.get(m) ?? -1);
      lastSeq.set(m, seq);
      expect(s.indexOf(m, seq)).toBe(i);
    }
    expect(s.scheduledMs(1000) - s.scheduledMs(0)).toBeCloseTo(1000);
  });

  it('maps foreign (meter, seq) pairs to no message', () => {
    const s = schedule();
    expect(s.indexOf(3, 4999)).toBe(-1);
    expect(s.indexOf(3, 5000 + 200)).toBe(-1);
    expect(s.indexOf(10, 5000)).toBe(-1);
    expect(s.indexOf(-1, 5000)).toBe(-1);
  });

  it('counts what is due from the schedule alone', () => {
    const s = schedule();
    expect(s.dueBy(1e12 - 1)).toBe(0);
    expect(s.dueBy(1e12)).toBe(1);
    expect(s.dueBy(1e12 + 1.5)).toBe(2);
    expect(s.dueBy(1e12 + 10_000)).toBe(2000);
  });
});
