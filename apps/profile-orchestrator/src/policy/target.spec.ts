import type { CoverageCarrierStatsRecord, FleetMeterRecord } from '@meterlink/contracts';
import { DEFAULT_CHOOSE_TARGET_CONFIG } from '@meterlink/swap-policy';
import { orchestratorConfigSchema } from '../config';
import {
  coverageOf,
  historyEntry,
  policyConfig,
  powerOf,
  tariffsOf,
  typicalMonthlyBytes,
  type HistoryRow,
} from './target';

const row = (over: Partial<HistoryRow>): HistoryRow => ({
  from_carrier_id: 'carrier-a',
  to_carrier_id: 'carrier-b',
  state: 'completed',
  phase: 'confirming',
  needs_download: false,
  trigger: 'coverage',
  updated_at: new Date(1_000),
  ...over,
});

describe('policy facts from the orchestrator rows', () => {
  it('maps the environment onto the policy: meter fault from region peers only when asked', () => {
    const base = {
      KAFKA_BROKERS: '127.0.0.1:9092',
      DATABASE_URL: 'postgres://u:p@127.0.0.1/db',
      EIM_KEY_FILE: '/k/eim-key.json',
    };
    const byDefault = policyConfig(orchestratorConfigSchema.parse(base));
    expect(byDefault).toEqual({
      ...DEFAULT_CHOOSE_TARGET_CONFIG,
      cooldownMs: 6 * 3_600_000,
      antiFlapWindowMs: 7 * 86_400_000,
      outageMinDurationMs: 900_000,
      meterFaultFromRegionPeers: false,
    });
    expect(
      policyConfig(
        orchestratorConfigSchema.parse({ ...base, SWAP_METER_FAULT_FROM_REGION_PEERS: 'true' }),
      ).meterFaultFromRegionPeers,
    ).toBe(true);
  });

  it('counts what the meter executed for each settled swap (battery budget)', () => {
    expect(historyEntry(row({}))).toEqual({
      fromCarrierId: 'carrier-a',
      toCarrierId: 'carrier-b',
      at: 1_000,
      energyOps: ['enable'],
    });
    expect(historyEntry(row({ needs_download: true }))?.energyOps).toEqual(['download', 'enable']);
    // A download that failed before the enable cost the download only.
    expect(
      historyEntry(row({ state: 'failed', phase: 'downloading', needs_download: true }))?.energyOps,
    ).toEqual(['download']);
    // Refused at the SM-DP+: the meter did nothing.
    expect(
      historyEntry(row({ state: 'failed', phase: 'ordering', needs_download: true }))?.energyOps,
    ).toEqual([]);
    expect(historyEntry(row({ trigger: 'device-fallback' }))?.energyOps).toEqual([]);
  });

  it('leaves out swaps that never reached the eUICC', () => {
    expect(historyEntry(row({ state: 'expired' }))).toBeUndefined();
    expect(historyEntry(row({ state: 'cancelled' }))).toBeUndefined();
  });

  it('treats battery meters by their last reported charge, mains meters as exempt', () => {
    const gas = { kind: 'gas', reportIntervalS: 86_400 } as FleetMeterRecord;
    const power = { kind: 'electricity', reportIntervalS: 900 } as FleetMeterRecord;
    expect(powerOf(gas, 42)).toEqual({ source: 'battery', batteryPct: 42 });
    expect(powerOf(gas, undefined)).toEqual({ source: 'battery', batteryPct: null });
    expect(powerOf(power, 42)).toEqual({ source: 'mains' });
    expect(typicalMonthlyBytes(power)).toBe(2880 * 600);
    expect(typicalMonthlyBytes(gas)).toBe(30 * 600);
  });

  it('takes the tariffs of the carriers it knows', () => {
    const tariff = { monthlyFeeMinor: 1, perMbMinor: 2, downloadFeeMinor: 3, swapFeeMinor: 4 };
    expect(
      tariffsOf(['carrier-a', 'carrier-x'], (id) =>
        id === 'carrier-a' ? ({ tariff } as never) : undefined,
      ),
    ).toEqual({ 'carrier-a': tariff });
  });
});

describe('coverage facts from coverage.carriers.v1', () => {
  const stats = (carrierId: string, over: Partial<CoverageCarrierStatsRecord>) =>
    ({
      eventId: '00000000-0000-4000-8000-000000000000',
      type: 'coverage.carrier-stats',
      at: '2026-11-25T06:00:00.000Z',
      carrierId,
      region: 'north',
      meters: 40,
      healthy: 40,
      degraded: 0,
      lost: 0,
      slowMeters: 0,
      ...over,
    }) satisfies CoverageCarrierStatsRecord;

  it('gives each carrier its region counts; the region’s RSRP stays unknown', () => {
    expect(
      coverageOf([
        stats('carrier-a', { meters: 40, healthy: 30, degraded: 4, lost: 6 }),
        stats('carrier-b', { meters: 12, healthy: 12, slowMeters: 5 }),
      ]),
    ).toEqual({
      region: {
        'carrier-a': { samples: 40, lost: 6, degraded: 4, medianRsrpDbm: null },
        'carrier-b': { samples: 12, lost: 0, degraded: 0, medianRsrpDbm: null },
      },
      cell: {},
    });
  });

  it('knows nothing of a region without counts', () => {
    expect(coverageOf([])).toEqual({ region: {}, cell: {} });
  });

  it('passes the meter’s cell on beside the region counts', () => {
    const cell = { 'carrier-a': { samples: 6, lost: 0, degraded: 1, medianRsrpDbm: -92 } };
    expect(coverageOf([stats('carrier-a', {})], cell)).toEqual({
      region: { 'carrier-a': { samples: 40, lost: 0, degraded: 0, medianRsrpDbm: null } },
      cell,
    });
  });
});
