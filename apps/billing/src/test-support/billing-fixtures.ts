import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { Producer } from 'kafkajs';
import {
  TOPICS,
  stableEventId,
  type FleetCarrierRecord,
  type FleetMeterRecord,
  type MeterConnectivityRecord,
  type MeterReadingRecord,
  type ProfileSwapRecord,
  type TopicDefinition,
} from '@meterlink/contracts';

/** The input topics of billing, in the order a fixture is produced. */
export const INPUT_TOPICS = [
  TOPICS.fleetCarriers,
  TOPICS.fleetMeters,
  TOPICS.profileSwaps,
  TOPICS.meterConnectivity,
  TOPICS.meterReadings,
] as const;

export const runTag = (): string => randomBytes(3).toString('hex');

const jwk = (() => {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const k = publicKey.export({ format: 'jwk' });
  return { kty: 'EC' as const, crv: 'P-256' as const, x: k.x!, y: k.y! };
})();

export interface FixtureMeter {
  meterId: string;
  iccidA: string;
  iccidB: string;
}

export interface Fixture {
  records: { topic: TopicDefinition; key: string; value: object }[];
}

const iso = (ms: number): string => new Date(ms).toISOString();
const HOUR = 3_600_000;

/** ICCIDs of 19 digits, unique per tag and meter. */
function iccid(tag: string, i: number, profile: number): string {
  const n = parseInt(tag, 16) % 1_000_000;
  return `89${String(n).padStart(6, '0')}${String(i).padStart(6, '0')}${profile}0000`.slice(0, 19);
}

export function carrierRecords(tag: string): FleetCarrierRecord[] {
  return [
    ['ca', 60, 25, 150, 20],
    ['cb', 80, 18, 100, 0],
  ].map(([name, monthly, perMb, download, swap]) => ({
    eventId: stableEventId('fixture-carrier', tag, String(name)),
    type: 'fleet.carrier',
    at: new Date(0).toISOString(),
    carrierId: `${String(name)}-${tag}`,
    name: `Carrier ${String(name)}`,
    plmns: [name === 'ca' ? '23415' : '23420'],
    smdpAddress: `smdp.${String(name)}.example`,
    tariff: {
      currency: 'EUR',
      monthlyFeeMinor: Number(monthly),
      perMbMinor: Number(perMb),
      downloadFeeMinor: Number(download),
      swapFeeMinor: Number(swap),
    },
  }));
}

export function fixtureMeters(tag: string, prefix: string, count: number): FixtureMeter[] {
  return Array.from({ length: count }, (_, i) => ({
    meterId: `${prefix}-${tag}-${i}`,
    iccidA: iccid(tag, i + (prefix.charCodeAt(0) % 10) * 10_000, 1),
    iccidB: iccid(tag, i + (prefix.charCodeAt(0) % 10) * 10_000, 2),
  }));
}

/**
 * The meter's fleet record; with `decommissionedAtMs`, the record the registry publishes when it
 * decommissions the meter then (what the compacted topic keeps).
 */
export function meterRecord(
  tag: string,
  m: FixtureMeter,
  customerId: string,
  decommissionedAtMs?: number,
): FleetMeterRecord {
  const decommissioned = decommissionedAtMs !== undefined;
  return {
    eventId: decommissioned
      ? stableEventId('fixture-meter', m.meterId, decommissionedAtMs)
      : stableEventId('fixture-meter', m.meterId),
    type: 'fleet.meter',
    at: new Date(decommissionedAtMs ?? 0).toISOString(),
    meterId: m.meterId,
    eid: `8904903200000000000000${String(parseInt(tag, 16) % 10_000_000_000).padStart(10, '0')}`,
    kind: 'electricity',
    region: 'north',
    customerId,
    tariffId: 'residential-tou',
    reportIntervalS: 3600,
    signedTelemetry: false,
    rollbackWindowS: 600,
    fallbackDelayS: 3600,
    devicePublicKeyJwk: jwk,
    status: decommissioned ? 'decommissioned' : 'active',
    profiles: [
      { iccid: m.iccidA, carrierId: `ca-${tag}`, state: 'enabled', fallback: false },
      { iccid: m.iccidB, carrierId: `cb-${tag}`, state: 'disabled', fallback: true },
    ],
    revision: decommissioned ? 2 : 1,
  };
}

/** Hourly cumulative register: a per-meter base load, more in the evening. */
export function registerValue(meterIndex: number, hourIndex: number): number {
  let v = 1_000_000 + meterIndex * 10_000;
  // Closed form of the sum of hourly increments: 200 Wh per hour, + 300 from 17:00 to 20:00.
  const days = Math.floor(hourIndex / 24);
  const rest = hourIndex % 24;
  v += hourIndex * 200 + days * 3 * 300 + Math.max(0, Math.min(rest, 20) - 17) * 300;
  return v;
}

export function readingRecord(
  meterId: string,
  atMs: number,
  value: number,
  receivedAtMs = atMs + 1_000,
): MeterReadingRecord {
  return {
    eventId: stableEventId('fixture-reading', meterId, atMs),
    type: 'meter.reading',
    at: iso(atMs),
    meterId,
    kind: 'electricity',
    register: 'energy_import_wh',
    value,
    seq: Math.floor(atMs / 1000),
    receivedAt: iso(receivedAtMs),
    sentAt: iso(receivedAtMs - 500),
  };
}

export function connectivityRecord(
  meterId: string,
  atMs: number,
  iccid: string,
  carrierId: string,
  bytes: number,
): MeterConnectivityRecord {
  return {
    eventId: stableEventId('fixture-connectivity', meterId, atMs),
    type: 'meter.connectivity',
    at: iso(atMs),
    meterId,
    receivedAt: iso(atMs + 1_000),
    seq: Math.floor(atMs / 1000),
    kind: 'electricity',
    iccid,
    carrierId,
    plmn: '23415',
    rat: 'ltem',
    cellId: 'c1',
    rsrp: -90,
    rsrq: -10,
    sinr: 10,
    attachFailures: 0,
    bytesUp: Math.floor(bytes / 2),
    bytesDown: bytes - Math.floor(bytes / 2),
  };
}

export function swapRecords(
  swapId: string,
  meter: FixtureMeter,
  tag: string,
  states: { state: ProfileSwapRecord['state']; atMs: number }[],
  trigger: ProfileSwapRecord['trigger'] = 'coverage',
): ProfileSwapRecord[] {
  return states.map(({ state, atMs }) => ({
    eventId: stableEventId('fixture-swap', swapId, state),
    type: 'profile.swap',
    at: iso(atMs),
    swapId,
    meterId: meter.meterId,
    fromIccid: meter.iccidA,
    toIccid: meter.iccidB,
    fromCarrierId: `ca-${tag}`,
    toCarrierId: `cb-${tag}`,
    trigger,
    state,
    // The eIM's flag: B is on the eUICC from the factory.
    needsDownload: false,
  }));
}

/** Hourly readings over [fromMs, toMs] on the hour. */
export function hourlyReadings(
  meterIndex: number,
  meterId: string,
  monthStartMs: number,
  fromMs: number,
  toMs: number,
  receivedAt?: (atMs: number) => number,
): MeterReadingRecord[] {
  const out: MeterReadingRecord[] = [];
  for (let t = fromMs; t <= toMs; t += HOUR) {
    const hourIndex = Math.round((t - monthStartMs) / HOUR) + 24; // never negative near the start
    out.push(
      readingRecord(meterId, t, registerValue(meterIndex, hourIndex), receivedAt?.(t) ?? t + 1_000),
    );
  }
  return out;
}

export async function produce(
  producer: Producer,
  records: { topic: TopicDefinition; key: string; value: object }[],
): Promise<void> {
  for (const topic of INPUT_TOPICS) {
    const mine = records.filter((r) => r.topic.name === topic.name);
    for (let i = 0; i < mine.length; i += 1_000)
      await producer.send({
        topic: topic.name,
        messages: mine.slice(i, i + 1_000).map((r) => ({
          key: r.key,
          value: JSON.stringify(r.value),
        })),
      });
  }
}
