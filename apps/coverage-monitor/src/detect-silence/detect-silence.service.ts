import { Inject, Injectable } from '@nestjs/common';
import type { FleetView } from '@meterlink/fleet-view';
import { createLogger } from '@meterlink/observability';
import { COVERAGE_CONFIG, FLEET_VIEW } from '../tokens';
import type { CoverageConfig } from '../config';
import { CoverageStateRepository } from '../coverage-state.repository';
import { CoverageEventsPublisher, type MeterTransition } from '../coverage-events.publisher';

/**
 * Finds meters whose silence deadline passed, from the sorted set in Redis. Each meter is claimed
 * atomically, so any number of replicas can sweep without declaring a meter lost twice.
 */
@Injectable()
export class DetectSilenceService {
  private readonly log = createLogger('DetectSilenceService');
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    @Inject(COVERAGE_CONFIG) private readonly config: CoverageConfig,
    @Inject(FLEET_VIEW) private readonly fleet: FleetView,
    private readonly states: CoverageStateRepository,
    private readonly events: CoverageEventsPublisher,
  ) {}

  start(): void {
    const tick = (): void => {
      if (this.stopped) return;
      this.running = this.sweep()
        .then(() => undefined)
        .catch((error: unknown) =>
          this.log.warn({ err: error }, 'silence sweep failed; will retry'),
        )
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(tick, this.config.COVERAGE_SWEEP_INTERVAL_MS);
        });
    };
    tick();
  }

  /** One pass; returns the number of meters declared lost. */
  async sweep(now = Date.now()): Promise<number> {
    await this.republishStale(now);
    let total = 0;
    for (;;) {
      const due = await this.states.dueMeters(now, 500);
      if (due.length === 0) return total;
      const lost: MeterTransition[] = [];
      for (const { meterId, deadline } of due) {
        const meter = this.fleet.meter(meterId);
        if (meter?.status === 'decommissioned') {
          await this.states.dropDeadline(meterId);
          continue;
        }
        const { state } = await this.states.read(meterId);
        const transition: MeterTransition = {
          type: 'meter.lost',
          meterId,
          carrierId: state?.carrierId ?? 'unknown',
          region: meter?.region ?? 'unknown',
          iccid: state?.iccid ?? '',
          reason: 'silent_past_deadline',
          at: deadline,
        };
        if (await this.states.claimSilence(meterId, now, JSON.stringify(transition)))
          lost.push(transition);
      }
      await this.events.publishMeterTransitions(lost);
      for (const t of lost) await this.states.clearPending(t.meterId, JSON.stringify(t));
      total += lost.length;
      if (due.length < 500) return total;
    }
  }

  /**
   * Re-publishes transitions that were stored but whose publication was never confirmed, which
   * only happens after a crash between the two (normally the gap is milliseconds). Same eventId,
   * so a consumer that did see the first copy can drop this one.
   */
  async republishStale(now: number, minAgeMs = 10_000): Promise<number> {
    const pending = await this.states.pendingTransitions(500);
    const stale = pending
      .map((p) => ({ raw: p.transition, transition: JSON.parse(p.transition) as MeterTransition }))
      .filter((p) => now - p.transition.at >= minAgeMs);
    if (stale.length === 0) return 0;
    await this.events.publishMeterTransitions(stale.map((p) => p.transition));
    for (const p of stale) await this.states.clearPending(p.transition.meterId, p.raw);
    this.log.warn(
      { count: stale.length },
      're-published coverage transitions left pending by an earlier crash',
    );
    return stale.length;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }
}
