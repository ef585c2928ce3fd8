import type { ChargeLine } from './charge-line';
import {
  buildEnableTimeline,
  downloadsFromSwaps,
  profileChangesFromSwaps,
  rateConnectivity,
  type CompletedOperation,
  type ProfileChange,
  type UsageSample,
} from './connectivity';
import { formatPeriod } from './period';
import { SAMPLE_CARRIER_TARIFFS } from './test-support/fixtures';

const A = { iccid: '8944150000000000017', carrierId: 'carrier-a' };
const B = { iccid: '8944200000000000022', carrierId: 'carrier-b' };
const ms = (iso: string): number => Date.parse(iso);

const rate = (
  period: string,
  changes: ProfileChange[],
  usage: UsageSample[] = [],
  operations: CompletedOperation[] = [],
) =>
  rateConnectivity({
    meterId: 'EM-0000001',
    customerId: 'CUST-17',
    period,
    timeline: buildEnableTimeline(changes),
    usage,
    operations,
    tariffs: SAMPLE_CARRIER_TARIFFS,
  });

const byId = (lines: ChargeLine[]) =>
  Object.fromEntries(
    lines.map((l) => [l.chargeId, { quantity: l.quantity, unit: l.unit, amount: l.amountMinor }]),
  );

describe('connectivity rating', () => {
  it('prorates a mid-month swap by the seconds on each carrier and charges data and the swap fee', () => {
    // November 2026: 30 days = 2,592,000 s. On carrier-b since October, swapped to carrier-a
    // on 16 Nov 08:00Z.
    //   carrier-b: 1 Nov 00:00 → 16 Nov 08:00 = 15 d 8 h = 1,324,800 s
    //              80 × 1,324,800 / 2,592,000 = 368/9 = 40.89 → 41
    //   carrier-a: 2,592,000 − 1,324,800 = 1,267,200 s
    //              60 × 1,267,200 / 2,592,000 = 88/3 = 29.33 → 29
    //   data b: 1,500,000 B = 1.5 MB × 18 = 27
    //   data a: 2,000,000 + 500,000 B = 2.5 MB × 25 = 62.5 → half-even 62
    //   swap fee: one completed enable on carrier-a × 20 = 20
    const { lines, issues } = rate(
      '2026-11',
      [
        { at: ms('2026-10-20T12:00:00Z'), ...B, source: 'first-seen' },
        { at: ms('2026-11-16T08:00:00Z'), ...A, source: 'swap' },
      ],
      [
        { at: ms('2026-10-31T23:59:59Z'), carrierId: 'carrier-b', bytes: 9_000_000 }, // October's
        { at: ms('2026-11-03T10:00:00Z'), carrierId: 'carrier-b', bytes: 1_500_000 },
        { at: ms('2026-11-17T10:00:00Z'), carrierId: 'carrier-a', bytes: 2_000_000 },
        { at: ms('2026-11-30T23:59:59Z'), carrierId: 'carrier-a', bytes: 500_000 },
      ],
      [{ kind: 'swap', at: ms('2026-11-16T08:00:00Z'), carrierId: 'carrier-a', operationId: 's1' }],
    );
    expect(issues).toEqual([]);
    expect(byId(lines)).toEqual({
      'EM-0000001/2026-11/connectivity.data/carrier-a': { quantity: 2.5, unit: 'MB', amount: 62 },
      'EM-0000001/2026-11/connectivity.data/carrier-b': { quantity: 1.5, unit: 'MB', amount: 27 },
      'EM-0000001/2026-11/connectivity.subscription/carrier-a': {
        quantity: 1_267_200,
        unit: 's',
        amount: 29,
      },
      'EM-0000001/2026-11/connectivity.subscription/carrier-b': {
        quantity: 1_324_800,
        unit: 's',
        amount: 41,
      },
      'EM-0000001/2026-11/connectivity.swap/carrier-a': {
        quantity: 1,
        unit: 'operation',
        amount: 20,
      },
    });
    const subB = lines.find((l) => l.chargeId.endsWith('subscription/carrier-b'));
    expect(subB).toMatchObject({
      amountExactMinor: '368/9',
      currency: 'EUR',
      customerId: 'CUST-17',
    });
  });

  it('counts the minutes of a swap rolled back the same day on the target carrier, without a swap fee', () => {
    // On carrier-a all November. A swap to carrier-b is dispatched 10 Nov 10:00:00Z; the eUICC
    // rolls back and the platform records it at 10:10:00Z: carrier-b enabled 600 s.
    //   carrier-b: 80 × 600 / 2,592,000 = 1/54 = 0.0185 → 0 (the line stays, for reconciliation)
    //   carrier-a: 60 × 2,591,400 / 2,592,000 = 4319/72 = 59.99 → 60
    const swap = {
      swapId: '0b0e4a8e-7c1a-4a8e-9a8e-000000000001',
      fromIccid: A.iccid,
      toIccid: B.iccid,
      fromCarrierId: A.carrierId,
      toCarrierId: B.carrierId,
      trigger: 'coverage' as const,
    };
    const { changes, operations } = profileChangesFromSwaps([
      { ...swap, state: 'requested', at: '2026-11-10T09:59:58Z' },
      { ...swap, state: 'dispatched', at: '2026-11-10T10:00:00Z' },
      { ...swap, state: 'rolled-back', at: '2026-11-10T10:10:00Z' },
      { ...swap, state: 'rolled-back', at: '2026-11-10T10:10:00Z' }, // a replayed record
    ]);
    expect(operations).toEqual([]);
    const { lines } = rate('2026-11', [
      { at: ms('2026-10-01T00:00:00Z'), ...A, source: 'first-seen' },
      ...changes,
    ]);
    expect(byId(lines)).toEqual({
      'EM-0000001/2026-11/connectivity.subscription/carrier-a': {
        quantity: 2_591_400,
        unit: 's',
        amount: 60,
      },
      'EM-0000001/2026-11/connectivity.subscription/carrier-b': {
        quantity: 600,
        unit: 's',
        amount: 0,
      },
    });
    expect(lines.map((l) => l.amountExactMinor)).toEqual(['4319/72', '1/54']);
  });

  it('prorates a swap the operator reverses the same day (a completed swap, then one back)', () => {
    // carrier-a, then carrier-b from 10 Nov 09:00Z, then carrier-a again from 21:00Z: 12 h on b.
    //   carrier-b: 80 × 43,200 / 2,592,000 = 4/3 = 1.33 → 1; swap fee 0 × 1 = 0
    //   carrier-a: 60 × 2,548,800 / 2,592,000 = 59 exactly; swap fee 20 × 1 = 20 (the swap back)
    const { lines } = rate(
      '2026-11',
      [
        { at: ms('2026-10-01T00:00:00Z'), ...A, source: 'first-seen' },
        { at: ms('2026-11-10T09:00:00Z'), ...B, source: 'swap' },
        { at: ms('2026-11-10T21:00:00Z'), ...A, source: 'rollback' },
      ],
      [],
      [
        { kind: 'swap', at: ms('2026-11-10T09:00:00Z'), carrierId: 'carrier-b', operationId: 's1' },
        { kind: 'swap', at: ms('2026-11-10T21:00:00Z'), carrierId: 'carrier-a', operationId: 's2' },
      ],
    );
    expect(byId(lines)).toEqual({
      'EM-0000001/2026-11/connectivity.subscription/carrier-a': {
        quantity: 2_548_800,
        unit: 's',
        amount: 59,
      },
      'EM-0000001/2026-11/connectivity.subscription/carrier-b': {
        quantity: 43_200,
        unit: 's',
        amount: 1,
      },
      'EM-0000001/2026-11/connectivity.swap/carrier-a': {
        quantity: 1,
        unit: 'operation',
        amount: 20,
      },
      'EM-0000001/2026-11/connectivity.swap/carrier-b': {
        quantity: 1,
        unit: 'operation',
        amount: 0,
      },
    });
  });

  it('charges the swap fee once per completed swap (device fallbacks included) to the carrier enabled', () => {
    const swap = {
      swapId: '0b0e4a8e-7c1a-4a8e-9a8e-000000000002',
      fromIccid: B.iccid,
      toIccid: A.iccid,
      fromCarrierId: B.carrierId,
      toCarrierId: A.carrierId,
      trigger: 'device-fallback' as const,
    };
    const { changes, operations } = profileChangesFromSwaps([
      { ...swap, state: 'completed', at: '2026-11-05T06:00:00Z' },
      { ...swap, state: 'completed', at: '2026-11-05T06:00:00Z' },
    ]);
    expect(changes).toEqual([{ at: ms('2026-11-05T06:00:00Z'), ...A, source: 'device-fallback' }]);
    expect(operations).toEqual([
      {
        kind: 'swap',
        at: ms('2026-11-05T06:00:00Z'),
        carrierId: 'carrier-a',
        operationId: swap.swapId,
      },
    ]);
    // The same operation reported twice (a replay) is one fee: 20, not 40.
    const { lines } = rate('2026-11', changes, [], [...operations, ...operations]);
    expect(byId(lines)['EM-0000001/2026-11/connectivity.swap/carrier-a']).toEqual({
      quantity: 1,
      unit: 'operation',
      amount: 20,
    });
  });

  it('prorates over the 29 days of February 2028, not 30', () => {
    // February 2028: 29 days = 2,505,600 s. carrier-a until 15 Feb 00:00Z (14 days), carrier-b after (15 days).
    //   carrier-a: 60 × 14/29 = 840/29 = 28.97 → 29   (a 30-day month would give 28)
    //   carrier-b: 80 × 15/29 = 1200/29 = 41.38 → 41  (a 30-day month would give 40)
    // A download on carrier-b on 29 Feb counts in February; usage at 1 Mar 00:00Z does not.
    const { lines } = rate(
      '2028-02',
      [
        { at: ms('2028-01-10T00:00:00Z'), ...A, source: 'first-seen' },
        { at: ms('2028-02-15T00:00:00Z'), ...B, source: 'swap' },
      ],
      [{ at: ms('2028-03-01T00:00:00Z'), carrierId: 'carrier-b', bytes: 1_000_000 }],
      [
        {
          kind: 'download',
          at: ms('2028-02-29T23:59:59Z'),
          carrierId: 'carrier-b',
          operationId: 'd1',
        },
      ],
    );
    expect(byId(lines)).toEqual({
      'EM-0000001/2028-02/connectivity.download/carrier-b': {
        quantity: 1,
        unit: 'operation',
        amount: 100,
      },
      'EM-0000001/2028-02/connectivity.subscription/carrier-a': {
        quantity: 1_209_600,
        unit: 's',
        amount: 29,
      },
      'EM-0000001/2028-02/connectivity.subscription/carrier-b': {
        quantity: 1_296_000,
        unit: 's',
        amount: 41,
      },
    });
    expect(lines.map((l) => l.amountExactMinor)).toEqual(['100', '840/29', '1200/29']);
  });

  it('charges exactly the monthly fee for every whole month on one carrier, whatever its length', () => {
    for (let year = 2026; year <= 2028; year++) {
      for (let month = 1; month <= 12; month++) {
        const period = formatPeriod(year, month);
        for (const [carrierId, tariff] of SAMPLE_CARRIER_TARIFFS) {
          const { lines } = rate(period, [
            {
              at: ms('2025-12-31T23:00:00Z'),
              iccid: '8944000000000000001',
              carrierId,
              source: 'first-seen',
            },
            // Another profile of the same carrier mid-month: still one line, still the whole fee.
            {
              at: ms(`${period}-13T17:26:41.123Z`),
              iccid: '8944000000000000002',
              carrierId,
              source: 'swap',
            },
          ]);
          expect([period, lines.map((l) => [l.amountMinor, l.amountExactMinor])]).toEqual([
            period,
            [[tariff.monthlyFeeMinor, String(tariff.monthlyFeeMinor)]],
          ]);
        }
      }
    }
  });

  it('yields the same lines and chargeIds when the same input is rated again', () => {
    const changes: ProfileChange[] = [
      { at: ms('2026-11-01T00:00:00Z'), ...A, source: 'first-seen' },
      { at: ms('2026-11-12T13:14:15Z'), ...B, source: 'swap' },
      { at: ms('2026-11-12T13:14:15Z'), ...B, source: 'swap' }, // the same change replayed
    ];
    const usage = [{ at: ms('2026-11-20T00:00:00Z'), carrierId: 'carrier-b', bytes: 123_456 }];
    const first = rate('2026-11', changes, usage);
    const again = rate('2026-11', [...changes].reverse().reverse(), [...usage]);
    expect(again).toEqual(first);
    expect(buildEnableTimeline(changes)).toHaveLength(2);
  });

  it('reports usage on an unknown ICCID and carriers without a tariff instead of charging them', () => {
    const { lines, issues } = rate(
      '2026-11',
      [
        {
          at: ms('2026-10-01T00:00:00Z'),
          iccid: '8944990000000000001',
          carrierId: 'carrier-z',
          source: 'first-seen',
        },
      ],
      [{ at: ms('2026-11-02T00:00:00Z'), carrierId: null, bytes: 42 }],
    );
    expect(lines).toEqual([]);
    expect(issues.map((i) => i.code).sort()).toEqual([
      'unattributed_usage',
      'unknown_carrier_tariff',
    ]);
  });

  describe('downloadsFromSwaps', () => {
    // The factory put A on the eUICC; X is carrier-b's profile, downloaded by the first swap.
    const X = { iccid: '8944200000000000099', carrierId: 'carrier-b' };
    const swap = (
      swapId: string,
      to: { iccid: string; carrierId: string },
      state: 'completed' | 'rolled-back',
      at: string,
      needsDownload?: boolean,
    ) => ({
      swapId,
      toIccid: to.iccid,
      toCarrierId: to.carrierId,
      state,
      at,
      ...(needsDownload === undefined ? {} : { needsDownload }),
    });
    const downloads = (records: Parameters<typeof downloadsFromSwaps>[0]) =>
      downloadsFromSwaps(records, [A.iccid]).map((d) => [d.operationId, d.carrierId, d.at]);

    it('charges one download per ICCID installed, not the swaps back to it', () => {
      expect(
        downloads([
          swap('s1', X, 'completed', '2026-11-03T10:00:00Z', true),
          swap('s2', A, 'completed', '2026-11-10T10:00:00Z', false),
          swap('s3', X, 'completed', '2026-11-20T10:00:00Z', false),
          swap('s4', A, 'completed', '2026-11-25T10:00:00Z', false),
        ]),
      ).toEqual([['s1:download', 'carrier-b', ms('2026-11-03T10:00:00Z')]]);
    });

    it('infers the download from the factory profiles when the records do not say', () => {
      expect(
        downloads([
          swap('s1', X, 'completed', '2026-11-03T10:00:00Z'),
          swap('s2', A, 'completed', '2026-11-10T10:00:00Z'),
          swap('s3', X, 'completed', '2026-11-20T10:00:00Z'),
        ]),
      ).toEqual([['s1:download', 'carrier-b', ms('2026-11-03T10:00:00Z')]]);
    });

    it('trusts needsDownload over the factory list, and charges at the first completed swap', () => {
      // X downloaded by a swap that was rolled back, then enabled without a new download.
      expect(
        downloads([
          swap('s1', X, 'rolled-back', '2026-11-03T10:00:00Z', true),
          swap('s3', X, 'completed', '2026-11-20T10:00:00Z', false),
        ]),
      ).toEqual([['s3:download', 'carrier-b', ms('2026-11-20T10:00:00Z')]]);
      // A profile the eIM did not download (it was on the eUICC already) is no download.
      expect(downloads([swap('s1', X, 'completed', '2026-11-03T10:00:00Z', false)])).toEqual([]);
    });
  });

  it('ends a decommissioned meter’s last interval at its end, and ignores changes after it', () => {
    const timeline = buildEnableTimeline(
      [
        { at: 1_000, ...A, source: 'first-seen' },
        { at: 5_000, ...B, source: 'swap' },
        { at: 9_000, ...A, source: 'swap' },
      ],
      8_000,
    );
    expect(timeline).toEqual([
      { ...A, fromMs: 1_000, toMs: 5_000 },
      { ...B, fromMs: 5_000, toMs: 8_000 },
    ]);
  });
});
