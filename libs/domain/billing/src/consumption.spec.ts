import { BillingError } from './billing.error';
import {
  computeDeterminants,
  rateConsumption,
  type RegisterDeterminants,
  type RegisterReading,
} from './consumption';
import { addRational, equalRational, rational, subRational, ZERO, type Rational } from './money';
import { readingSeries, sampleTariff } from './test-support/fixtures';

// config/tariffs.json residential-tou, Europe/London:
//   night 00:00–07:00 every day, 12.5 p/kWh
//   peak  16:00–19:00 Mon–Fri,   38 p/kWh
//   day   the rest,              24.5 p/kWh
//   standing charge 53.35 p/day
const tou = sampleTariff('residential-tou');
const ms = (iso: string): number => Date.parse(iso);
const QUARTER_HOUR_S = 900;

const bandsOf = (d: RegisterDeterminants) =>
  Object.fromEntries(
    d.bands.map((b) => [
      b.band,
      {
        wh: b.quantity.d === 1n ? Number(b.quantity.n) : `${b.quantity.n}/${b.quantity.d}`,
        estimated: b.estimated,
        decrease: b.registerDecrease,
      },
    ]),
  );
const wh = (n: number, estimated = false, decrease = false) => ({ wh: n, estimated, decrease });
const localDay = (y: number, m: number, d: number) => ({
  startMs: tou.clock.utcOfLocal(Date.UTC(y, m - 1, d)),
  endMs: tou.clock.utcOfLocal(Date.UTC(y, m - 1, d + 1)),
});
const determinants = (
  readings: RegisterReading[],
  window: { startMs: number; endMs: number },
  reportIntervalS = QUARTER_HOUR_S,
) => computeDeterminants(readings, window.startMs, window.endMs, tou, { reportIntervalS });

describe('consumption determinants under a time-of-use tariff', () => {
  it('splits the 23-hour spring DST day (29 Mar 2026) by local time', () => {
    // Clocks go 01:00 GMT → 02:00 BST at 01:00Z. Local day = 00:00Z → 23:00Z (23 h).
    // 250 Wh every 15 min = 1,000 Wh per real hour. Sunday: no peak.
    //   night 00:00–07:00 local = 00:00Z → 06:00Z = 6 h → 6,000 Wh (not 7,000)
    //   day   07:00–24:00 local = 06:00Z → 23:00Z = 17 h → 17,000 Wh
    const day = localDay(2026, 3, 29);
    expect([day.startMs, day.endMs]).toEqual([
      ms('2026-03-29T00:00:00Z'),
      ms('2026-03-29T23:00:00Z'),
    ]);
    const d = determinants(
      readingSeries('2026-03-28T22:00:00Z', 15, 4 * 27, () => 250),
      day,
    );
    expect(bandsOf(d)).toEqual({ night: wh(6000), day: wh(17000), peak: wh(0) });
    expect(d.consumption).toEqual(rational(23000));
    expect(d.gaps).toEqual([]);
  });

  it('splits the 25-hour autumn DST day (25 Oct 2026) by local time, the repeated hour twice', () => {
    // Clocks go 02:00 BST → 01:00 GMT at 01:00Z. Local day = 24 Oct 23:00Z → 26 Oct 00:00Z (25 h).
    //   night 00:00–07:00 local = 23:00Z → 07:00Z = 8 h → 8,000 Wh (01:00–02:00 local happens twice)
    //   day   07:00–24:00 local = 07:00Z → 24:00Z = 17 h → 17,000 Wh
    const day = localDay(2026, 10, 25);
    expect([day.startMs, day.endMs]).toEqual([
      ms('2026-10-24T23:00:00Z'),
      ms('2026-10-26T00:00:00Z'),
    ]);
    const d = determinants(
      readingSeries('2026-10-24T20:00:00Z', 15, 4 * 30, () => 250),
      day,
    );
    expect(bandsOf(d)).toEqual({ night: wh(8000), day: wh(17000), peak: wh(0) });
    expect(d.consumption).toEqual(rational(25000));
  });

  it('puts a summer weekday’s peak at 16:00–19:00 BST, i.e. 15:00Z–18:00Z', () => {
    // Monday 15 Jun 2026 (BST). 250 Wh per 15 min, but 1,000 Wh per 15 min from 15:00Z to 16:00Z.
    //   night 23:00Z(14th) → 06:00Z  = 7 h × 1,000           = 7,000
    //   day   06:00Z → 15:00Z (9 h) + 18:00Z → 23:00Z (5 h) = 14,000
    //   peak  15:00Z → 18:00Z: 4 × 1,000 + 8 × 250           = 6,000
    const spike = (_: number, at: number) =>
      at > ms('2026-06-15T15:00:00Z') && at <= ms('2026-06-15T16:00:00Z') ? 1000 : 250;
    const d = determinants(
      readingSeries('2026-06-14T20:00:00Z', 15, 4 * 30, spike),
      localDay(2026, 6, 15),
    );
    expect(bandsOf(d)).toEqual({ night: wh(7000), day: wh(14000), peak: wh(6000) });
  });

  it('interpolates the register linearly at a boundary no reading falls on', () => {
    // Readings 30 Nov 23:50Z = 10,000 and 1 Dec 00:20Z = 10,600 (30 min, the report interval).
    // At 1 Dec 00:00Z (the month boundary, GMT): 10,000 + 600 × 10/30 = 10,200.
    const readings = [
      { at: ms('2026-11-30T23:50:00Z'), value: 10_000 },
      { at: ms('2026-12-01T00:20:00Z'), value: 10_600 },
    ];
    const nov = { startMs: ms('2026-11-30T23:00:00Z'), endMs: ms('2026-12-01T00:00:00Z') };
    const dec = { startMs: ms('2026-12-01T00:00:00Z'), endMs: ms('2026-12-01T00:20:00Z') };
    const a = determinants(readings, nov, 1800);
    const b = determinants(readings, dec, 1800);
    expect(a.endValue).toEqual(rational(10_200));
    expect(b.startValue).toEqual(rational(10_200));
    expect([a.consumption, b.consumption]).toEqual([rational(200), rational(400)]);
    expect([a.endExtrapolated, b.endExtrapolated]).toEqual([false, false]);

    // 1 Wh over the same 30 min: 1/3 Wh before midnight, floored to the µWh (0.333333), and
    // the rest after (0.666667): the two still add up to the 1 Wh the register counted.
    const one = [readings[0] as RegisterReading, { at: ms('2026-12-01T00:20:00Z'), value: 10_001 }];
    expect(determinants(one, nov, 1800).consumption).toEqual(rational(333_333, 1_000_000));
    expect(determinants(one, dec, 1800).consumption).toEqual(rational(666_667, 1_000_000));
    expect(determinants(one, nov, 1800).endValue).toEqual(rational(10_000_333_333, 1_000_000));
  });

  it('spreads a gap over time and flags the bands it was spread over as estimated', () => {
    // Monday 16 Nov 2026 (GMT = local). 100 Wh per 15 min, no readings between 15:00Z and 17:00Z
    // (7 missing), the register +1,200 across the gap: 600 to day (15–16), 600 to peak (16–17).
    //   night 00–07: 28 × 100                           = 2,800 (measured)
    //   day   07–15: 32 × 100 + 600, 19–24: 20 × 100    = 5,800 (estimated)
    //   peak  16–17: 600, 17–19: 8 × 100                = 1,400 (estimated)
    const inGap = (at: number) =>
      at > ms('2026-11-16T15:00:00Z') && at <= ms('2026-11-16T17:00:00Z');
    const readings = readingSeries('2026-11-16T00:00:00Z', 15, 96, (_, at) =>
      inGap(at) ? 150 : 100,
    ).filter((r) => !inGap(r.at) || r.at === ms('2026-11-16T17:00:00Z'));
    const d = determinants(readings, localDay(2026, 11, 16));
    expect(bandsOf(d)).toEqual({ night: wh(2800), day: wh(5800, true), peak: wh(1400, true) });
    expect(d.gaps).toEqual([
      { fromMs: ms('2026-11-16T15:00:00Z'), toMs: ms('2026-11-16T17:00:00Z'), missingReadings: 7 },
    ]);
    expect(d.consumption).toEqual(rational(10_000));
  });

  it('does not call a gap inside a single band an estimate (the register measured it)', () => {
    const inGap = (at: number) =>
      at > ms('2026-11-16T01:00:00Z') && at < ms('2026-11-16T03:00:00Z');
    const readings = readingSeries('2026-11-16T00:00:00Z', 15, 96, () => 100).filter(
      (r) => !inGap(r.at),
    );
    // 100 Wh per 15 min: night 7 h = 2,800, day 9 + 5 h = 5,600, peak 3 h = 1,200; none estimated.
    const d = determinants(readings, localDay(2026, 11, 16));
    expect(bandsOf(d)).toEqual({ night: wh(2800), day: wh(5600), peak: wh(1200) });
    expect(d.gaps).toHaveLength(1);
  });

  it('flags a register decrease and bills neither the fall nor the climb back', () => {
    // 00:00 1,000 · 00:15 1,100 · 00:30 1,050 (fell 50) · 00:45 1,200 · 01:00 1,300
    //   +100, fall (0, flagged), 1,200 − 1,100 (the earlier high) = +100, +100 → 300 Wh.
    //   Summing the rises instead would bill 100 + 150 + 100 = 350: the 50 twice.
    const values = [1000, 1100, 1050, 1200, 1300];
    const readings = values.map((value, i) => ({
      at: ms('2026-11-16T00:00:00Z') + i * 900_000,
      value,
    }));
    const d = determinants(readings, {
      startMs: readings[0]?.at ?? 0,
      endMs: readings[4]?.at ?? 0,
    });
    expect(bandsOf(d)).toEqual({ night: wh(300, false, true), day: wh(0), peak: wh(0) });
    expect(d.decreases).toEqual([
      {
        fromMs: ms('2026-11-16T00:15:00Z'),
        toMs: ms('2026-11-16T00:30:00Z'),
        fromValue: 1100,
        toValue: 1050,
      },
    ]);
  });

  it('bills nothing after a register reset until the register passes its earlier high', () => {
    // 5,000 · 5,100 · 0 · 100 · 200: +100, then three readings under the high of 5,100: 100 Wh, flagged.
    const readings = [5000, 5100, 0, 100, 200].map((value, i) => ({
      at: ms('2026-11-16T08:00:00Z') + i * 900_000,
      value,
    }));
    const d = determinants(readings, {
      startMs: ms('2026-11-16T08:00:00Z'),
      endMs: ms('2026-11-16T09:00:00Z'),
    });
    expect(d.consumption).toEqual(rational(100));
    expect(d.decreases.map((x) => x.toValue)).toEqual([0, 100, 200]);
    expect(bandsOf(d).day).toEqual(wh(100, false, true));
  });

  it('extrapolates past the last reading at the recent rate, as an estimate', () => {
    // Monday 30 Nov 2026: 100 Wh per 15 min (400 Wh/h) until 22:00Z, then silence.
    //   night 7 h × 400 = 2,800; peak 3 h × 400 = 1,200 (measured)
    //   day 07–16 3,600 + 19–22 1,200 + 22–24 extrapolated 800 = 5,600 (estimated)
    const readings = readingSeries('2026-11-30T00:00:00Z', 15, 88, () => 100, 50_000);
    const d = determinants(readings, localDay(2026, 11, 30));
    expect(bandsOf(d)).toEqual({ night: wh(2800), day: wh(5600, true), peak: wh(1200) });
    expect(d.endExtrapolated).toBe(true);
    expect(d.endValue).toEqual(rational(50_000 + 8_800 + 800));
  });

  it('refuses a reading that is not a whole register value at a whole millisecond', () => {
    const window = localDay(2026, 11, 16);
    expect(() => determinants([{ at: window.startMs, value: 1.5 }], window)).toThrow(BillingError);
    expect(() => determinants([{ at: Number.NaN, value: 1 }], window)).toThrow(
      /integer epoch-ms time/,
    );
  });

  it('gives the same determinants whatever order the readings arrive in', () => {
    const readings = readingSeries('2026-11-16T00:00:00Z', 15, 96, (i) => (i * 37) % 101);
    const shuffled = [...readings].reverse();
    const window = localDay(2026, 11, 16);
    expect(determinants(shuffled, window)).toEqual(determinants(readings, window));
  });
});

/** A small deterministic PRNG (mulberry32), so property cases are reproducible. */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

function messyReadings(seed: number): RegisterReading[] {
  const random = prng(seed);
  const out: RegisterReading[] = [];
  let value = Math.floor(random() * 1e6);
  for (let t = ms('2026-10-18T00:00:00Z'); t < ms('2026-11-08T00:00:00Z'); t += 900_000) {
    const r = random();
    if (r < 0.05) continue; // a missing reading: a gap
    value += r < 0.07 ? -Math.floor(random() * 300) : Math.floor(random() * 500); // sometimes a fall
    out.push({ at: t + Math.floor(random() * 60_000), value: Math.max(0, value) });
  }
  return out;
}

describe('consumption properties', () => {
  it('never changes the total or a band when a period is split into parts', () => {
    for (let seed = 1; seed <= 12; seed++) {
      const random = prng(seed * 7919);
      const readings = messyReadings(seed);
      // Across the autumn DST change; starting before the first reading, ending after the last.
      const start = ms('2026-10-15T00:00:00Z');
      const end = ms('2026-11-10T00:00:00Z');
      const cuts = Array.from(
        { length: 6 },
        () => start + Math.floor(random() * (end - start)),
      ).sort((a, b) => a - b);
      const edges = [start, ...cuts, end];
      const whole = determinants(readings, { startMs: start, endMs: end });
      const bands: Rational[] = whole.bands.map(() => ZERO);
      let total = ZERO;
      for (let i = 1; i < edges.length; i++) {
        const part = determinants(readings, { startMs: edges[i - 1] ?? 0, endMs: edges[i] ?? 0 });
        total = addRational(total, part.consumption);
        part.bands.forEach((b, j) => (bands[j] = addRational(bands[j] ?? ZERO, b.quantity)));
      }
      expect([seed, total]).toEqual([seed, whole.consumption]);
      expect(bands).toEqual(whole.bands.map((b) => b.quantity));
    }
  });

  it('bills register(end) − register(start) when the register only rises', () => {
    for (let seed = 1; seed <= 6; seed++) {
      const rising = messyReadings(seed).reduce<RegisterReading[]>((acc, r) => {
        const prev = acc[acc.length - 1];
        acc.push({ at: r.at, value: Math.max(r.value, prev?.value ?? 0) });
        return acc;
      }, []);
      const d = determinants(rising, {
        startMs: ms('2026-10-20T05:17:00Z'),
        endMs: ms('2026-11-02T13:01:00Z'),
      });
      expect(d.startValue && d.endValue).toBeTruthy();
      expect(
        equalRational(d.consumption, subRational(d.endValue ?? ZERO, d.startValue ?? ZERO)),
      ).toBe(true);
    }
  });
});

describe('consumption rating', () => {
  it('rates March 2026 (743 local hours) into band lines and a standing charge, each rounded once', () => {
    // 1,000 Wh per real hour all month. The London month is 1 Mar 00:00Z → 31 Mar 23:00Z: 743 h.
    // 1 Mar 2026 is a Sunday: 22 weekdays, 9 weekend days; 29 Mar loses a night hour.
    //   night: 31 × 7 − 1 = 216 kWh × 12.5 = 2,700
    //   peak:  22 × 3     =  66 kWh × 38   = 2,508
    //   day:   22 × 14 + 9 × 17 = 461 kWh × 24.5 = 11,294.5 → half-even 11,294
    //   standing: 31 days × 53.35 = 1,653.85 → 1,654
    const readings = readingSeries('2026-02-28T23:45:00Z', 15, 4 * (743 + 1) + 1, () => 250);
    const { lines, issues } = rateConsumption({
      meterId: 'EM-0000001',
      customerId: 'CUST-17',
      period: '2026-03',
      tariff: tou,
      readings: { energy_import_wh: readings },
      reportIntervalS: QUARTER_HOUR_S,
    });
    expect(issues).toEqual([]);
    expect(
      lines.map((l) => [
        l.chargeId,
        l.quantity,
        l.unit,
        l.amountMinor,
        l.amountExactMinor,
        l.flags,
      ]),
    ).toEqual([
      ['EM-0000001/2026-03/consumption/energy_import_wh/day', 461, 'kWh', 11294, '22589/2', []],
      ['EM-0000001/2026-03/consumption/energy_import_wh/night', 216, 'kWh', 2700, '2700', []],
      ['EM-0000001/2026-03/consumption/energy_import_wh/peak', 66, 'kWh', 2508, '2508', []],
      ['EM-0000001/2026-03/consumption/standing', 31, 'day', 1654, '33077/20', []],
    ]);
    expect(lines.every((l) => l.currency === 'GBP' && l.tariffId === 'residential-tou')).toBe(true);
  });

  it('estimates a month without a single reading from the readings either side of it', () => {
    // Silent from 28 Feb 00:00Z to 2 Apr 00:00Z (792 h) at 1,000 Wh an hour: the London month
    // of March 2026 (743 h) is interpolated from the two, all of it an estimate.
    const { lines } = rateConsumption({
      meterId: 'EM-0000001',
      period: '2026-03',
      tariff: sampleTariff('flat'),
      readings: {
        energy_import_wh: [
          { at: ms('2026-02-28T00:00:00Z'), value: 5_000 },
          { at: ms('2026-04-02T00:00:00Z'), value: 5_000 + 792_000 },
        ],
      },
      reportIntervalS: QUARTER_HOUR_S,
    });
    const consumption = lines.filter((l) => l.register === 'energy_import_wh');
    expect(consumption.reduce((sum, l) => sum + l.quantity, 0)).toBe(743);
    expect(consumption.every((l) => l.estimated && l.flags.includes('estimated'))).toBe(true);
  });

  it('rates October 2026 (745 local hours, the autumn change) into band lines', () => {
    // 1,000 Wh per real hour. The London month is 30 Sep 23:00Z → 1 Nov 00:00Z: 745 h.
    // 1 Oct 2026 is a Thursday: 22 weekdays, 9 weekend days; 25 Oct has a second 01:00–02:00.
    //   night: 31 × 7 + 1 = 218 kWh × 12.5 = 2,725
    //   peak:  22 × 3     =  66 kWh × 38   = 2,508
    //   day:   22 × 14 + 9 × 17 = 461 kWh × 24.5 = 11,294.5 → half-even 11,294
    const readings = readingSeries('2026-09-30T22:00:00Z', 15, 4 * (745 + 2), () => 250);
    const { lines } = rateConsumption({
      meterId: 'EM-0000001',
      period: '2026-10',
      tariff: tou,
      readings: { energy_import_wh: readings },
      reportIntervalS: QUARTER_HOUR_S,
    });
    expect(lines.map((l) => [l.band, l.quantity, l.amountMinor, l.estimated])).toEqual([
      ['day', 461, 11294, false],
      ['night', 218, 2725, false],
      ['peak', 66, 2508, false],
      ['standing', 31, 1654, false],
    ]);
  });

  it('charges standing days from the first reading and rounds their .5 to even', () => {
    const rateNov = (fromIso: string, period = '2026-11') =>
      rateConsumption({
        meterId: 'EM-0000002',
        period,
        tariff: tou,
        readings: { energy_import_wh: readingSeries(fromIso, 60, 24 * 45, () => 0) },
        reportIntervalS: 3600,
      }).lines.find((l) => l.band === 'standing');
    // 30 days × 53.35 = 1,600.5 → 1,600 (even); 10 days (21–30 Nov) = 533.5 → 534 (even).
    expect(rateNov('2026-10-20T00:00:00Z')).toMatchObject({ quantity: 30, amountMinor: 1600 });
    expect(rateNov('2026-11-21T09:30:00Z')).toMatchObject({ quantity: 10, amountMinor: 534 });
    // February 2028: 29 days × 53.35 = 1,547.15 → 1,547.
    expect(rateNov('2028-01-20T00:00:00Z', '2028-02')).toMatchObject({
      quantity: 29,
      amountMinor: 1547,
    });
  });

  it('flags the lines a register decrease and an extrapolated end touched', () => {
    const readings = [1000, 1100, 1050, 1200, 1300].map((value, i) => ({
      at: ms('2026-11-30T00:00:00Z') + i * 900_000,
      value,
    }));
    const { lines } = rateConsumption({
      meterId: 'EM-0000003',
      period: '2026-11',
      tariff: tou,
      readings: { energy_import_wh: readings },
      reportIntervalS: QUARTER_HOUR_S,
    });
    const night = lines.find((l) => l.band === 'night');
    expect(night?.flags).toEqual(['estimated', 'register_decrease']);
    expect(night?.estimated).toBe(true);
  });

  it('reports registers the tariff does not bill and billed registers without readings', () => {
    const { lines, issues } = rateConsumption({
      meterId: 'EM-0000004',
      period: '2026-11',
      tariff: tou,
      readings: { energy_export_wh: readingSeries('2026-11-01T00:00:00Z', 15, 10, () => 5) },
      reportIntervalS: QUARTER_HOUR_S,
    });
    expect(lines).toEqual([]);
    expect(issues.map((i) => [i.code, i.register])).toEqual([
      ['register_not_billed', 'energy_export_wh'],
      ['no_readings', 'energy_import_wh'],
    ]);
  });

  it('yields identical lines, ids included, when a period is rated again', () => {
    const input = {
      meterId: 'EM-0000005',
      period: '2026-10',
      tariff: tou,
      readings: { energy_import_wh: messyReadings(3) },
      reportIntervalS: QUARTER_HOUR_S,
    };
    const first = rateConsumption(input).lines;
    expect(first.length).toBeGreaterThan(0);
    expect(rateConsumption({ ...input }).lines).toEqual(first);
  });
});
