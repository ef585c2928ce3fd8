import { BillingError } from './billing.error';
import { compileTariff, MINUTES_PER_WEEK } from './tariff';
import { sampleTariffs } from './test-support/fixtures';

const base = {
  tariffId: 't',
  currency: 'GBP',
  timeZone: 'Europe/London',
  billingPeriod: 'calendar-month',
  registers: { energy_import_wh: { unit: 'kWh', divisor: 1000 } },
};
const messageOf = (definition: unknown): string => {
  try {
    compileTariff(definition);
  } catch (e) {
    if (e instanceof BillingError && e.code === 'invalid_tariff') return e.message;
    throw e;
  }
  throw new Error('accepted');
};

describe('tariffs', () => {
  it('loads the sample file with the tariffs the simulator and benchmarks name', () => {
    const tariffs = sampleTariffs();
    expect([...tariffs.keys()].sort()).toEqual([
      'flat',
      'gas-standard',
      'residential-tou',
      'water-standard',
    ]);
    const tou = tariffs.get('residential-tou');
    expect(tou?.bandNames).toEqual(['night', 'day', 'peak']);
    expect(tou?.bandPrices).toEqual([
      { n: 25n, d: 2n },
      { n: 49n, d: 2n },
      { n: 38n, d: 1n },
    ]);
    // Monday 16:00 is peak, Saturday 16:00 is day, Sunday 06:59 is night.
    const at = (day: number, hh: number, mm: number) =>
      tou?.bandNames[tou.bandAt[day * 1440 + hh * 60 + mm] ?? 99];
    expect([at(0, 16, 0), at(5, 16, 0), at(6, 6, 59), at(4, 19, 0)]).toEqual([
      'peak',
      'day',
      'night',
      'day',
    ]);
    expect(tou?.bandRunEnd[0]).toBe(7 * 60);
    expect(tariffs.get('flat')?.bandRunEnd[0]).toBe(MINUTES_PER_WEEK);
  });

  it('accepts a window that wraps past midnight on the same day', () => {
    const t = compileTariff({
      ...base,
      bands: [
        { name: 'night', days: 'all', from: '23:00', to: '07:00', priceMinorPerUnit: 10 },
        { name: 'day', days: 'all', from: '07:00', to: '23:00', priceMinorPerUnit: 20 },
      ],
    });
    expect(t.bandAt[23 * 60]).toBe(0);
    expect(t.bandAt[6 * 60 + 59]).toBe(0);
    expect(t.bandAt[7 * 60]).toBe(1);
  });

  it('refuses overlapping bands, uncovered minutes, two prices for one band and unknown zones', () => {
    expect(
      messageOf({
        ...base,
        bands: [
          { name: 'a', days: 'all', from: '00:00', to: '24:00', priceMinorPerUnit: 1 },
          { name: 'b', days: ['tue'], from: '10:00', to: '11:00', priceMinorPerUnit: 2 },
        ],
      }),
    ).toContain('bands overlap at tue 10:00');
    expect(
      messageOf({
        ...base,
        bands: [{ name: 'a', days: 'weekdays', from: '00:00', to: '24:00', priceMinorPerUnit: 1 }],
      }),
    ).toContain('no band covers sat 00:00');
    expect(
      messageOf({
        ...base,
        bands: [
          { name: 'a', days: 'weekdays', from: '00:00', to: '24:00', priceMinorPerUnit: 1 },
          { name: 'a', days: 'weekends', from: '00:00', to: '24:00', priceMinorPerUnit: 2 },
        ],
      }),
    ).toContain('band a has two prices');
    expect(
      messageOf({
        ...base,
        timeZone: 'Europe/Atlantis',
        bands: [{ name: 'a', days: 'all', from: '00:00', to: '24:00', priceMinorPerUnit: 1 }],
      }),
    ).toContain('unknown time zone Europe/Atlantis');
    expect(
      messageOf({
        ...base,
        bands: [
          { name: 'standing', days: 'all', from: '00:00', to: '24:00', priceMinorPerUnit: 1 },
        ],
      }),
    ).toContain('standing');
  });
});
