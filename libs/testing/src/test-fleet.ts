import { randomBytes, randomUUID } from 'node:crypto';
import {
  SPEC_SAMPLE_CARRIERS,
  type CarrierCatalogue,
  type FleetMeterRecord,
  type ManifestLine,
} from '@meterlink/contracts';
import { generateEcKeyPair, privateKeyFromJwk, signCompact, type EcJwk } from '@meterlink/jws';

export interface TestMeter {
  line: ManifestLine;
  privateJwk: EcJwk;
  /** Signs a payload as this meter (device-interface §5). */
  sign(payload: unknown): string;
}

/** provisioning.md's sample catalogue: south names carrier-c, which the catalogue does not describe. */
export const TEST_CATALOGUE: CarrierCatalogue = {
  carriers: [...SPEC_SAMPLE_CARRIERS],
  regions: [
    { region: 'north', carriers: ['carrier-a', 'carrier-b'] },
    { region: 'south', carriers: ['carrier-b', 'carrier-c'] },
  ],
};

let serial = Math.floor(Math.random() * 1e9);
const digits = (n: number, width: number): string => String(n).padStart(width, '0').slice(-width);

/** Meters with unique ids, EIDs and ICCIDs per call, so test runs never collide in shared state. */
export function testMeters(count: number, overrides: Partial<ManifestLine> = {}): TestMeter[] {
  const run = randomBytes(3).toString('hex');
  return Array.from({ length: count }, (_, i) => {
    serial++;
    const { privateJwk, publicJwk } = generateEcKeyPair();
    const line: ManifestLine = {
      meterId: `T-${run}-${i}`,
      eid: `8904903200000000${digits(serial, 16)}`,
      kind: 'electricity',
      region: 'north',
      customerId: 'CUST-TEST',
      tariffId: 'flat',
      reportIntervalS: 60,
      signedTelemetry: false,
      rollbackWindowS: 30,
      fallbackDelayS: 3600,
      devicePublicKeyJwk: { kty: 'EC', crv: 'P-256', x: publicJwk.x, y: publicJwk.y },
      mqttPassword: randomBytes(18).toString('base64url'),
      profiles: [
        {
          iccid: `894415${digits(serial, 13)}`,
          carrierId: 'carrier-a',
          state: 'enabled',
          fallback: false,
        },
        {
          iccid: `894420${digits(serial, 13)}`,
          carrierId: 'carrier-b',
          state: 'disabled',
          fallback: true,
        },
      ],
      ...overrides,
    };
    const key = privateKeyFromJwk(privateJwk);
    return {
      line,
      privateJwk,
      sign: (payload: unknown) => signCompact(payload, key, line.meterId),
    };
  });
}

/** The fleet record the registry publishes for an imported, active test meter. */
export function fleetRecordOf(meter: TestMeter): FleetMeterRecord {
  const { mqttPassword: _secret, ...line } = meter.line;
  void _secret;
  return {
    ...line,
    eventId: randomUUID(),
    type: 'fleet.meter',
    at: new Date().toISOString(),
    status: 'active',
    revision: 1,
  };
}

export function manifestOf(meters: TestMeter[]): string {
  return meters.map((m) => JSON.stringify(m.line)).join('\n') + '\n';
}

/** A telemetry message's `radio`: good NB-IoT coverage in one fixed cell, on `iccid`. */
function testRadio(iccid: string): Record<string, unknown> {
  return {
    rat: 'nbiot',
    iccid,
    plmn: '23415',
    cellId: '1A2B3C',
    rsrp: -95,
    rsrq: -10,
    sinr: 5,
    attachFailures: 0,
  };
}

/** A telemetry message of device-interface §2 with one reading. */
export function telemetryMessage(
  meter: TestMeter,
  seq: number,
  value = 1_000 + seq,
): Record<string, unknown> {
  const now = new Date().toISOString();
  const enabled = meter.line.profiles.find((p) => p.state === 'enabled')!;
  return {
    v: 1,
    seq,
    sentAt: now,
    kind: meter.line.kind,
    readings: [
      {
        at: now,
        register: meter.line.kind === 'electricity' ? 'energy_import_wh' : 'volume_l',
        value,
      },
    ],
    radio: testRadio(enabled.iccid),
    usage: { bytesUp: 300, bytesDown: 40 },
  };
}

/**
 * One fixed, valid telemetry message (device-interface §2) for unit tests that compare encoders
 * and validators byte for byte: the same values every run, a fresh object every call.
 */
export function sampleTelemetry(): Record<string, unknown> & {
  readings: Record<string, unknown>[];
  radio: Record<string, unknown>;
  usage: Record<string, unknown>;
} {
  return {
    v: 1,
    seq: 1764547200123,
    sentAt: '2026-11-01T00:15:01.000Z',
    kind: 'electricity',
    readings: [{ at: '2026-11-01T00:15:00.000Z', register: 'energy_import_wh', value: 1_000_050 }],
    radio: testRadio('8944100000000000017'),
    usage: { bytesUp: 420, bytesDown: 96 },
  };
}

/**
 * Values for a contract date-time field that fast paths must judge exactly as zod does: valid
 * instants of every accepted form and near misses (wrong types, impossible dates, bad offsets).
 */
export const DATETIME_VARIANTS: readonly unknown[] = [
  undefined,
  null,
  1764547200000,
  '',
  '2026-11-01',
  '2026-11-01T00:15:00Z',
  '2026-11-01T00:15:00.123456Z',
  '2026-11-01T00:15:00+01:00',
  '2026-11-01T00:15:00+24:00',
  '2026-11-01T00:15:00',
  '2026-11-01 00:15:00Z',
  '2026-11-31T00:15:00Z',
  '2028-02-29T00:00:00Z',
  '2026-02-29T00:00:00Z',
  '2026-11-01T24:00:00Z',
  '2026-11-01T00:15:60Z',
  '2026-11-01T00:15:00.Z',
  '2026-11-01T00:15:00z',
  '2026-11-01T00:15:00Z\n',
];
