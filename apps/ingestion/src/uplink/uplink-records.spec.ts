import {
  TOPICS,
  stableEventId,
  telemetryMessageSchema,
  type MeterConnectivityRecord,
  type MeterReadingRecord,
  type TelemetryMessage,
} from '@meterlink/contracts';
import { jsonRecord, type OutgoingRecord } from '@meterlink/kafka';
import { uplinkRecords, type UplinkContext } from './uplink-records';
import { sampleTelemetry } from '@meterlink/testing';

/** The records as they were built before the JSON was written directly: objects + JSON.stringify. */
function reference(m: TelemetryMessage, ctx: UplinkContext): OutgoingRecord[] {
  const { meterId, receivedAt, correlationId } = ctx;
  const readings = m.readings.map((r, index) => {
    const record: MeterReadingRecord = {
      eventId: stableEventId('reading', meterId, m.seq, index),
      type: 'meter.reading',
      at: r.at,
      correlationId,
      meterId,
      kind: m.kind,
      register: r.register,
      value: r.value,
      seq: m.seq,
      receivedAt,
      sentAt: m.sentAt,
    };
    return jsonRecord(TOPICS.meterReadings, meterId, record);
  });
  const connectivity: MeterConnectivityRecord = {
    eventId: stableEventId('connectivity', meterId, m.seq),
    type: 'meter.connectivity',
    at: m.sentAt,
    correlationId,
    meterId,
    receivedAt,
    seq: m.seq,
    kind: m.kind,
    iccid: m.radio.iccid,
    carrierId: ctx.carrierOf(m.radio.iccid, m.radio.plmn),
    plmn: m.radio.plmn,
    rat: m.radio.rat,
    cellId: m.radio.cellId,
    rsrp: m.radio.rsrp,
    rsrq: m.radio.rsrq,
    sinr: m.radio.sinr,
    attachFailures: m.radio.attachFailures,
    bytesUp: m.usage.bytesUp,
    bytesDown: m.usage.bytesDown,
    ...(m.battery ? { batteryPct: m.battery.pct } : {}),
  };
  return [...readings, jsonRecord(TOPICS.meterConnectivity, meterId, connectivity)];
}

const base = sampleTelemetry();

const VARIANTS: unknown[] = [
  base,
  { ...base, battery: { pct: 0 } },
  { ...base, battery: { pct: 55.25 } },
  { ...base, battery: { pct: 100 } },
  { ...base, seq: 0, readings: [] },
  { ...base, seq: Number.MAX_SAFE_INTEGER },
  {
    ...base,
    readings: [
      { at: '2026-11-01T00:00:00+01:00', register: 'energy_import_wh', value: 0 },
      { at: '2026-11-01T00:15:00.123456Z', register: 'energy_export_wh', value: 2 ** 40 },
      { at: '2028-02-29T23:59:59Z', register: 'energy_import_wh', value: -0 },
    ],
  },
  {
    ...base,
    kind: 'water',
    sentAt: '2026-11-01T00:15:01-05:30',
    readings: [{ at: '2026-11-01T00:15:00Z', register: 'volume_l', value: 7 }],
  },
  {
    ...base,
    radio: {
      ...base.radio,
      rat: 'ltem',
      iccid: '8944100000000000017F',
      plmn: '234150',
      cellId: null,
      rsrp: null,
      rsrq: null,
      sinr: null,
      attachFailures: 12,
    },
  },
  {
    ...base,
    radio: { ...base.radio, cellId: '"\\\n\u0000\u2028é😀</', rsrp: -95.5, rsrq: -0, sinr: 1e-7 },
  },
  { ...base, radio: { ...base.radio, cellId: '', rsrp: 1e21, rsrq: -1.5e-300, sinr: 0.1 } },
  { ...base, usage: { bytesUp: 0, bytesDown: Number.MAX_SAFE_INTEGER } },
];

const CONTEXTS: UplinkContext[] = [
  {
    meterId: 'BB-202611-000001',
    receivedAt: '2026-11-01T00:15:02.345Z',
    correlationId: '0b8f0c3e-1a2b-4c3d-8e4f-5a6b7c8d9e0f',
    carrierOf: () => 'carrier-a',
  },
  {
    meterId: 'a.b_c-D',
    receivedAt: '2026-11-01T00:15:02.000Z',
    correlationId: 'ffffffff-ffff-4fff-bfff-ffffffffffff',
    carrierOf: () => null,
  },
  {
    meterId: 'bench-u0000001',
    receivedAt: new Date().toISOString(),
    correlationId: '00000000-0000-4000-8000-000000000000',
    carrierOf: (iccid, plmn) => `c-${iccid.length}-${plmn}`,
  },
];

/** What reaches Kafka: values and header values as UTF-8 text, whether a string or a Buffer. */
function asSent(r: OutgoingRecord): OutgoingRecord {
  const text = (v: unknown): string => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v));
  return {
    topic: r.topic,
    key: r.key,
    value: text(r.value),
    headers: Object.fromEntries(Object.entries(r.headers ?? {}).map(([k, v]) => [k, text(v)])),
  };
}

describe('uplinkRecords (telemetry)', () => {
  it('writes the very bytes, keys and headers that objects and JSON.stringify gave', () => {
    for (const variant of VARIANTS) {
      const message = telemetryMessageSchema.parse(variant);
      for (const ctx of CONTEXTS) {
        const records = uplinkRecords({ channel: 'telemetry', message }, ctx).map(asSent);
        expect(records).toStrictEqual(reference(message, ctx).map(asSent));
        for (const r of records)
          expect(() => JSON.parse(r.value as string) as unknown).not.toThrow();
      }
    }
  });
});
