import { randomUUID } from 'node:crypto';
import type { FleetMeterRecord, MeterConnectivityRecord } from '@meterlink/contracts';
import { generateEcKeyPair } from '@meterlink/jws';

export const REGIONS = 10;
export const CARRIERS = ['carrier-a', 'carrier-b', 'carrier-c'];
/** Report interval of the meters that fall silent: deadline = heard + 30 s + 15 s grace. */
export const SILENT_INTERVAL_S = 30;

export type Role = 'silent' | 'degrader' | 'steady';

export interface BenchMeter {
  index: number;
  meterId: string;
  kind: FleetMeterRecord['kind'];
  region: string;
  carrierId: string;
  iccid: string;
  eid: string;
  reportIntervalS: number;
  role: Role;
}

export interface FleetShape {
  meters: number;
  silentMeters: number;
  degraders: number;
}

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

/**
 * Meter `index` of the bench fleet, computed rather than stored: 60 % electricity (15 min),
 * 25 % gas (daily), 15 % water (12 h), spread over 10 regions and 3 carriers. The first
 * `silentMeters` report every 30 s, the next `degraders` are electricity meters; ids are 16
 * characters, like common meter serials.
 */
export function benchMeter(index: number, shape: FleetShape): BenchMeter {
  const role: Role =
    index < shape.silentMeters
      ? 'silent'
      : index < shape.silentMeters + shape.degraders
        ? 'degrader'
        : 'steady';
  const slot = index % 20;
  const kind: BenchMeter['kind'] =
    role !== 'steady' || slot < 12 ? 'electricity' : slot < 17 ? 'gas' : 'water';
  const region = index % REGIONS;
  const carrier = Math.floor(index / REGIONS) % CARRIERS.length;
  return {
    index,
    meterId: `${kind[0]!.toUpperCase()}M-${pad(region, 2)}-${pad(index, 10)}`,
    kind,
    region: `region-${pad(region, 2)}`,
    carrierId: CARRIERS[carrier]!,
    iccid: `8944${carrier + 1}${pad(index, 14)}`,
    eid: `89049032${pad(index, 24)}`,
    reportIntervalS:
      role === 'silent'
        ? SILENT_INTERVAL_S
        : kind === 'electricity'
          ? 900
          : kind === 'gas'
            ? 86_400
            : 43_200,
    role,
  };
}

const key = generateEcKeyPair().publicJwk;

export function fleetRecord(m: BenchMeter): FleetMeterRecord {
  return {
    eventId: randomUUID(),
    type: 'fleet.meter',
    at: new Date().toISOString(),
    meterId: m.meterId,
    eid: m.eid,
    kind: m.kind,
    region: m.region,
    customerId: 'CUST-BENCH',
    tariffId: 'flat',
    reportIntervalS: m.reportIntervalS,
    signedTelemetry: false,
    rollbackWindowS: 600,
    fallbackDelayS: 3600,
    devicePublicKeyJwk: { kty: 'EC', crv: 'P-256', x: key.x, y: key.y },
    status: 'active',
    profiles: [{ iccid: m.iccid, carrierId: m.carrierId, state: 'enabled', fallback: false }],
    revision: 1,
  };
}

/** A telemetry message's connectivity record as ingestion writes it, received now. */
export function connectivityRecord(
  m: BenchMeter,
  seq: number,
  now: number,
  rsrp: number,
): MeterConnectivityRecord {
  return {
    eventId: randomUUID(),
    type: 'meter.connectivity',
    at: new Date(now - 150).toISOString(),
    meterId: m.meterId,
    receivedAt: new Date(now).toISOString(),
    seq,
    kind: m.kind,
    iccid: m.iccid,
    carrierId: m.carrierId,
    plmn: '23415',
    rat: m.kind === 'electricity' ? 'ltem' : 'nbiot',
    cellId: '1A2B3C',
    rsrp,
    rsrq: rsrp < -110 ? -16 : -9,
    sinr: rsrp < -110 ? -4 : 8,
    attachFailures: 0,
    bytesUp: 420,
    bytesDown: 96,
    ...(m.kind === 'electricity' ? {} : { batteryPct: 80 }),
  };
}
