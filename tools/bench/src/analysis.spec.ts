import { DeliveryCounter } from './analysis';
import { benchMeterId, benchMeterIndex } from './fleet';
import { Schedule } from './schedule';

const schedule = (over: Partial<ConstructorParameters<typeof Schedule>[0]> = {}): Schedule =>
  new Schedule({ ratePerS: 1000, durationS: 2, meters: 10, seqBase: 5000, startMs: 1e12, ...over });

describe('DeliveryCounter', () => {
  const meterOfKey = (key: Buffer): number => benchMeterIndex(key.toString(), false);
  const rec = (s: Schedule, i: number): [Buffer, Buffer] => [
    Buffer.from(benchMeterId(s.meterOf(i), false)),
    Buffer.from(`{"x":1,"seq":${s.seqOf(i)}}`),
  ];

  it('finds lost, duplicated and foreign records and measures from the scheduled time', () => {
    const s = schedule();
    const counter = new DeliveryCounter(s, 0, meterOfKey);
    for (let i = 0; i < s.total; i++) {
      if (i === 7) continue; // lost
      const [k, v] = rec(s, i);
      counter.record(k, v, Math.ceil(s.scheduledMs(i)) + 3);
      if (i === 11) counter.record(k, v, Math.ceil(s.scheduledMs(i)) + 50); // duplicate
    }
    counter.record(Buffer.from('someone-else'), Buffer.from('{"seq":1}'), 1e12);
    counter.record(Buffer.from(benchMeterId(1, false)), Buffer.from('{"seq":1}'), 1e12);
    const r = counter.report();
    expect(r).toMatchObject({
      expected: 2000,
      delivered: 1999,
      lost: 1,
      duplicated: 1,
      foreign: 2,
    });
    expect(r.latencyMs.p50).toBeGreaterThanOrEqual(3);
    expect(r.latencyMs.max).toBeLessThan(4);
    expect(r.deliveredRatePerS).toBeGreaterThan(990);
    expect(r.deliveredRatePerS).toBeLessThan(1001);
  });

  it('reports the append rate of a saturated system, not the offered one', () => {
    const s = schedule({ ratePerS: 1000, durationS: 10, meters: 10 });
    const counter = new DeliveryCounter(s, 2, meterOfKey);
    // Kafka takes only 500 msg/s: message i is appended at i × 2 ms.
    for (let i = 0; i < s.total; i++) counter.record(...rec(s, i), s.startMs + i * 2);
    const r = counter.report();
    expect(r.deliveredRatePerS).toBeCloseTo(500, -1);
    expect(r.lost).toBe(0);
    expect(r.drainMs).toBeCloseTo(10_000, -2);
  });
});
