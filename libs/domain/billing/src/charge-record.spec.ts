import { billingChargeRecordSchema } from '@meterlink/contracts';
import { buildEnableTimeline, rateConnectivity } from './connectivity';
import { toChargeRecord } from './charge-record';
import { correctionLine, diffChargeLines } from './rerate';
import { SAMPLE_CARRIER_TARIFFS } from './test-support/fixtures';

const rate = (bytes: number) =>
  rateConnectivity({
    meterId: 'EM-0000001',
    customerId: 'CUST-17',
    period: '2026-11',
    timeline: buildEnableTimeline([
      {
        at: Date.parse('2026-10-01T00:00:00Z'),
        iccid: '8944150000000000017',
        carrierId: 'carrier-a',
        source: 'first-seen',
      },
    ]),
    usage: [{ at: Date.parse('2026-11-02T00:00:00Z'), carrierId: 'carrier-a', bytes }],
    operations: [],
    tariffs: SAMPLE_CARRIER_TARIFFS,
  }).lines;

describe('billing.charges.v1 records', () => {
  it('match the topic contract, repeat their eventId for the same line and change it for a correction', () => {
    const [data, subscription] = rate(2_000_000);
    if (!data || !subscription) throw new Error('expected two lines');
    const record = toChargeRecord(data, '2026-12-01T00:05:00Z');
    expect(billingChargeRecordSchema.parse(record)).toEqual(record);
    expect(record).toMatchObject({
      type: 'connectivity.data',
      chargeId: 'EM-0000001/2026-11/connectivity.data/carrier-a',
      quantity: 2,
      unit: 'MB',
      amountMinor: 50,
      currency: 'EUR',
      carrierId: 'carrier-a',
      customerId: 'CUST-17',
      estimated: false,
    });
    // Re-rated later with the same input: same eventId, whenever it is published.
    const [again] = rate(2_000_000);
    expect(again && toChargeRecord(again, '2026-12-02T00:00:00Z').eventId).toBe(record.eventId);
    // A late usage sample changes the line: a new eventId under the same chargeId.
    const [corrected] = rate(2_400_000);
    const correction = corrected && toChargeRecord(corrected, '2026-12-02T00:00:00Z');
    expect(correction?.chargeId).toBe(record.chargeId);
    expect(correction?.eventId).not.toBe(record.eventId);
    // A voided line is a correction too.
    const [removed] = diffChargeLines([data], [], 'meter_reassigned');
    const voided = removed && toChargeRecord(correctionLine(removed), '2026-12-02T00:00:00Z');
    expect(voided).toMatchObject({ amountMinor: 0, quantity: 0, chargeId: record.chargeId });
    expect(voided?.eventId).not.toBe(record.eventId);
    expect(toChargeRecord(subscription, record.at).eventId).not.toBe(record.eventId);
  });
});
