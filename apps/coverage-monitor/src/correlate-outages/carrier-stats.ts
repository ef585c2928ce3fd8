import { TOPICS, stableEventId, type CoverageCarrierStatsRecord } from '@meterlink/contracts';
import { jsonRecord, type OutgoingRecord } from '@meterlink/kafka';

/** One carrier × region's meters by state, split by how often they report. */
export interface GroupCounts {
  responsive: { ok: number; degraded: number; lost: number };
  slow: { ok: number; degraded: number; lost: number };
}

export const emptyCounts = (): GroupCounts => ({
  responsive: { ok: 0, degraded: 0, lost: 0 },
  slow: { ok: 0, degraded: 0, lost: 0 },
});

/** The coverage.carriers.v1 record of one carrier × region at `at`. */
export function carrierStatsRecord(
  carrierId: string,
  region: string,
  counts: GroupCounts,
  outageId: string | undefined,
  at: number,
): OutgoingRecord {
  const { responsive: r, slow: s } = counts;
  const slowMeters = s.ok + s.degraded + s.lost;
  const record: CoverageCarrierStatsRecord = {
    eventId: stableEventId('coverage-stats', carrierId, region, at),
    type: 'coverage.carrier-stats',
    at: new Date(at).toISOString(),
    carrierId,
    region,
    meters: r.ok + r.degraded + r.lost + slowMeters,
    healthy: r.ok + s.ok,
    degraded: r.degraded + s.degraded,
    lost: r.lost + s.lost,
    slowMeters,
    ...(outageId ? { outageId } : {}),
  };
  return jsonRecord(TOPICS.coverageCarriers, `${carrierId}/${region}`, record);
}
