import { buildEnableTimeline, rateConnectivity } from './connectivity';
import { carrierStatements, customerStatements } from './statements';
import { SAMPLE_CARRIER_TARIFFS } from './test-support/fixtures';

const ms = (iso: string): number => Date.parse(iso);

const meter = (meterId: string, customerId: string, swapAt: string | null, mb: number) =>
  rateConnectivity({
    meterId,
    customerId,
    period: '2026-11',
    timeline: buildEnableTimeline([
      {
        at: ms('2026-10-01T00:00:00Z'),
        iccid: '8944150000000000017',
        carrierId: 'carrier-a',
        source: 'first-seen',
      },
      ...(swapAt
        ? [
            {
              at: ms(swapAt),
              iccid: '8944200000000000022',
              carrierId: 'carrier-b',
              source: 'swap' as const,
            },
          ]
        : []),
    ]),
    usage: [{ at: ms('2026-11-02T00:00:00Z'), carrierId: 'carrier-a', bytes: mb * 1_000_000 }],
    operations: [],
    tariffs: SAMPLE_CARRIER_TARIFFS,
  }).lines;

describe('statements', () => {
  it('totals per carrier and per customer are sums of lines rounded once each', () => {
    // M1: carrier-a all month (60) + 0.5 MB × 25 = 12.5 → 12.
    // M2: carrier-a 1–11 Nov 00:00Z (10 d: 60 × 10/30 = 20), carrier-b 20 d (80 × 20/30 = 53.33 → 53),
    //     1.5 MB × 25 = 37.5 → 38.
    // carrier-a: 60 + 12 + 20 + 38 = 130; carrier-b: 53. CUST-1: 72; CUST-2: 20 + 53 + 38 = 111.
    const lines = [
      ...meter('EM-1', 'CUST-1', null, 0.5),
      ...meter('EM-2', 'CUST-2', '2026-11-11T00:00:00Z', 1.5),
    ];
    const carriers = carrierStatements(lines);
    expect(
      carriers.map((s) => [s.carrierId, s.period, s.currency, s.totalMinor, s.meters]),
    ).toEqual([
      ['carrier-a', '2026-11', 'EUR', 130, 2],
      ['carrier-b', '2026-11', 'EUR', 53, 1],
    ]);
    expect(
      carriers[0]?.byType.map((t) => [t.type, t.unit, t.quantity, t.amountMinor, t.lines]),
    ).toEqual([
      ['connectivity.data', 'MB', 2, 50, 2],
      ['connectivity.subscription', 's', 2_592_000 + 864_000, 80, 2],
    ]);
    const customers = customerStatements(lines);
    expect(customers.map((s) => [s.customerId, s.totalMinor, s.lines.length])).toEqual([
      ['CUST-1', 72, 2],
      ['CUST-2', 111, 3],
    ]);
  });
});
