import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  SPEC_SAMPLE_CARRIERS,
  type CarrierCatalogue,
  type ManifestLine,
} from '@meterlink/contracts';
import { generateEcKeyPair, type EcJwk } from '@meterlink/jws';

/**
 * The bench fleet: N registered meters with fixed identities (meterId, EID, ICCIDs derived from
 * the index), so that importing it again into the same bench stack is a no-op ("unchanged") and
 * provisioning is paid once per stack, not once per run.
 */
export interface BenchMeter {
  index: number;
  meterId: string;
  iccid: string;
}

export const BENCH_REGION = 'bench';

export const BENCH_CATALOGUE: CarrierCatalogue = {
  carriers: [...SPEC_SAMPLE_CARRIERS],
  regions: [{ region: BENCH_REGION, carriers: ['carrier-a', 'carrier-b'] }],
};

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

/** Unsigned and signed bench meters live in separate id spaces: a meter's flag never changes. */
export function benchMeterId(index: number, signed: boolean): string {
  return `bench-${signed ? 's' : 'u'}${pad(index, 7)}`;
}

const METER_ID_PREFIX_LENGTH = 'bench-u'.length;

/** The index of a bench meter id of the given kind, or -1 for any other id. */
export function benchMeterIndex(meterId: string, signed: boolean): number {
  if (meterId.length !== METER_ID_PREFIX_LENGTH + 7) return -1;
  if (!meterId.startsWith(signed ? 'bench-s' : 'bench-u')) return -1;
  const n = Number(meterId.slice(METER_ID_PREFIX_LENGTH));
  return Number.isInteger(n) ? n : -1;
}

function iccidOf(index: number, signed: boolean, plmnPrefix: string): string {
  return `${plmnPrefix}9${signed ? 1 : 0}${pad(index, 11)}`;
}

export function benchMeters(count: number, signed: boolean): BenchMeter[] {
  return Array.from({ length: count }, (_, index) => ({
    index,
    meterId: benchMeterId(index, signed),
    iccid: iccidOf(index, signed, '894415'),
  }));
}

/** Private device keys of the signed bench meters, kept in the bench stack so reruns can sign. */
export type SignedKeys = Record<string, EcJwk>;

function loadOrCreateSignedKeys(file: string, count: number): SignedKeys {
  const keys: SignedKeys = existsSync(file)
    ? (JSON.parse(readFileSync(file, 'utf8')) as SignedKeys)
    : {};
  let added = 0;
  for (let index = 0; index < count; index++) {
    const meterId = benchMeterId(index, true);
    if (keys[meterId]) continue;
    keys[meterId] = generateEcKeyPair().privateJwk;
    added++;
  }
  if (added > 0) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify(keys), { mode: 0o600 });
  }
  return keys;
}

export interface ManifestBuild {
  lines: ManifestLine[];
  /** Set for a signed fleet: the private key of each meter. */
  signedKeys?: SignedKeys;
}

/**
 * Manifest lines for the bench fleet. Unsigned meters share one device key: ingestion never
 * looks at it for unsigned telemetry, and 10,000 key generations would only slow the start.
 */
export function benchManifest(count: number, signed: boolean, keysFile: string): ManifestBuild {
  const signedKeys = signed ? loadOrCreateSignedKeys(keysFile, count) : undefined;
  const shared = signed ? undefined : generateEcKeyPair().publicJwk;
  const lines = benchMeters(count, signed).map((meter): ManifestLine => {
    const publicJwk = signedKeys ? publicPart(signedKeys[meter.meterId]!) : shared!;
    return {
      meterId: meter.meterId,
      eid: `89049032${signed ? 1 : 0}${pad(meter.index, 23)}`,
      kind: 'electricity',
      region: BENCH_REGION,
      customerId: 'CUST-BENCH',
      tariffId: 'flat',
      reportIntervalS: 900,
      signedTelemetry: signed,
      rollbackWindowS: 600,
      fallbackDelayS: 3600,
      devicePublicKeyJwk: { kty: 'EC', crv: 'P-256', x: publicJwk.x, y: publicJwk.y },
      mqttPassword: randomBytes(18).toString('base64url'),
      profiles: [
        { iccid: meter.iccid, carrierId: 'carrier-a', state: 'enabled', fallback: false },
        {
          iccid: iccidOf(meter.index, signed, '894420'),
          carrierId: 'carrier-b',
          state: 'disabled',
          fallback: true,
        },
      ],
    };
  });
  return signedKeys ? { lines, signedKeys } : { lines };
}

function publicPart(jwk: EcJwk): { x: string; y: string } {
  return { x: jwk.x, y: jwk.y };
}
