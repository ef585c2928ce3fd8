import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  carrierCatalogueSchema,
  eidWithCheckDigits,
  makeIccid,
  manifestLineSchema,
  type CarrierCatalogue,
  type ManifestLine,
  type MeterKind,
} from '@meterlink/contracts';
import { generateEcKeyPair } from '@meterlink/jws';
import {
  fleetStateSchema,
  type FleetState,
  type FleetStateMeter,
  type SimProfile,
} from './fleet-state';
import { Prng } from './prng';
import { toRealSeconds, type Scenario } from './scenario';

export const MANIFEST_FILE = 'manifest.ndjson';
export const CATALOGUE_FILE = 'carriers.json';
export const FLEET_STATE_FILE = 'fleet-state.json';

const KIND_PREFIX: Readonly<Record<MeterKind, string>> = {
  electricity: 'EM',
  gas: 'GM',
  water: 'WM',
};
const DEFAULT_TARIFF: Readonly<Record<MeterKind, string>> = {
  electricity: 'residential-tou',
  gas: 'gas-standard',
  water: 'water-standard',
};
const EID_PREFIX = '89049032';

export const isBatteryPowered = (kind: MeterKind): boolean => kind !== 'electricity';

export interface GeneratedFleet {
  manifest: ManifestLine[];
  catalogue: CarrierCatalogue;
  state: FleetState;
}

/** Per-carrier ICCID issuer code (10 + position in the catalogue), part of every ICCID. */
export function issuerCodeOf(catalogue: CarrierCatalogue, carrierId: string): number {
  const index = catalogue.carriers.findIndex((c) => c.carrierId === carrierId);
  if (index < 0) throw new Error(`carrier ${carrierId} is not in the catalogue`);
  return 10 + index;
}

export interface GenerateOptions {
  /** Key pair and password sources, replaceable so that tests can compare two generations. */
  generateKeyPair?: typeof generateEcKeyPair;
  generatePassword?: () => string;
  /**
   * Goes into every meterId (`EM-<tag>-north-0001`), so that repeated runs against the same
   * platform (tests, demos) bring new meters instead of replaying old identities. Pair it with a
   * new scenario seed, which EIDs and ICCIDs derive from.
   */
  fleetTag?: string;
}

const defaultPassword = (): string => randomBytes(24).toString('base64url');

/**
 * Builds the fleet a scenario describes. Identities, profiles and starting values depend only on
 * the scenario (its seed); device keys and MQTT passwords are fresh cryptographic randomness.
 */
export function generateFleet(scenario: Scenario, options: GenerateOptions = {}): GeneratedFleet {
  const generateKeyPair = options.generateKeyPair ?? generateEcKeyPair;
  const generatePassword = options.generatePassword ?? defaultPassword;
  const catalogue = carrierCatalogueSchema.parse(scenario.catalogue);
  const eidFleetPart = Prng.derive(scenario.seed, 'eid').digits(6);
  const serialNext = new Map<string, number>();
  const nextIccid = (carrierId: string): string => {
    const next =
      serialNext.get(carrierId) ??
      Prng.derive(scenario.seed, 'iccid', carrierId).int(0, 399_999_999) * 1000;
    serialNext.set(carrierId, next + 1);
    return makeIccid(issuerCodeOf(catalogue, carrierId), next);
  };
  const idCounters = new Map<string, number>();
  const manifest: ManifestLine[] = [];
  const meters: FleetStateMeter[] = [];
  let meterIndex = 0;

  for (const group of scenario.fleet) {
    for (let i = 0; i < group.count; i++, meterIndex++) {
      const prefix = options.fleetTag
        ? `${KIND_PREFIX[group.kind]}-${options.fleetTag}-${group.region}`
        : `${KIND_PREFIX[group.kind]}-${group.region}`;
      const number = (idCounters.get(prefix) ?? 0) + 1;
      idCounters.set(prefix, number);
      const meterId = `${prefix}-${String(number).padStart(4, '0')}`;
      const rng = Prng.derive(scenario.seed, meterId, 'factory');
      const eid = eidWithCheckDigits(
        `${EID_PREFIX}${eidFleetPart}${String(meterIndex).padStart(16, '0')}`,
      );
      const profiles: SimProfile[] = [group.carrierId, ...group.otherProfiles].map(
        (carrierId, p) => ({
          iccid: nextIccid(carrierId),
          carrierId,
          state: p === 0 ? 'enabled' : 'disabled',
          fallback: carrierId === group.fallbackCarrierId,
        }),
      );
      const { privateJwk, publicJwk } = generateKeyPair();
      if (privateJwk.d === undefined) throw new Error('generated key pair has no private part');
      const mqttPassword = generatePassword();
      const reportIntervalS = toRealSeconds(group.reportIntervalS, scenario.speedup);
      const rollbackWindowS = toRealSeconds(group.rollbackWindowS, scenario.speedup);
      const fallbackDelayS = toRealSeconds(group.fallbackDelayS, scenario.speedup);
      const battery = isBatteryPowered(group.kind);

      manifest.push(
        manifestLineSchema.parse({
          meterId,
          eid,
          kind: group.kind,
          region: group.region,
          customerId: `CUST-${String(meterIndex + 1).padStart(7, '0')}`,
          tariffId: group.tariffId ?? DEFAULT_TARIFF[group.kind],
          reportIntervalS,
          signedTelemetry: group.signedTelemetry,
          rollbackWindowS,
          fallbackDelayS,
          devicePublicKeyJwk: { kty: 'EC', crv: 'P-256', x: publicJwk.x, y: publicJwk.y },
          mqttPassword,
          profiles,
        }),
      );
      meters.push({
        meterId,
        meterIndex,
        eid,
        kind: group.kind,
        region: group.region,
        signedTelemetry: group.signedTelemetry,
        fieldReportIntervalS: group.reportIntervalS,
        reportIntervalS,
        rollbackWindowS,
        fallbackDelayS,
        mqttPassword,
        deviceKey: { kty: 'EC', crv: 'P-256', x: privateJwk.x, y: privateJwk.y, d: privateJwk.d },
        runtime: {
          seq: 0,
          seqNumber: 0,
          eimCounter: 0,
          profiles,
          register: battery ? rng.int(10_000, 5_000_000) : rng.int(1_000_000, 50_000_000),
          ...(battery
            ? {
                batteryPct:
                  Math.round(rng.range(group.batteryPct[0], group.batteryPct[1]) * 10) / 10,
              }
            : {}),
          readings: [],
          pending: [],
          executed: [],
          downloads: [],
          downloadsInstalled: 0,
        },
      });
    }
  }

  const iccids = meters.flatMap((m) => m.runtime.profiles.map((p) => p.iccid));
  if (new Set(iccids).size !== iccids.length) throw new Error('generated ICCIDs collide');
  const state = fleetStateSchema.parse({
    version: 1,
    scenario: scenario.name,
    seed: scenario.seed,
    speedup: scenario.speedup,
    meters,
  });
  return { manifest, catalogue, state };
}

export interface FleetFiles {
  manifest: string;
  catalogue: string;
  state: string;
}

export function fleetFiles(dir: string): FleetFiles {
  return {
    manifest: join(dir, MANIFEST_FILE),
    catalogue: join(dir, CATALOGUE_FILE),
    state: join(dir, FLEET_STATE_FILE),
  };
}

/** Writes manifest.ndjson, carriers.json and fleet-state.json (owner-only: it holds secrets). */
export async function writeFleet(fleet: GeneratedFleet, outDir: string): Promise<FleetFiles> {
  await mkdir(outDir, { recursive: true });
  const files = fleetFiles(outDir);
  await writeAtomic(
    files.manifest,
    fleet.manifest.map((line) => `${JSON.stringify(line)}\n`).join(''),
  );
  await writeAtomic(files.catalogue, `${JSON.stringify(fleet.catalogue, null, 2)}\n`);
  await saveFleetState(outDir, fleet.state);
  return files;
}

export async function loadFleetState(dir: string): Promise<FleetState> {
  const path = fleetFiles(dir).state;
  const parsed = fleetStateSchema.safeParse(JSON.parse(await readFile(path, 'utf8')));
  if (!parsed.success) {
    throw new Error(
      `invalid ${path}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  return parsed.data;
}

export async function saveFleetState(dir: string, state: FleetState): Promise<void> {
  await writeAtomic(fleetFiles(dir).state, `${JSON.stringify(state)}\n`, 0o600);
}

async function writeAtomic(path: string, content: string, mode = 0o644): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, content, { mode });
  await chmod(tmp, mode);
  await rename(tmp, path);
}
