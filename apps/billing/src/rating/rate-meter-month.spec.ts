import { parseTariffFile, type ChargeLine } from '@meterlink/billing-domain';
import type { CarrierTariff } from '@meterlink/contracts';
import { rateMeterMonth, type RatingOutcome } from './rate-meter-month';
import type { MeterMonthInputs, SwapState } from './rating-inputs.repository';

const A = { iccid: '8944150000000000017', carrierId: 'carrier-a' };
/** carrier-b's profile the eIM downloads: not on the eUICC from the factory. */
const X = { iccid: '8944200000000000099', carrierId: 'carrier-b' };
const ms = (iso: string): number => Date.parse(iso);

const TARIFFS = parseTariffFile({
  tariffs: [
    {
      tariffId: 'flat',
      currency: 'EUR',
      timeZone: 'UTC',
      billingPeriod: 'calendar-month',
      registers: { energy_import_wh: { unit: 'kWh', divisor: 1000 } },
      bands: [{ name: 'all', days: 'all', from: '00:00', to: '24:00', priceMinorPerUnit: '10' }],
    },
  ],
});
const CARRIERS = new Map<string, CarrierTariff>([
  [
    'carrier-a',
    {
      currency: 'EUR',
      monthlyFeeMinor: 60,
      perMbMinor: 25,
      downloadFeeMinor: 150,
      swapFeeMinor: 20,
    },
  ],
  [
    'carrier-b',
    {
      currency: 'EUR',
      monthlyFeeMinor: 90,
      perMbMinor: 18,
      downloadFeeMinor: 100,
      swapFeeMinor: 30,
    },
  ],
]);

/** A meter first seen on carrier a in October 2026 (the factory put A and B on its eUICC). */
function inputs(period: string, over: Partial<MeterMonthInputs> = {}): MeterMonthInputs {
  return {
    meterId: 'EM-0000001',
    period,
    meter: {
      customerId: 'CUST-1',
      tariffId: 'flat',
      reportIntervalS: 3600,
      factoryIccids: [A.iccid, '8944200000000000022'],
      decommissionedAt: null,
    },
    readings: {},
    usage: [],
    firstSeen: { at: ms('2026-10-05T00:00:00Z'), ...A },
    swaps: [],
    ...over,
  };
}

const rated = (outcome: RatingOutcome): ChargeLine[] => {
  if (!outcome.ok) throw new Error(`not rated: ${outcome.blocked}`);
  return outcome.lines;
};
const amounts = (lines: ChargeLine[]) =>
  Object.fromEntries(lines.map((l) => [l.chargeId, l.amountMinor]));

describe('rateMeterMonth', () => {
  it('charges the whole subscription of a month the meter sent nothing in', () => {
    // November 2026: no reading, no usage, no swap; the profile enabled in October still is.
    expect(amounts(rated(rateMeterMonth(inputs('2026-11'), TARIFFS, CARRIERS)))).toEqual({
      'EM-0000001/2026-11/connectivity.subscription/carrier-a': 60,
    });
  });

  it('rates connectivity when the consumption tariff is unknown, and says consumption waits', () => {
    const outcome = rateMeterMonth(
      inputs('2026-11', {
        meter: { ...inputs('2026-11').meter!, tariffId: 'not-in-the-file' },
        readings: {
          energy_import_wh: [
            { at: ms('2026-11-01T00:00:00Z'), value: 1_000 },
            { at: ms('2026-12-01T00:00:00Z'), value: 5_000 },
          ],
        },
      }),
      TARIFFS,
      CARRIERS,
    );
    expect(outcome).toMatchObject({
      ok: true,
      consumptionBlocked: 'unknown_tariff:not-in-the-file',
    });
    expect(amounts(rated(outcome))).toEqual({
      'EM-0000001/2026-11/connectivity.subscription/carrier-a': 60,
    });
  });

  it('charges the download of a profile once, not again for a swap back to it', () => {
    const swap = (
      swapId: string,
      from: typeof A,
      to: typeof A,
      at: string,
      needsDownload: boolean,
    ): SwapState[] =>
      (['dispatched', 'completed'] as const).map((state, i) => ({
        swapId,
        fromIccid: from.iccid,
        toIccid: to.iccid,
        fromCarrierId: from.carrierId,
        toCarrierId: to.carrierId,
        trigger: 'operator',
        state,
        at: new Date(ms(at) + i * 60_000).toISOString(),
        needsDownload,
      }));
    // To X (downloaded), back to A, to X again (already on the eUICC: enabled, not downloaded).
    const lines = rated(
      rateMeterMonth(
        inputs('2026-11', {
          swaps: [
            ...swap('s1', A, X, '2026-11-03T10:00:00Z', true),
            ...swap('s2', X, A, '2026-11-10T10:00:00Z', false),
            ...swap('s3', A, X, '2026-11-20T10:00:00Z', false),
          ],
        }),
        TARIFFS,
        CARRIERS,
      ),
    );
    const download = lines.filter((l) => l.type === 'connectivity.download');
    expect(download.map((l) => [l.carrierId, l.quantity, l.amountMinor])).toEqual([
      ['carrier-b', 1, 100],
    ]);
  });

  it('ends the subscription at the decommissioning, and charges none after its month', () => {
    // Decommissioned 11 Nov 00:00Z: 10 of November's 30 days, 60 × 10 / 30 = 20.
    const decommissioned = (period: string) =>
      inputs(period, {
        meter: { ...inputs(period).meter!, decommissionedAt: ms('2026-11-11T00:00:00Z') },
      });
    const november = rated(rateMeterMonth(decommissioned('2026-11'), TARIFFS, CARRIERS));
    expect(amounts(november)).toEqual({
      'EM-0000001/2026-11/connectivity.subscription/carrier-a': 20,
    });
    expect(november[0]!.quantity).toBe(10 * 86_400);
    expect(rated(rateMeterMonth(decommissioned('2026-12'), TARIFFS, CARRIERS))).toEqual([]);
  });
});
