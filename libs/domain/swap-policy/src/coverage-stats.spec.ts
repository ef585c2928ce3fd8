import { chooseTarget, DEFAULT_CHOOSE_TARGET_CONFIG } from './choose-target';
import { median, summarizeCoverage, type MeterCoverageSample } from './coverage-stats';

const meter = (
  carrierId: string,
  cellId: string | null,
  state: MeterCoverageSample['state'],
  rsrpDbm: number | null = -100,
): MeterCoverageSample => ({ carrierId, cellId, state, rsrpDbm });

describe('coverage stats for chooseTarget', () => {
  it.each<[number[], number | null]>([
    [[], null],
    [[-100], -100],
    [[-90, -110, -100], -100],
    [[-90, -100, -110, -120], -105],
  ])('median of %j is %s', (values, expected) => {
    expect(median(values)).toBe(expected);
  });

  it('counts each carrier’s meters in the region and in the meter’s cell', () => {
    const meters = [
      meter('carrier-a', 'c1', 'healthy', -95),
      meter('carrier-a', 'c1', 'degraded', -122),
      meter('carrier-a', 'c2', 'lost', -140),
      meter('carrier-b', 'c1', 'healthy', -90),
      meter('carrier-b', null, 'healthy', null),
    ];
    expect(summarizeCoverage(meters, 'c1')).toEqual({
      region: {
        // The lost meter's stale -140 is left out of the median.
        'carrier-a': { samples: 3, lost: 1, degraded: 1, medianRsrpDbm: -108.5 },
        'carrier-b': { samples: 2, lost: 0, degraded: 0, medianRsrpDbm: -90 },
      },
      cell: {
        'carrier-a': { samples: 2, lost: 0, degraded: 1, medianRsrpDbm: -108.5 },
        'carrier-b': { samples: 1, lost: 0, degraded: 0, medianRsrpDbm: -90 },
      },
    });
  });

  it('has no cell stats when the meter’s cell is unknown', () => {
    expect(summarizeCoverage([meter('carrier-a', 'c1', 'healthy')], null).cell).toEqual({});
  });

  it('feeds chooseTarget: a meter alone in trouble in a healthy cell is its own fault', () => {
    const cell = [
      ...Array.from({ length: 10 }, () => meter('carrier-a', 'c1', 'healthy')),
      meter('carrier-a', 'c1', 'degraded', -125),
      ...Array.from({ length: 10 }, () => meter('carrier-b', 'c1', 'healthy')),
    ];
    const decision = chooseTarget(
      {
        now: 1_000_000_000,
        cause: { kind: 'meter.degraded' },
        profiles: [
          { iccid: '1', carrierId: 'carrier-a', state: 'enabled' },
          { iccid: '2', carrierId: 'carrier-b', state: 'disabled' },
        ],
        regionCarriers: ['carrier-a', 'carrier-b'],
        carriersInOutage: new Set(),
        tariffs: {},
        coverage: summarizeCoverage(cell, 'c1'),
        power: { source: 'mains' },
        typicalMonthlyBytes: 0,
        hasActiveSwap: false,
        history: [],
      },
      DEFAULT_CHOOSE_TARGET_CONFIG,
    );
    expect(decision).toMatchObject({ action: 'none', reason: 'meter_fault' });
  });
});
