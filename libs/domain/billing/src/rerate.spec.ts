import { rateConsumption } from './consumption';
import { correctionLine, diffChargeLines } from './rerate';
import { readingSeries, sampleTariff } from './test-support/fixtures';

const tou = sampleTariff('residential-tou');
const ms = (iso: string): number => Date.parse(iso);

// A month of 15-minute readings at 100 Wh each, rated with and without a 15:00Z–17:00Z gap on
// Monday 16 Nov 2026.
const full = readingSeries('2026-10-31T23:00:00Z', 15, 4 * 24 * 31, () => 100);
const inGap = (at: number) => at > ms('2026-11-16T15:00:00Z') && at < ms('2026-11-16T17:00:00Z');
const rate = (readings = full) =>
  rateConsumption({
    meterId: 'EM-0000001',
    period: '2026-11',
    tariff: tou,
    readings: { energy_import_wh: readings },
    reportIntervalS: 900,
  }).lines;

describe('re-rating', () => {
  it('yields no delta when the same input is rated again (a replay)', () => {
    expect(diffChargeLines(rate(), rate(), 'replay')).toEqual([]);
  });

  it('reports the lines backfilled readings changed, with old and new amounts and the reason', () => {
    // Before the backfill the gap's 800 Wh is spread 400/400 over day and peak, estimated.
    // The backfilled readings say the same total, so amounts stay; the estimate flag goes.
    const before = rate(full.filter((r) => !inGap(r.at)));
    const after = rate();
    const deltas = diffChargeLines(before, after, 'late_readings');
    expect(
      deltas.map((d) => [d.chargeId, d.change, d.changedFields, d.deltaMinor, d.reason]),
    ).toEqual([
      [
        'EM-0000001/2026-11/consumption/energy_import_wh/day',
        'changed',
        ['flags'],
        0,
        'late_readings',
      ],
      [
        'EM-0000001/2026-11/consumption/energy_import_wh/peak',
        'changed',
        ['flags'],
        0,
        'late_readings',
      ],
    ]);
    expect(deltas[0]?.previous?.flags).toEqual(['estimated']);
    expect(deltas[0]?.current?.flags).toEqual([]);
  });

  it('carries old and new amounts when a late reading moves consumption between bands', () => {
    // November 2026 (GMT, starts on a Sunday): 21 weekdays, 9 weekend days, 400 Wh per hour.
    //   day  21 × 14 + 9 × 17 = 447 h = 178.8 kWh × 24.5 = 4,380.6 → 4,381
    //   peak 21 × 3           =  63 h =  25.2 kWh × 38   =   957.6 →   958
    // Backfilled readings show all 800 Wh of the gap in its first hour (day band), not spread
    // 400/400: day 179.2 kWh = 4,390.4 → 4,390 (+9); peak 24.8 kWh = 942.4 → 942 (−16).
    const gapless = full.filter((r) => !inGap(r.at));
    const backfill = readingSeries('2026-11-16T15:00:00Z', 15, 8, (i) => (i <= 4 ? 200 : 0));
    const start = gapless.find((r) => r.at === ms('2026-11-16T15:00:00Z'))?.value ?? 0;
    const late = backfill.slice(1, 8).map((r) => ({ at: r.at, value: r.value + start }));
    const before = rate(gapless);
    const after = rate([...gapless, ...late]);
    const deltas = diffChargeLines(before, after, 'late_readings');
    const day = deltas.find((d) => d.chargeId.endsWith('/day'));
    const peak = deltas.find((d) => d.chargeId.endsWith('/peak'));
    expect(day?.current?.quantity).toBeCloseTo((day?.previous?.quantity ?? 0) + 0.4, 9);
    expect(peak?.current?.quantity).toBeCloseTo((peak?.previous?.quantity ?? 0) - 0.4, 9);
    expect(day?.deltaMinor).toBe((day?.currentAmountMinor ?? 0) - (day?.previousAmountMinor ?? 0));
    expect([day?.deltaMinor, peak?.deltaMinor]).toEqual([9, -16]);
    expect(day?.changedFields).toEqual([
      'amountMinor',
      'amountExactMinor',
      'quantityExact',
      'flags',
    ]);
  });

  it('voids a line re-rating no longer produces, and adds one it newly produces', () => {
    const line = rate()[0];
    if (!line) throw new Error('no line');
    const [removed] = diffChargeLines([line], [], 'meter_reassigned');
    expect(removed).toMatchObject({
      change: 'removed',
      previousAmountMinor: line.amountMinor,
      currentAmountMinor: 0,
    });
    expect(removed && correctionLine(removed)).toMatchObject({
      chargeId: line.chargeId,
      amountMinor: 0,
      quantity: 0,
      flags: ['voided'],
    });
    const [added] = diffChargeLines([], [line], 'late_readings');
    expect(added).toMatchObject({ change: 'added', deltaMinor: line.amountMinor });
    expect(added && correctionLine(added)).toBe(line);
  });
});
