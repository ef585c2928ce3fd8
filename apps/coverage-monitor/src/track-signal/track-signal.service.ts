import { Inject, Injectable } from '@nestjs/common';
import type { MeterConnectivityRecord } from '@meterlink/contracts';
import {
  applyReport,
  resolvePolicy,
  type CoveragePolicy,
  type MeterCoverageState,
  type MeterKind,
} from '@meterlink/coverage-domain';
import { TransientError, type ConsumedBatch, type ConsumedRecord } from '@meterlink/kafka';
import { counter, createLogger, histogram } from '@meterlink/observability';
import { COVERAGE_CONFIG, METER_DIRECTORY } from '../tokens';
import type { MeterDirectory, WatchedMeter } from '../fleet/meter-directory';
import type { CoverageConfig } from '../config';
import { meterEventRecord, type Publication } from '../publish/coverage-events.publisher';
import { CoverageStateRepository } from '../state/coverage-state.repository';
import { MeterUpdatesService, type MeterUpdate } from '../state/meter-updates.service';

const batchRecords = histogram(
  'coverage_batch_records',
  'Connectivity records per consumed batch (one partition)',
  [],
  [10, 50, 100, 250, 500, 1000, 2000, 4000],
);
const batchSeconds = histogram(
  'coverage_batch_seconds',
  'Time to apply one consumed batch, from handler start to progress saved',
  [],
  [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
);
const reports = counter('coverage_reports_total', 'Connectivity reports by what became of them', [
  'outcome',
]);

export type Report = Pick<ConsumedRecord<MeterConnectivityRecord>, 'value' | 'correlationId'>;

/**
 * Applies radio reports to per-meter coverage state, a batch of one partition at a time: one
 * read and one compare-and-set write per meter (however many of its reports the batch holds),
 * then the transitions are published, and only then is the batch committed.
 */
@Injectable()
export class TrackSignalService {
  private readonly log = createLogger('TrackSignalService');
  private readonly policies = new Map<string, CoveragePolicy>();

  constructor(
    @Inject(COVERAGE_CONFIG) private readonly config: CoverageConfig,
    @Inject(METER_DIRECTORY) private readonly fleet: MeterDirectory,
    private readonly states: CoverageStateRepository,
    private readonly updates: MeterUpdatesService,
  ) {}

  async applyBatch(batch: ConsumedBatch<MeterConnectivityRecord>): Promise<void> {
    const started = process.hrtime.bigint();
    batchRecords.observe(batch.records.length);
    await this.applyReports(batch.records, 'publish', batch.partition);
    const last = batch.records.at(-1);
    if (last)
      await this.states.saveProgress(
        batch.partition,
        (BigInt(last.offset) + 1n).toString(),
        Number(last.timestamp),
      );
    batchSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
  }

  /** Reports of one partition, in order; `silent` updates state only (see MeterUpdatesService). */
  async applyReports(
    records: readonly Report[],
    mode: 'publish' | 'silent',
    partition: number,
  ): Promise<void> {
    const byMeter = new Map<string, { meter: WatchedMeter; reports: Report[] }>();
    let unknown = 0;
    for (const record of records) {
      const meterId = record.value.meterId;
      const known = byMeter.get(meterId);
      if (known) {
        known.reports.push(record);
        continue;
      }
      const meter = this.fleet.meter(meterId);
      if (!meter?.active) {
        unknown++;
        continue;
      }
      byMeter.set(meterId, { meter, reports: [record] });
    }
    if (unknown > 0) {
      reports.inc({ outcome: 'not_watched' }, unknown);
      if (mode === 'publish')
        this.log.warn({ count: unknown }, 'connectivity from meters not active in the fleet view');
    }
    const result = await this.updates.apply(
      [...byMeter.values()].map(({ meter, reports: r }) => this.update(meter, r, partition)),
      2_000,
      mode,
    );
    if (result.blocked.length > 0)
      // Another writer's transition for these meters awaits publication (or recovery, if that
      // writer died): retry the batch rather than reorder the meter's events.
      throw new TransientError(
        `${result.blocked.length} meters have coverage transitions pending publication`,
      );
  }

  private update(meter: WatchedMeter, records: Report[], partition: number): MeterUpdate {
    const policy = this.policyFor(meter.kind, meter.region);
    const slow = meter.reportIntervalS > this.config.COVERAGE_OUTAGE_RESPONSIVE_INTERVAL_S;
    let counted = false;
    return {
      meterId: meter.meterId,
      plan: (current, outageOf) => {
        let state: MeterCoverageState | undefined = current?.state;
        const events: Publication[] = [];
        let applied = 0;
        for (const { value: r, correlationId } of records) {
          const verdict = applyReport(
            state,
            {
              at: Date.parse(r.at),
              seq: r.seq,
              receivedAt: Date.parse(r.receivedAt),
              reportIntervalS: meter.reportIntervalS,
              iccid: r.iccid,
              carrierId: r.carrierId ?? 'unknown',
              region: meter.region,
              rsrp: r.rsrp,
              rsrq: r.rsrq,
              sinr: r.sinr,
              attachFailures: r.attachFailures,
            },
            policy,
          );
          if (!verdict.applied) continue;
          applied++;
          state = verdict.state;
          const t = verdict.transition;
          if (t)
            events.push({
              ...meterEventRecord(meter.meterId, t, {
                outageId: outageOf(t.carrierId, t.region),
                seq: r.seq,
                correlationId,
              }),
              observedAt: Date.parse(r.receivedAt),
            });
        }
        if (!counted) {
          counted = true;
          reports.inc({ outcome: 'applied' }, applied);
          // Redelivered, replayed, or held up behind newer reports: never applied backwards.
          if (records.length > applied) reports.inc({ outcome: 'late' }, records.length - applied);
        }
        if (applied === 0 || !state) return null;
        return { next: state, slow, events, partition };
      },
    };
  }

  private policyFor(kind: MeterKind, region: string): CoveragePolicy {
    const key = `${kind}\u001f${region}`;
    let policy = this.policies.get(key);
    if (!policy) {
      policy = resolvePolicy(kind, region, this.config.COVERAGE_POLICY_OVERRIDES);
      this.policies.set(key, policy);
    }
    return policy;
  }
}
