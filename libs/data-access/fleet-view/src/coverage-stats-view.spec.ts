import type { Kafka } from 'kafkajs';
import type { CoverageCarrierStatsRecord } from '@meterlink/contracts';
import { CoverageStatsView } from './coverage-stats-view';

const record = (
  carrierId: string,
  region: string,
  at: string,
  lost = 0,
): CoverageCarrierStatsRecord => ({
  eventId: '00000000-0000-4000-8000-000000000000',
  type: 'coverage.carrier-stats',
  at,
  carrierId,
  region,
  meters: 10,
  healthy: 10 - lost,
  degraded: 0,
  lost,
  slowMeters: 0,
});

describe('CoverageStatsView', () => {
  // apply() and region() are pure: the Kafka client is only touched by start().
  const view = () => new CoverageStatsView({} as Kafka, 'unit');

  it('keeps the newest count per carrier and region, whatever order they arrive in', () => {
    const v = view();
    v.apply(record('a', 'north', '2026-11-25T06:00:30.000Z', 3));
    v.apply(record('a', 'north', '2026-11-25T06:00:00.000Z', 7)); // a deposed leader's, late
    v.apply(record('b', 'north', '2026-11-25T06:00:30.000Z', 1));
    v.apply(record('a', 'south', '2026-11-25T06:00:30.000Z', 9));
    expect(
      v
        .region('north', 0)
        .map((r) => [r.carrierId, r.lost])
        .sort(),
    ).toEqual([
      ['a', 3],
      ['b', 1],
    ]);
    expect(v.region('south', 0).map((r) => r.lost)).toEqual([9]);
    expect(v.region('east', 0)).toEqual([]);
  });

  it('leaves out counts taken before the given time', () => {
    const v = view();
    v.apply(record('a', 'north', '2026-11-25T06:00:00.000Z'));
    v.apply(record('b', 'north', '2026-11-25T06:05:00.000Z'));
    const cutoff = Date.parse('2026-11-25T06:01:00.000Z');
    expect(v.region('north', cutoff).map((r) => r.carrierId)).toEqual(['b']);
  });
});
