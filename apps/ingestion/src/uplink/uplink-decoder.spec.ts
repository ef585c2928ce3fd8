import type { FleetMeterRecord } from '@meterlink/contracts';
import { PublicKeyCache, generateEcKeyPair, privateKeyFromJwk, signCompact } from '@meterlink/jws';
import { decodeUplink } from './uplink-decoder';

const keys = generateEcKeyPair();
const otherKeys = generateEcKeyPair();
const meter = (over: Partial<FleetMeterRecord> = {}): FleetMeterRecord => ({
  eventId: '00000000-0000-4000-8000-000000000000',
  type: 'fleet.meter',
  at: '2026-11-24T00:00:00Z',
  meterId: 'EM-0001',
  eid: '89049032000000000000000000000001',
  kind: 'electricity',
  region: 'north',
  customerId: 'C',
  tariffId: 'T',
  reportIntervalS: 900,
  signedTelemetry: false,
  rollbackWindowS: 600,
  fallbackDelayS: 3600,
  devicePublicKeyJwk: { kty: 'EC', crv: 'P-256', x: keys.publicJwk.x, y: keys.publicJwk.y },
  status: 'active',
  profiles: [
    { iccid: '8944150000000000017', carrierId: 'carrier-a', state: 'enabled', fallback: false },
  ],
  revision: 1,
  ...over,
});
const telemetry = {
  v: 1,
  seq: 7,
  sentAt: '2026-11-24T10:15:02Z',
  kind: 'electricity',
  readings: [{ at: '2026-11-24T10:15:00Z', register: 'energy_import_wh', value: 5 }],
  radio: {
    rat: 'nbiot',
    iccid: '8944150000000000017',
    plmn: '23415',
    cellId: '1',
    rsrp: -90,
    rsrq: -9,
    sinr: 8,
    attachFailures: 0,
  },
  usage: { bytesUp: 300, bytesDown: 0 },
};
const fleet = (m: FleetMeterRecord | undefined) => (id: string) =>
  m && id === m.meterId ? m : undefined;
const buf = (value: unknown): Buffer =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));
const topic = 'mtr/v1/EM-0001/up/telemetry';

describe('uplink decoding', () => {
  const cache = new PublicKeyCache();

  it('accepts valid telemetry from a registered meter', () => {
    const outcome = decodeUplink(topic, buf(telemetry), fleet(meter()), cache);
    expect(outcome).toMatchObject({
      ok: true,
      meterId: 'EM-0001',
      channel: 'telemetry',
      signed: false,
    });
  });

  it.each([
    ['payload_too_large', topic, buf('x'.repeat(16 * 1024 + 1)), meter()],
    ['unknown_topic', 'mtr/v1/EM-0001/up/other', buf(telemetry), meter()],
    ['unknown_topic', 'somewhere/else', buf(telemetry), meter()],
    ['unknown_meter', topic, buf(telemetry), undefined],
    ['meter_decommissioned', topic, buf(telemetry), meter({ status: 'decommissioned' })],
    ['malformed_payload', topic, buf('{not json'), meter()],
    ['malformed_payload', topic, buf('[1,2]'), meter()],
    // A seq of 7 and then a lone continuation byte: not UTF-8, never decoded with replacements.
    [
      'malformed_payload',
      topic,
      Buffer.concat([buf('{"v":1,"seq":7,"x":"'), Buffer.from([0x80]), buf('"}')]),
      meter(),
    ],
    ['malformed_payload', topic, buf('abc.def'), meter()],
    ['schema_violation', topic, buf({ ...telemetry, seq: 'x' }), meter()],
    ['unsigned_not_allowed', topic, buf(telemetry), meter({ signedTelemetry: true })],
  ])('rejects with %s', (reason, t, payload, m) => {
    expect(decodeUplink(t, payload, fleet(m), cache)).toMatchObject({ ok: false, reason });
  });

  it('accepts signed telemetry verified with the meter’s own key', () => {
    const jws = signCompact(telemetry, privateKeyFromJwk(keys.privateJwk), 'EM-0001');
    expect(
      decodeUplink(topic, buf({ jws }), fleet(meter({ signedTelemetry: true })), cache),
    ).toMatchObject({ ok: true, signed: true });
  });

  it('accepts a bare compact JWS as the whole payload (device-interface §1)', () => {
    const jws = signCompact(telemetry, privateKeyFromJwk(keys.privateJwk), 'EM-0001');
    const outcome = decodeUplink(
      topic,
      buf(`${jws}\n`),
      fleet(meter({ signedTelemetry: true })),
      cache,
    );
    expect(outcome).toMatchObject({ ok: true, signed: true, channel: 'telemetry' });
    if (outcome.ok) expect(outcome.message.seq).toBe(7);
  });

  it('rejects a bare compact JWS signed by another key as bad_signature', () => {
    const jws = signCompact(telemetry, privateKeyFromJwk(otherKeys.privateJwk), 'EM-0001');
    expect(decodeUplink(topic, buf(jws), fleet(meter()), cache)).toMatchObject({
      ok: false,
      reason: 'bad_signature',
    });
  });

  it('rejects, rather than throws, when the registered device key is unusable', () => {
    const jws = signCompact(telemetry, privateKeyFromJwk(keys.privateJwk), 'EM-0001');
    const broken = meter({
      meterId: 'EM-0001',
      devicePublicKeyJwk: { kty: 'EC', crv: 'P-256', x: 'AAAA', y: 'AAAA' },
    });
    expect(decodeUplink(topic, buf({ jws }), fleet(broken), new PublicKeyCache())).toMatchObject({
      ok: false,
      reason: 'bad_signature',
    });
  });

  it('rejects a signature by another key as bad_signature', () => {
    const jws = signCompact(telemetry, privateKeyFromJwk(otherKeys.privateJwk), 'EM-0001');
    expect(decodeUplink(topic, buf({ jws }), fleet(meter()), cache)).toMatchObject({
      ok: false,
      reason: 'bad_signature',
    });
  });

  it('rejects a message signed as another meter as topic_owner_mismatch', () => {
    const jws = signCompact(telemetry, privateKeyFromJwk(keys.privateJwk), 'EM-0002');
    expect(decodeUplink(topic, buf({ jws }), fleet(meter()), cache)).toMatchObject({
      ok: false,
      reason: 'topic_owner_mismatch',
    });
  });
});
