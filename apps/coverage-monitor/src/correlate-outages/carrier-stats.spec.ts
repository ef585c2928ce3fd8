import { TOPICS, coverageCarrierStatsRecordSchema } from '@meterlink/contracts';
import { carrierStatsRecord } from './carrier-stats';

describe('carrierStatsRecord', () => {
  const counts = {
    responsive: { ok: 30, degraded: 2, lost: 5 },
    slow: { ok: 8, degraded: 0, lost: 1 },
  };
  const at = Date.parse('2026-11-25T06:00:00.000Z');

  it('sums both reporting classes, keyed by carrier and region', () => {
    const out = carrierStatsRecord('carrier-a', 'north', counts, 'outage-1', at);
    expect(out.topic).toBe(TOPICS.coverageCarriers.name);
    expect(out.key).toBe('carrier-a/north');
    const value = coverageCarrierStatsRecordSchema.parse(JSON.parse(String(out.value)));
    expect(value).toMatchObject({
      type: 'coverage.carrier-stats',
      at: '2026-11-25T06:00:00.000Z',
      carrierId: 'carrier-a',
      region: 'north',
      meters: 46,
      healthy: 38,
      degraded: 2,
      lost: 6,
      slowMeters: 9,
      outageId: 'outage-1',
    });
  });

  it('names no outage when none is open, and the same count gets the same id', () => {
    const a = carrierStatsRecord('carrier-a', 'north', counts, undefined, at);
    const b = carrierStatsRecord('carrier-a', 'north', counts, undefined, at);
    const parse = (r: typeof a) =>
      coverageCarrierStatsRecordSchema.parse(JSON.parse(String(r.value)));
    expect(parse(a)).not.toHaveProperty('outageId');
    expect(parse(a).eventId).toBe(parse(b).eventId);
  });
});
