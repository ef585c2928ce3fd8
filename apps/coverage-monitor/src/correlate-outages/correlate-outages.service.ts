import { Inject, Injectable } from '@nestjs/common';
import type { Kafka } from 'kafkajs';
import { stableEventId } from '@meterlink/contracts';
import {
  carrierStateChanged,
  emptyCarrierRegionState,
  evaluateCarrierRegion,
  type GroupSample,
  type OutagePolicy,
} from '@meterlink/coverage-domain';
import { counter, createLogger, gauge } from '@meterlink/observability';
import type { BatchingProducer, OutgoingRecord } from '@meterlink/kafka';
import { COVERAGE_CONFIG, KAFKA, PRODUCER } from '../tokens';
import { outagePolicyFor, type CoverageConfig } from '../config';
import { LeadershipService } from '../leadership.service';
import { PeriodicTask } from '../periodic-task';
import {
  CoverageEventsPublisher,
  carrierEventRecord,
  withAttribution,
  type OutageAttribution,
  type OutgoingEvent,
} from '../publish/coverage-events.publisher';
import { publishedEventIds } from '../publish/published-events.scanner';
import { PendingRecoveryService } from '../publish/pending-recovery.service';
import { CoverageStateRepository } from '../state/coverage-state.repository';
import { DictionaryRepository } from '../state/dictionary.repository';
import { OutageMarksCache } from '../state/outage-marks.cache';
import {
  CarrierStatesRepository,
  type CarrierStateEntry,
  type StoredCarrierState,
} from './carrier-states.repository';
import { carrierStatsRecord, emptyCounts, type GroupCounts } from './carrier-stats';

const metersByState = gauge(
  'coverage_meters',
  'Tracked meters by coverage state, per carrier and region (reported by the leader)',
  ['carrier', 'region', 'state'],
);
const unhealthyShare = gauge(
  'coverage_carrier_unhealthy_share',
  'Share of a carrier’s meters in a region that are lost or degraded, as judged for outages',
  ['carrier', 'region'],
);
const baselineShare = gauge(
  'coverage_carrier_baseline_share',
  'The normal unhealthy share of a carrier’s meters in a region',
  ['carrier', 'region'],
);
const evaluations = counter(
  'coverage_carrier_evaluations_total',
  'Evaluations of every carrier × region (one per correlation tick of the leader)',
);
const outagesOpen = gauge('coverage_carrier_outages_open', 'Open carrier outages', [
  'carrier',
  'region',
]);

const STATE_OF: Record<string, 'ok' | 'degraded' | 'lost'> = { o: 'ok', d: 'degraded', l: 'lost' };

/**
 * Carrier × region correlation (the leader's job): sums the shards' per-state counts, feeds each
 * carrier × region to the pure evaluation, and carries out what it decides. Opening an outage
 * stores it with its `carrier.outage` event, marks it on every shard (from then on meter events
 * there carry its id), and publishes the event, which also says which meters already unhealthy
 * belong to it (no meter gets a second event for a state it is already in: coverage.events.v1 has
 * one record per state change). Every step is recorded before it is taken, so a new leader
 * finishes what a dead one began.
 */
@Injectable()
export class CorrelateOutagesService {
  private readonly log = createLogger('CorrelateOutages');
  private readonly task: PeriodicTask;
  /** Outage policies by carrier × region field (the config does not change while running). */
  private readonly policies = new Map<string, OutagePolicy>();
  private states: Map<string, CarrierStateEntry> | undefined;
  private recoveredAt = 0;
  private statsPublishedAt = 0;

  constructor(
    @Inject(COVERAGE_CONFIG) private readonly config: CoverageConfig,
    @Inject(KAFKA) private readonly kafka: Kafka,
    @Inject(PRODUCER) private readonly producer: BatchingProducer,
    private readonly carriers: CarrierStatesRepository,
    private readonly meters: CoverageStateRepository,
    private readonly dictionary: DictionaryRepository,
    private readonly marks: OutageMarksCache,
    private readonly publisher: CoverageEventsPublisher,
    private readonly recovery: PendingRecoveryService,
    private readonly leadership: LeadershipService,
  ) {
    this.task = new PeriodicTask(
      'outage correlation',
      config.COVERAGE_OUTAGE_EVAL_INTERVAL_MS,
      () => this.tick(),
      this.log,
    );
  }

  start(): void {
    this.task.start();
  }

  async stop(): Promise<void> {
    await this.task.stop();
  }

  private async tick(): Promise<void> {
    await this.marks.refresh();
    if (!this.leadership.isLeader()) {
      if (this.states) {
        this.states = undefined;
        for (const g of [metersByState, unhealthyShare, baselineShare, outagesOpen]) g.reset();
      }
      return;
    }
    // What replicas that died left pending (checked every few seconds, not every tick).
    if (Date.now() - this.recoveredAt > 2_000) {
      this.recoveredAt = Date.now();
      await this.recovery.recoverAbandoned();
    }
    this.states ??= await this.carriers.load();
    await this.evaluate(Date.now());
  }

  async evaluate(now: number): Promise<void> {
    const counts = await this.groupCounts();
    const states = this.states!;
    for (const g of [metersByState, unhealthyShare, baselineShare, outagesOpen]) g.reset();
    const fields = new Set([...counts.keys(), ...states.keys()]);
    const publishStats = now - this.statsPublishedAt >= this.config.COVERAGE_STATS_INTERVAL_MS;
    const stats: OutgoingRecord[] = [];
    for (const field of fields) {
      const [ci, ri] = field.split('.').map(Number) as [number, number];
      const carrierId = await this.dictionary.nameOf('c', ci);
      const region = await this.dictionary.nameOf('r', ri);
      const c = counts.get(field) ?? emptyCounts();
      for (const state of ['ok', 'degraded', 'lost'] as const)
        metersByState.set(
          { carrier: carrierId, region, state },
          c.responsive[state] + c.slow[state],
        );
      // A report on an ICCID the platform can't place says nothing about any carrier.
      if (carrierId === 'unknown') continue;
      try {
        await this.evaluateGroup(
          field,
          carrierId,
          region,
          sampleOf(c, now, this.policyOf(field, carrierId, region)),
          now,
        );
      } catch (error) {
        this.log.warn({ err: error, carrierId, region }, 'carrier evaluation failed; retrying');
      }
      if (publishStats) {
        const carrier = this.states?.get(field)?.state;
        const outageId = carrier?.phase === 'closing' ? undefined : carrier?.outage?.outageId;
        stats.push(carrierStatsRecord(carrierId, region, c, outageId, now));
      }
    }
    evaluations.inc();
    if (publishStats) await this.publishStats(now, stats);
  }

  /** Fresh counts are taken again on the next tick when this fails: nothing is kept to resend. */
  private async publishStats(now: number, stats: OutgoingRecord[]): Promise<void> {
    try {
      if (stats.length > 0) await this.producer.send(stats);
      this.statsPublishedAt = now;
    } catch (error) {
      this.log.warn({ err: error }, 'carrier stats not published; next interval restates them');
    }
  }

  private policyOf(field: string, carrierId: string, region: string): OutagePolicy {
    let policy = this.policies.get(field);
    if (!policy) {
      policy = outagePolicyFor(this.config, carrierId, region);
      this.policies.set(field, policy);
    }
    return policy;
  }

  private async evaluateGroup(
    field: string,
    carrierId: string,
    region: string,
    sample: GroupSample,
    now: number,
  ): Promise<void> {
    const states = this.states!;
    let entry = states.get(field) ?? { raw: '', state: initialState() };
    if (entry.state.phase !== 'idle' && entry.state.phase !== 'open') {
      await this.carryOn(field, carrierId, region, entry, true);
      return;
    }
    const policy = this.policyOf(field, carrierId, region);
    const decision = evaluateCarrierRegion(entry.state, sample, policy, (openedAt) =>
      stableEventId('outage', carrierId, region, openedAt),
    );
    if (sample.population > 0) {
      unhealthyShare.set({ carrier: carrierId, region }, sample.unhealthy / sample.population);
      if (decision.state.baseline !== null)
        baselineShare.set(
          { carrier: carrierId, region },
          decision.state.outage?.baseline ?? decision.state.baseline,
        );
    }
    if (decision.state.outage) outagesOpen.set({ carrier: carrierId, region }, 1);
    const next: StoredCarrierState = { ...entry.state, ...decision.state };
    if (decision.event) {
      const opening = decision.event.type === 'carrier.outage';
      const event = carrierEventRecord(carrierId, region, decision.event);
      this.log.warn(
        {
          carrierId,
          region,
          outageId: decision.event.outageId,
          share: decision.event.share,
          baseline: decision.event.baseline,
          population: sample.population,
        },
        opening ? 'carrier outage' : 'carrier outage over',
      );
      const written = await this.write(field, entry, {
        ...next,
        phase: opening ? 'opening' : 'closing',
        pending: { storedAt: now, events: [event] },
        closingOutageId: opening ? null : decision.event.outageId,
      });
      await this.carryOn(field, carrierId, region, written, false);
      return;
    }
    if (carrierStateChanged(entry.state, next) || entry.raw === '') {
      entry = await this.write(field, entry, next);
    } else {
      // Baseline moves every evaluation; it is stored with the next sample.
      states.set(field, { raw: entry.raw, state: next });
    }
  }

  /**
   * Takes an outage's side effects from its recorded phase to the end. `verify`: the pending
   * event may have been published by an attempt that failed afterwards (a crash, a lost lease).
   */
  private async carryOn(
    field: string,
    carrierId: string,
    region: string,
    start: CarrierStateEntry,
    verify: boolean,
  ): Promise<void> {
    let entry = start;
    const { phase } = entry.state;
    if (phase === 'opening' || phase === 'closing') {
      const outageId =
        phase === 'opening' ? entry.state.outage!.outageId : entry.state.closingOutageId!;
      await this.meters.setOutageMark(field, phase === 'opening' ? outageId : null);
      await this.marks.refresh();
      if (phase === 'opening') entry = await this.attribute(field, carrierId, region, entry);
      await this.publishPending(entry.state.pending, verify);
      await this.write(field, entry, {
        ...entry.state,
        phase: phase === 'opening' ? 'open' : 'idle',
        pending: null,
        closingOutageId: null,
      });
    } else if (phase === 'restating') {
      // Left by an earlier version, which restated already unhealthy meters: nothing to do now.
      await this.write(field, entry, {
        ...entry.state,
        phase: entry.state.outage ? 'open' : 'idle',
      });
    }
  }

  /**
   * Adds to the pending `carrier.outage` which meters already unhealthy belong to the outage,
   * counted once it is marked on every shard (from then on no meter there turns unhealthy without
   * its id), and stores that before anything is published, so a retry publishes the same record.
   */
  private async attribute(
    field: string,
    carrierId: string,
    region: string,
    entry: CarrierStateEntry,
  ): Promise<CarrierStateEntry> {
    const { pending, outage } = entry.state;
    const event = pending?.events[0];
    if (!pending || !outage || !event || event.record.type !== 'carrier.outage') return entry;
    if (event.record.attributedMeters !== undefined) return entry;
    const { windowMs } = this.policyOf(field, carrierId, region);
    const attribution = await this.attribution(field, outage.openedAt - windowMs);
    return this.write(field, entry, {
      ...entry.state,
      pending: { ...pending, events: [withAttribution(event, attribution)] },
    });
  }

  private async publishPending(
    pending: StoredCarrierState['pending'],
    verify: boolean,
  ): Promise<void> {
    if (!pending) return;
    let events: OutgoingEvent[] = pending.events;
    if (verify) {
      const seen = await publishedEventIds(this.kafka, pending.storedAt - 1_000);
      events = events.filter((e) => !seen.has(e.record.eventId));
    }
    await this.publisher.publish(events);
  }

  /**
   * The meters of this carrier and region (`field`) unhealthy without a break since `sinceMs` (the
   * detection window's start, to the second) and reported without an outage id: those the outage
   * about to be declared takes in.
   */
  private async attribution(field: string, sinceMs: number): Promise<OutageAttribution> {
    const sinceS = Math.floor(sinceMs / 1000);
    let meters = 0;
    for (const shard of this.meters.layout.shards)
      for (const e of await this.meters.unhealthyEntries(shard))
        if (e.group.startsWith(`${field}.`) && e.sinceS >= sinceS && e.outageId === '') meters++;
    return { since: sinceS * 1000, meters };
  }

  private async write(
    field: string,
    entry: CarrierStateEntry,
    state: StoredCarrierState,
  ): Promise<CarrierStateEntry> {
    const written = await this.carriers.write(field, entry.raw, state);
    if (!written) {
      // Another leader wrote meanwhile (this one's lease lapsed): start over from Redis.
      this.states = undefined;
      throw new Error(`carrier state ${field} changed under this leader`);
    }
    this.states?.set(field, written);
    return written;
  }

  private async groupCounts(): Promise<Map<string, GroupCounts>> {
    const result = new Map<string, GroupCounts>();
    for (const shard of await this.meters.aggregates())
      for (const [key, n] of shard) {
        // `<carrier>.<region>.<class>:<o|d|l>`
        const [group = '', status = ''] = key.split(':');
        const [ci, ri, cls] = group.split('.');
        const field = `${ci}.${ri}`;
        const counts = result.get(field) ?? emptyCounts();
        const state = STATE_OF[status];
        if (!state) continue;
        counts[cls === '1' ? 'slow' : 'responsive'][state] += n;
        result.set(field, counts);
      }
    return result;
  }
}

const initialState = (): StoredCarrierState => ({
  ...emptyCarrierRegionState(),
  phase: 'idle',
  pending: null,
  closingOutageId: null,
});

/**
 * The population an outage is judged on: meters that report often enough to have shown it
 * within the window; all meters only where a carrier has too few of those in the region.
 */
function sampleOf(c: GroupCounts, now: number, policy: OutagePolicy): GroupSample {
  const r = c.responsive;
  const responsive = r.ok + r.degraded + r.lost;
  if (responsive >= policy.minPopulation)
    return { at: now, population: responsive, unhealthy: r.degraded + r.lost };
  const s = c.slow;
  return {
    at: now,
    population: responsive + s.ok + s.degraded + s.lost,
    unhealthy: r.degraded + r.lost + s.degraded + s.lost,
  };
}
