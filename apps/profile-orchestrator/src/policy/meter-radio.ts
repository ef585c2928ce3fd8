import type { CoverageEventRecord, MeterConnectivityRecord } from '@meterlink/contracts';
import type { CarrierCoverageStats, MeterCoverageSample, SwapCause } from '@meterlink/swap-policy';

/**
 * What the orchestrator keeps of each meter's radio (orchestrator.meter_radio, migration 006) for
 * the swap policy's cell-level coverage: pure mappings from a consumed batch to the rows it
 * upserts, and from the aggregate query back to the policy's types.
 */

/** A meter's latest telemetry of a batch, as stored. */
export interface RadioReport {
  meterId: string;
  /** The fleet view's region of the meter; null when it does not know the meter (yet). */
  region: string | null;
  carrierId: string | null;
  cellId: string | null;
  rsrpDbm: number | null;
  batteryPct: number | null;
  at: Date;
}

export type CoverageState = MeterCoverageSample['state'];

/** A meter's latest coverage state change of a batch, as stored. */
export interface CoverageStateChange {
  meterId: string;
  region: string;
  carrierId: string;
  state: CoverageState;
  at: Date;
}

/** Each meter's newest record only: one row per meter keeps the batch's upsert one statement. */
function newestPerMeter<T extends { meterId: string; at: Date }>(items: Iterable<T>): T[] {
  const latest = new Map<string, T>();
  for (const item of items) {
    const seen = latest.get(item.meterId);
    if (!seen || seen.at.getTime() < item.at.getTime()) latest.set(item.meterId, item);
  }
  return [...latest.values()];
}

/** The batch's latest telemetry per meter (by its sentAt, at most its receipt), placed in its fleet region. */
export function latestRadioReports(
  records: readonly MeterConnectivityRecord[],
  regionOf: (meterId: string) => string | undefined,
): RadioReport[] {
  return newestPerMeter(
    records.map((r) => ({
      meterId: r.meterId,
      region: regionOf(r.meterId) ?? null,
      carrierId: r.carrierId,
      cellId: r.cellId,
      rsrpDbm: r.rsrp,
      batteryPct: r.batteryPct ?? null,
      // A meter's clock that runs ahead would pin its row (newer-only writes) until real time
      // caught up; the platform's receipt time bounds it.
      at: new Date(Math.min(Date.parse(r.at), Date.parse(r.receivedAt))),
    })),
  );
}

const STATE_OF: Partial<Record<CoverageEventRecord['type'], CoverageState>> = {
  'meter.degraded': 'degraded',
  'meter.lost': 'lost',
  'meter.restored': 'healthy',
};

/** The batch's latest coverage state per meter; carrier events are no meter's state. */
export function latestCoverageStates(
  events: readonly CoverageEventRecord[],
): CoverageStateChange[] {
  const changes: CoverageStateChange[] = [];
  for (const e of events) {
    const state = STATE_OF[e.type];
    if (state && e.meterId)
      changes.push({
        meterId: e.meterId,
        region: e.region,
        carrierId: e.carrierId,
        state,
        at: new Date(e.at),
      });
  }
  return newestPerMeter(changes);
}

/**
 * The state the deciding meter is counted with among its cell's meters: the one its cause reports
 * (the policy discounts exactly that from its carrier's counts), whether or not the event has been
 * stored yet; otherwise the stored one.
 */
export function selfStateOf(cause: SwapCause): CoverageState | null {
  switch (cause.kind) {
    case 'meter.degraded':
      return 'degraded';
    case 'meter.lost':
      return 'lost';
    case 'carrier-outage':
    case 'operator':
      return null;
  }
}

/** One carrier's row of the cell aggregate (SwapsRepository.cellCoverage). */
export interface CellCoverageRow {
  carrier_id: string;
  samples: number;
  lost: number;
  degraded: number;
  median_rsrp_dbm: number | null;
}

export function cellCoverageOf(
  rows: readonly CellCoverageRow[],
): Record<string, CarrierCoverageStats> {
  return Object.fromEntries(
    rows.map((r) => [
      r.carrier_id,
      {
        samples: r.samples,
        lost: r.lost,
        degraded: r.degraded,
        medianRsrpDbm: r.median_rsrp_dbm,
      },
    ]),
  );
}
