import type {
  CoverageCarrierStatsRecord,
  FleetCarrierRecord,
  FleetMeterRecord,
} from '@meterlink/contracts';
import {
  DEFAULT_CHOOSE_TARGET_CONFIG,
  type ChooseTargetConfig,
  type CoverageObservations,
  type EnergyOp,
  type PolicyHistoryEntry,
  type PowerFacts,
  type TariffFacts,
} from '@meterlink/swap-policy';
import type { OrchestratorConfig } from '../config';

/**
 * The facts the orchestrator hands to `chooseTarget` (@meterlink/swap-policy), built from what it
 * stores: pure mappings, unit-tested here; the saga gathers the rows.
 */

export function policyConfig(config: OrchestratorConfig): ChooseTargetConfig {
  return {
    ...DEFAULT_CHOOSE_TARGET_CONFIG,
    cooldownMs: config.SWAP_COOLDOWN_S * 1000,
    antiFlapWindowMs: config.SWAP_ANTI_FLAP_WINDOW_S * 1000,
    outageMinDurationMs: config.OUTAGE_MIN_DURATION_S * 1000,
    meterFaultFromRegionPeers: config.SWAP_METER_FAULT_FROM_REGION_PEERS,
  };
}

export interface HistoryRow {
  from_carrier_id: string;
  to_carrier_id: string;
  state: string;
  phase: string;
  needs_download: boolean;
  trigger: string;
  updated_at: Date;
}

/**
 * A settled swap as the policy's history: what the meter executed for it (battery budget).
 * Expired and cancelled swaps never reached the meter's eUICC; a device fallback costs nothing
 * the eIM asked for.
 */
export function historyEntry(row: HistoryRow): PolicyHistoryEntry | undefined {
  if (row.state === 'expired' || row.state === 'cancelled') return undefined;
  const executed: EnergyOp[] =
    row.trigger === 'device-fallback'
      ? []
      : [
          ...(row.needs_download && row.phase !== 'ordering' ? (['download'] as const) : []),
          ...(row.phase === 'enabling' || row.phase === 'confirming' ? (['enable'] as const) : []),
        ];
  return {
    fromCarrierId: row.from_carrier_id,
    toCarrierId: row.to_carrier_id,
    at: row.updated_at.getTime(),
    energyOps: executed,
  };
}

/** Battery meters (gas, water) report their charge; mains meters are exempt from battery rules. */
export function powerOf(meter: FleetMeterRecord, batteryPct: number | undefined): PowerFacts {
  return meter.kind === 'electricity'
    ? { source: 'mains' }
    : { source: 'battery', batteryPct: batteryPct ?? null };
}

/** Bytes a month at the meter's report interval (a telemetry message is about 600 bytes). */
export function typicalMonthlyBytes(meter: FleetMeterRecord): number {
  return Math.round(((30 * 86_400) / meter.reportIntervalS) * 600);
}

export function tariffsOf(
  carrierIds: readonly string[],
  carrier: (id: string) => FleetCarrierRecord | undefined,
): Record<string, TariffFacts> {
  const tariffs: Record<string, TariffFacts> = {};
  for (const id of carrierIds) {
    const c = carrier(id);
    if (c) tariffs[id] = c.tariff;
  }
  return tariffs;
}

/**
 * The region's per-carrier counts from coverage.carriers.v1 (the coverage monitor keeps no median
 * RSRP: unknown to the policy there), with the meter's cell as the orchestrator's meter_radio
 * has it (`cellCoverageOf`; empty when the meter's cell is unknown).
 */
export function coverageOf(
  records: readonly CoverageCarrierStatsRecord[],
  cell: CoverageObservations['cell'] = {},
): CoverageObservations {
  const region: CoverageObservations['region'] = Object.fromEntries(
    records.map((r) => [
      r.carrierId,
      { samples: r.meters, lost: r.lost, degraded: r.degraded, medianRsrpDbm: null },
    ]),
  );
  return { region, cell };
}
