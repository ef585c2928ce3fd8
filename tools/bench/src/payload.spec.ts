import { telemetryMessageSchema } from '@meterlink/contracts';
import { benchMeterId, benchMeterIndex, benchMeters } from './fleet';
import { extractSeq, telemetryJson } from './payload';

describe('payload', () => {
  const [meter] = benchMeters(1, false);

  it('is device-interface §2 telemetry with the scheduled time to the millisecond', () => {
    const json = telemetryJson(meter!, 1234567890123, Date.UTC(2026, 10, 24, 10, 15, 2, 123.7));
    const parsed = telemetryMessageSchema.parse(JSON.parse(json));
    expect(parsed.sentAt).toBe('2026-11-24T10:15:02.123Z');
    expect(parsed.readings).toHaveLength(1);
    expect(json.length).toBeGreaterThan(280);
    expect(json.length).toBeLessThan(360);
    expect(Buffer.byteLength(json)).toBe(json.length);
  });

  it('reads seq out of a record without parsing it', () => {
    expect(extractSeq(Buffer.from('{"eventId":"x","value":12,"seq":987654321012,"a":1}'))).toBe(
      987654321012,
    );
    expect(extractSeq(Buffer.from('{"value":12}'))).toBe(-1);
    const body = Buffer.from('{"v":1,"seq":42}').toString('base64url');
    expect(extractSeq(Buffer.from(JSON.stringify({ jws: `e30.${body}.sig` })))).toBe(42);
  });

  it('round-trips bench meter ids', () => {
    expect(benchMeterIndex(benchMeterId(4711, false), false)).toBe(4711);
    expect(benchMeterIndex(benchMeterId(4711, true), false)).toBe(-1);
    expect(benchMeterIndex('T-abc-1', false)).toBe(-1);
  });
});
