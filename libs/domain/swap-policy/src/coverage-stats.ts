import type { CarrierCoverageStats, CoverageObservations } from './choose-target';

/** One meter of the region as the coverage monitor last saw it. */
export interface MeterCoverageSample {
  carrierId: string;
  /** Cell of its latest telemetry; null when unknown. */
  cellId: string | null;
  state: 'healthy' | 'degraded' | 'lost';
  /** RSRP of its latest telemetry (dBm); null when unknown. */
  rsrpDbm: number | null;
}

/** Median, the mean of the two middle values for an even count; null for none. */
export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const upper = sorted[mid] ?? 0;
  return sorted.length % 2 === 1 ? upper : ((sorted[mid - 1] ?? 0) + upper) / 2;
}

function summarize(meters: readonly MeterCoverageSample[]): Record<string, CarrierCoverageStats> {
  const byCarrier = new Map<string, MeterCoverageSample[]>();
  for (const m of meters) byCarrier.set(m.carrierId, [...(byCarrier.get(m.carrierId) ?? []), m]);
  return Object.fromEntries(
    [...byCarrier].map(([carrierId, group]) => [
      carrierId,
      {
        samples: group.length,
        lost: group.filter((m) => m.state === 'lost').length,
        degraded: group.filter((m) => m.state === 'degraded').length,
        // A silent meter's last RSRP is stale: the median is over meters still reporting.
        medianRsrpDbm: median(
          group.filter((m) => m.state !== 'lost' && m.rsrpDbm !== null).map((m) => m.rsrpDbm ?? 0),
        ),
      },
    ]),
  );
}

/**
 * `chooseTarget`'s coverage input from the region's meters (every carrier, this meter
 * included): per-carrier stats for the region, and for the meter's cell when it is known.
 */
export function summarizeCoverage(
  regionMeters: readonly MeterCoverageSample[],
  cellId: string | null,
): CoverageObservations {
  return {
    region: summarize(regionMeters),
    cell: cellId === null ? {} : summarize(regionMeters.filter((m) => m.cellId === cellId)),
  };
}
