import { coverageEventRecordSchema } from '@meterlink/contracts';
import { carrierEventRecord, meterEventRecord, withAttribution } from './coverage-events.publisher';

/**
 * coverage.events.v1's contract (platform-topics.md): `type`, `carrierId`, `region` and `at` on
 * every record, `meterId` on meter events. The monitor's records must pass it, and a consumer
 * decoding the topic must refuse a record without them.
 */
describe('coverage.events.v1 schema', () => {
  const at = Date.parse('2026-03-01T10:00:00Z');
  const meterEvent = meterEventRecord(
    'MTR-0001',
    {
      type: 'meter.lost',
      reason: 'silent_past_deadline',
      at,
      carrierId: 'carrier-a',
      region: 'north',
      iccid: '8944150000000000017',
    },
    { outageId: null },
  ).record;
  const outageOpened = (): Parameters<typeof carrierEventRecord>[2] => ({
    type: 'carrier.outage',
    outageId: 'outage-1',
    at,
    population: 40,
    unhealthy: 12,
    share: 0.3,
    baseline: 0.02,
    openedAt: at,
  });
  const carrierEvent = carrierEventRecord('carrier-a', 'north', outageOpened()).record;
  const without = (record: object, field: string): Record<string, unknown> =>
    Object.fromEntries(Object.entries(record).filter(([k]) => k !== field));
  const problems = (record: unknown): string[] => {
    const result = coverageEventRecordSchema.safeParse(record);
    return result.success ? [] : result.error.issues.map((i) => i.path.join('.'));
  };

  it('accepts what the monitor publishes, meter and carrier events alike', () => {
    expect(problems(meterEvent)).toEqual([]);
    expect(problems(carrierEvent)).toEqual([]);
    for (const type of ['meter.degraded', 'meter.restored'])
      expect(problems({ ...meterEvent, type })).toEqual([]);
    expect(problems({ ...carrierEvent, type: 'carrier.recovered' })).toEqual([]);
  });

  it('requires meterId on every meter event', () => {
    for (const type of ['meter.degraded', 'meter.lost', 'meter.restored'])
      expect(problems({ ...without(meterEvent, 'meterId'), type })).toEqual(['meterId']);
  });

  it('does not ask a carrier event for a meterId', () => {
    expect(carrierEvent).not.toHaveProperty('meterId');
    expect(problems({ ...carrierEvent, type: 'carrier.recovered' })).toEqual([]);
  });

  it('requires carrierId, region and at on every event, whatever its type', () => {
    for (const record of [meterEvent, carrierEvent, { ...carrierEvent, type: 'carrier.recovered' }])
      for (const field of ['carrierId', 'region', 'at', 'eventId'])
        expect(problems(without(record, field))).toEqual([field]);
  });

  it('carries on carrier.outage, not on extra meter events, the meters already unhealthy', () => {
    const since = at - 15 * 60_000;
    const outage = withAttribution(carrierEventRecord('carrier-a', 'north', outageOpened()), {
      since,
      meters: 11,
    });
    expect(outage.key).toBe('carrier-a/north');
    expect(outage.record).toMatchObject({
      type: 'carrier.outage',
      eventId: carrierEvent.eventId,
      attributedSince: new Date(since).toISOString(),
      attributedMeters: 11,
    });
    expect(problems(outage.record)).toEqual([]);
    expect(problems({ ...outage.record, attributedMeters: -1 })).toEqual(['attributedMeters']);
  });

  it('refuses a type outside the five', () => {
    expect(problems({ ...meterEvent, type: 'meter.flapping' })).toEqual(['type']);
  });
});
