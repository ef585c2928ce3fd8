import { generateKeyPairSync } from 'node:crypto';
import {
  telemetryMessageSchema,
  deviceEventMessageSchema,
  esipaUplinkMessageSchema,
} from './uplink';
import { parseUplinkTopic } from './mqtt-topics';
import { manifestLineSchema } from '../provisioning/manifest';

const telemetry = {
  v: 1,
  seq: 18231,
  sentAt: '2026-11-24T10:15:02Z',
  kind: 'electricity',
  readings: [
    { at: '2026-11-24T10:00:00Z', register: 'energy_import_wh', value: 12345678 },
    { at: '2026-11-24T10:15:00Z', register: 'energy_import_wh', value: 12345921 },
  ],
  radio: {
    rat: 'nbiot',
    iccid: '8944150000000000017',
    plmn: '23415',
    cellId: '1A2B3C',
    rsrp: -112,
    rsrq: -15,
    sinr: -1,
    attachFailures: 0,
  },
  battery: { pct: 93.5 },
  usage: { bytesUp: 420, bytesDown: 96 },
};

describe('device interface schemas', () => {
  it('accepts the telemetry example of device-interface §2', () => {
    expect(telemetryMessageSchema.safeParse(telemetry).success).toBe(true);
  });

  it('ignores unknown fields instead of rejecting them', () => {
    const parsed = telemetryMessageSchema.parse({
      ...telemetry,
      firmwareHint: 'x',
      radio: { ...telemetry.radio, band: 20 },
    });
    expect(parsed).not.toHaveProperty('firmwareHint');
  });

  it('accepts null radio measurements', () => {
    expect(
      telemetryMessageSchema.safeParse({
        ...telemetry,
        radio: { ...telemetry.radio, rsrp: null, rsrq: null, sinr: null },
      }).success,
    ).toBe(true);
  });

  it('refuses a register the meter kind does not have', () => {
    const gas = { ...telemetry, kind: 'gas' };
    expect(telemetryMessageSchema.safeParse(gas).success).toBe(false);
  });

  it('refuses more than 96 readings, a wrong version and a negative seq', () => {
    const many = Array.from({ length: 97 }, (_, i) => ({
      at: '2026-11-24T10:00:00Z',
      register: 'energy_import_wh',
      value: i,
    }));
    expect(telemetryMessageSchema.safeParse({ ...telemetry, readings: many }).success).toBe(false);
    expect(telemetryMessageSchema.safeParse({ ...telemetry, v: 2 }).success).toBe(false);
    expect(telemetryMessageSchema.safeParse({ ...telemetry, seq: -1 }).success).toBe(false);
  });

  it('accepts the event examples of §3 and the ESipa messages of §4.2', () => {
    expect(
      deviceEventMessageSchema.safeParse({
        v: 1,
        seq: 1,
        sentAt: '2026-11-24T10:00:00Z',
        type: 'alarm',
        code: 'tamper',
        at: '2026-11-24T10:00:00Z',
      }).success,
    ).toBe(true);
    expect(
      deviceEventMessageSchema.safeParse({
        v: 1,
        seq: 1,
        sentAt: '2026-11-24T10:00:00Z',
        type: 'boot',
        fw: '4.2.0',
        eid: '89049032000000000000000000000001',
        profiles: [{ iccid: '8944150000000000017', state: 'enabled', fallback: false }],
      }).success,
    ).toBe(true);
    expect(
      esipaUplinkMessageSchema.safeParse({
        v: 1,
        seq: 3,
        type: 'getEimPackage',
        eid: '89049032000000000000000000000001',
        notifyStateChange: true,
        stateChangeCause: 'fallback',
        rplmn: '23420',
      }).success,
    ).toBe(true);
    expect(
      esipaUplinkMessageSchema.safeParse({
        v: 1,
        seq: 4,
        type: 'profileDownloadResult',
        eimTransactionId: 't',
        seqNumber: 43,
        iccid: '8944150000000000017',
        result: 'installed',
      }).success,
    ).toBe(true);
  });

  it('parses only well-formed uplink topics', () => {
    expect(parseUplinkTopic('mtr/v1/EM-0000001/up/telemetry')).toEqual({
      ok: true,
      meterId: 'EM-0000001',
      channel: 'telemetry',
    });
    expect(parseUplinkTopic('mtr/v1/EM-0000001/up/other').ok).toBe(false);
    expect(parseUplinkTopic('mtr/v1/a/up/telemetry').ok).toBe(false);
    expect(parseUplinkTopic('mtr/v1/EM-0000001/down/esipa').ok).toBe(false);
  });
});

const { x, y } = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({
  format: 'jwk',
});
const devicePublicJwk = { kty: 'EC', crv: 'P-256', x, y };

describe('factory manifest line', () => {
  const line = {
    meterId: 'EM-0000001',
    eid: '89049032000000000000000000000001',
    kind: 'electricity',
    region: 'north',
    customerId: 'CUST-17',
    tariffId: 'residential-tou',
    reportIntervalS: 900,
    signedTelemetry: false,
    devicePublicKeyJwk: devicePublicJwk,
    mqttPassword: 'a-long-enough-secret',
    profiles: [
      { iccid: '8944150000000000017', carrierId: 'carrier-a', state: 'enabled', fallback: false },
      { iccid: '8944200000000000022', carrierId: 'carrier-b', state: 'disabled', fallback: true },
    ],
  };
  it('defaults rollbackWindowS to 600 and fallbackDelayS to 3600', () => {
    expect(manifestLineSchema.parse(line)).toMatchObject({
      rollbackWindowS: 600,
      fallbackDelayS: 3600,
    });
  });
  it('refuses a device key that is not a point on P-256', () => {
    const result = manifestLineSchema.safeParse({
      ...line,
      devicePublicKeyJwk: { ...devicePublicJwk, x: 'AAAA' },
    });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toBe('not a valid P-256 public key');
  });

  it('requires exactly one enabled profile and at most one fallback', () => {
    expect(
      manifestLineSchema.safeParse({
        ...line,
        profiles: line.profiles.map((p) => ({ ...p, state: 'enabled' })),
      }).success,
    ).toBe(false);
    expect(
      manifestLineSchema.safeParse({
        ...line,
        profiles: line.profiles.map((p) => ({ ...p, fallback: true })),
      }).success,
    ).toBe(false);
  });
});
