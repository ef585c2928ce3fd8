import { Inject, Injectable } from '@nestjs/common';
import type { MeterConnectivityRecord } from '@meterlink/contracts';
import {
  applyReport,
  silenceDeadline,
  type SignalThresholds,
  type SilencePolicy,
} from '@meterlink/coverage-domain';
import type { FleetView } from '@meterlink/fleet-view';
import { TransientError } from '@meterlink/kafka';
import { createLogger } from '@meterlink/observability';
import { COVERAGE_CONFIG, FLEET_VIEW } from '../tokens';
import type { CoverageConfig } from '../config';
import { CoverageStateRepository } from '../coverage-state.repository';
import type { MeterTransition } from '../coverage-events.publisher';

/**
 * Applies radio reports to per-meter state. The transition is computed from state read from
 * Redis and written back with a version check, so a concurrent silence claim or a redelivered
 * report can't produce a second transition.
 */
@Injectable()
export class TrackSignalService {
  private readonly log = createLogger('TrackSignalService');
  readonly thresholds: SignalThresholds;
  readonly silence: SilencePolicy;

  constructor(
    @Inject(COVERAGE_CONFIG) config: CoverageConfig,
    @Inject(FLEET_VIEW) private readonly fleet: FleetView,
    private readonly states: CoverageStateRepository,
  ) {
    this.thresholds = {
      entryRsrpDbm: config.COVERAGE_ENTRY_RSRP_DBM,
      exitRsrpDbm: config.COVERAGE_EXIT_RSRP_DBM,
      entryAttachFailures: config.COVERAGE_ENTRY_ATTACH_FAILURES,
      entryReports: config.COVERAGE_ENTRY_REPORTS,
      exitReports: config.COVERAGE_EXIT_REPORTS,
    };
    this.silence = {
      graceFactor: config.COVERAGE_SILENCE_GRACE_FACTOR,
      minGraceMs: config.COVERAGE_SILENCE_MIN_GRACE_MS,
    };
  }

  /** Returns the transition to publish, if any; the state is already stored when it returns. */
  async apply(
    record: MeterConnectivityRecord,
    correlationId?: string,
  ): Promise<MeterTransition | null> {
    const meter = this.fleet.meter(record.meterId);
    if (!meter) {
      this.log.warn(
        { meterId: record.meterId },
        'connectivity from a meter not in the fleet view; skipped',
      );
      return null;
    }
    const at = Date.parse(record.at);
    for (let attempt = 0; attempt < 10; attempt++) {
      const stored = await this.states.read(record.meterId);
      const verdict = applyReport(
        stored.state,
        {
          at,
          iccid: record.iccid,
          carrierId: record.carrierId ?? 'unknown',
          rsrp: record.rsrp,
          attachFailures: record.attachFailures,
        },
        this.thresholds,
      );
      if (!verdict.state) {
        // Late (older than what we know) or a replay after a crash: re-emit what may not have gone out.
        // Only the report that caused the pending transition re-emits it (a replay after a crash
        // between storing and publishing); other late reports must not repeat it.
        const pending = stored.pending ? (JSON.parse(stored.pending) as MeterTransition) : null;
        return pending && pending.at === at ? pending : null;
      }
      // The deadline runs from when we heard the meter, so a late-sent report can't make it overdue at once.
      const heardAt = Math.max(at, Date.parse(record.receivedAt));
      const deadline = silenceDeadline(heardAt, meter.reportIntervalS, this.silence);
      const transition: MeterTransition | null = verdict.transition
        ? {
            type: verdict.transition,
            meterId: record.meterId,
            carrierId:
              verdict.transition === 'meter.restored' && stored.state
                ? stored.state.carrierId
                : verdict.state.carrierId,
            region: meter.region,
            iccid: record.iccid,
            reason: verdict.reason ?? verdict.transition,
            at,
            ...(correlationId ? { correlationId } : {}),
          }
        : null;
      const pending = transition ? JSON.stringify(transition) : null;
      if (
        !(await this.states.write(record.meterId, stored.version, verdict.state, deadline, pending))
      )
        continue;
      return transition;
    }
    throw new TransientError(`coverage state of ${record.meterId} kept changing under us`);
  }

  async published(transitions: MeterTransition[]): Promise<void> {
    for (const t of transitions) await this.states.clearPending(t.meterId, JSON.stringify(t));
  }
}
