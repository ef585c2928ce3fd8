import {
  SPEC_SAMPLE_CARRIERS,
  carrierCatalogueSchema,
  isEidValid,
  isLuhnValid,
  manifestLineSchema,
  type ManifestLine,
} from '@meterlink/contracts';
import { privateKeyFromJwk, publicKeyFromJwk, signCompact, verifyCompact } from '@meterlink/jws';
import { generateFleet, type GeneratedFleet } from './fleet';
import { parseScenario, type ScenarioInput } from './scenario';

const input: ScenarioInput = {
  name: 'fleet-unit',
  seed: 42,
  speedup: 60,
  durationS: 14_400,
  catalogue: {
    carriers: [...SPEC_SAMPLE_CARRIERS],
    regions: [{ region: 'north', carriers: ['carrier-a', 'carrier-b'] }],
  },
  fleet: [
    {
      region: 'north',
      kind: 'electricity',
      carrierId: 'carrier-a',
      count: 12,
      reportIntervalS: 900,
      otherProfiles: ['carrier-b'],
      fallbackCarrierId: 'carrier-b',
      rollbackWindowS: 600,
      fallbackDelayS: 3600,
    },
    {
      region: 'north',
      kind: 'electricity',
      carrierId: 'carrier-b',
      count: 3,
      reportIntervalS: 900,
      signedTelemetry: true,
    },
    {
      region: 'south',
      kind: 'gas',
      carrierId: 'carrier-b',
      count: 4,
      reportIntervalS: 21_600,
      otherProfiles: ['carrier-a'],
      batteryPct: [20, 30],
    },
    {
      region: 'north',
      kind: 'water',
      carrierId: 'carrier-a',
      count: 2,
      reportIntervalS: 20,
      rollbackWindowS: 10,
    },
  ],
};
const scenario = parseScenario(input);

/** Everything except the cryptographic randomness (keys, passwords). */
function deterministicPart(fleet: GeneratedFleet): unknown {
  return {
    manifest: fleet.manifest.map(
      ({ devicePublicKeyJwk: _key, mqttPassword: _password, ...rest }) => rest,
    ),
    catalogue: fleet.catalogue,
    meters: fleet.state.meters.map(({ deviceKey: _key, mqttPassword: _password, ...rest }) => rest),
  };
}

describe('generateFleet', () => {
  const fleet = generateFleet(scenario);
  const byId = (id: string): ManifestLine => {
    const line = fleet.manifest.find((l) => l.meterId === id);
    if (!line) throw new Error(`no ${id}`);
    return line;
  };

  it('is deterministic for a seed, apart from keys and passwords', () => {
    expect(deterministicPart(generateFleet(scenario))).toEqual(deterministicPart(fleet));
    const other = generateFleet({ ...scenario, seed: 43 });
    expect(other.manifest[0]?.eid).not.toBe(fleet.manifest[0]?.eid);
    expect(other.manifest[0]?.profiles[0]?.iccid).not.toBe(fleet.manifest[0]?.profiles[0]?.iccid);
  });

  it('writes one valid provisioning line per meter and a valid catalogue', () => {
    expect(fleet.manifest).toHaveLength(21);
    for (const line of fleet.manifest)
      expect(manifestLineSchema.parse(JSON.parse(JSON.stringify(line)))).toEqual(line);
    expect(carrierCatalogueSchema.parse(fleet.catalogue)).toEqual(scenario.catalogue);
  });

  it('names meters by kind and region and gives each a checked EID and unique Luhn-valid ICCIDs', () => {
    expect(fleet.manifest.slice(0, 2).map((l) => l.meterId)).toEqual([
      'EM-north-0001',
      'EM-north-0002',
    ]);
    expect(fleet.manifest[12]?.meterId).toBe('EM-north-0013');
    expect(fleet.manifest[15]?.meterId).toBe('GM-south-0001');
    expect(fleet.manifest[19]?.meterId).toBe('WM-north-0001');
    expect(new Set(fleet.manifest.map((l) => l.meterId)).size).toBe(21);
    expect(new Set(fleet.manifest.map((l) => l.eid)).size).toBe(21);
    fleet.manifest.forEach((l) => expect(isEidValid(l.eid)).toBe(true));
    const iccids = fleet.manifest.flatMap((l) => l.profiles.map((p) => p.iccid));
    expect(new Set(iccids).size).toBe(iccids.length);
    iccids.forEach((iccid) => {
      expect(iccid).toMatch(/^89[0-9]{17}$/);
      expect(isLuhnValid(iccid)).toBe(true);
    });
  });

  it('enables the group carrier, leaves other profiles disabled and sets the fallback attribute as configured', () => {
    const em = byId('EM-north-0001');
    expect(
      em.profiles.map(({ carrierId, state, fallback }) => ({ carrierId, state, fallback })),
    ).toEqual([
      { carrierId: 'carrier-a', state: 'enabled', fallback: false },
      { carrierId: 'carrier-b', state: 'disabled', fallback: true },
    ]);
    expect(byId('EM-north-0013').profiles).toHaveLength(1);
    expect(byId('EM-north-0013').signedTelemetry).toBe(true);
    expect(byId('GM-south-0001').profiles.every((p) => !p.fallback)).toBe(true);
  });

  it('divides the manifest timings by speedup, rounded and at least 1 s', () => {
    expect(byId('EM-north-0001')).toMatchObject({
      reportIntervalS: 15,
      rollbackWindowS: 10,
      fallbackDelayS: 60,
    });
    expect(byId('GM-south-0001')).toMatchObject({
      reportIntervalS: 360,
      rollbackWindowS: 10,
      fallbackDelayS: 60,
    });
    expect(byId('WM-north-0001')).toMatchObject({ reportIntervalS: 1, rollbackWindowS: 1 });
    expect(
      fleet.state.meters.find((m) => m.meterId === 'GM-south-0001')?.fieldReportIntervalS,
    ).toBe(21_600);
  });

  it('keeps secrets and fresh counters in the fleet state, battery only for battery meters', () => {
    const passwords = fleet.manifest.map((l) => l.mqttPassword);
    expect(new Set(passwords).size).toBe(passwords.length);
    passwords.forEach((p) => expect(p.length).toBeGreaterThanOrEqual(24));
    for (const meter of fleet.state.meters) {
      const line = byId(meter.meterId);
      expect(meter.mqttPassword).toBe(line.mqttPassword);
      expect(meter.runtime).toMatchObject({
        seq: 0,
        seqNumber: 0,
        eimCounter: 0,
        pending: [],
        readings: [],
      });
      expect(meter.runtime.profiles).toEqual(line.profiles);
      if (meter.kind === 'electricity') expect(meter.runtime.batteryPct).toBeUndefined();
      else expect(meter.runtime.batteryPct).toBeGreaterThanOrEqual(0);
      // The private key in the state matches the public key in the manifest.
      const jws = signCompact(
        { probe: meter.meterId },
        privateKeyFromJwk(meter.deviceKey),
        meter.meterId,
      );
      expect(verifyCompact(jws, publicKeyFromJwk(line.devicePublicKeyJwk), meter.meterId).ok).toBe(
        true,
      );
    }
    const gasBattery = fleet.state.meters
      .filter((m) => m.kind === 'gas')
      .map((m) => m.runtime.batteryPct ?? -1);
    gasBattery.forEach((pct) => {
      expect(pct).toBeGreaterThanOrEqual(20);
      expect(pct).toBeLessThanOrEqual(30);
    });
    expect(JSON.stringify(fleet.manifest)).not.toContain('"d":');
  });
});
