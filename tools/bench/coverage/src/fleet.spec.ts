import { meterConnectivityRecordSchema, fleetMeterRecordSchema } from '@meterlink/contracts';
import { benchMeter, connectivityRecord, fleetRecord } from './fleet';

const shape = { meters: 1_000_000, silentMeters: 2_000, degraders: 3_000 };

describe('bench fleet', () => {
  it('gives every meter a 16-character id and a valid fleet and connectivity record', () => {
    for (const index of [0, 2_500, 999_999]) {
      const m = benchMeter(index, shape);
      expect(m.meterId).toHaveLength(16);
      expect(fleetMeterRecordSchema.safeParse(fleetRecord(m)).success).toBe(true);
      expect(meterConnectivityRecordSchema.safeParse(connectivityRecord(m, 1, Date.now(), -90)).success).toBe(true);
    }
  });
  it('assigns roles by index and mixes kinds among the steady meters', () => {
    expect(benchMeter(0, shape)).toMatchObject({ role: 'silent', reportIntervalS: 30 });
    expect(benchMeter(2_000, shape)).toMatchObject({ role: 'degrader', kind: 'electricity' });
    const kinds = new Map<string, number>();
    for (let i = 5_000; i < 25_000; i++) {
      const { kind } = benchMeter(i, shape);
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    }
    expect(Object.fromEntries(kinds)).toEqual({ electricity: 12_000, gas: 5_000, water: 3_000 });
  });
  it('keeps ids unique', () => {
    const ids = new Set(Array.from({ length: 10_000 }, (_, i) => benchMeter(i, shape).meterId));
    expect(ids.size).toBe(10_000);
  });
});
