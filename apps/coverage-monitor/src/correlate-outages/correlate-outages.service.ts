import { Inject, Injectable } from '@nestjs/common';
import type { Kafka } from 'kafkajs';
import { stableEventId } from '@meterlink/contracts';
import {
  carrierStateChanged,
  emptyCarrierRegionState,
  evaluateCarrierRegion,
  type GroupSample,
  type OpenOutage,
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
  restatementRecord,
  type OutgoingEvent,
} from '../publish/coverage-events.publisher';
import { publishedEventIds } from '../publish/published-events.scanner';
import { PendingRecoveryService } from '../publish/pending-recovery.service';
import { CoverageStateRepository } from '../state/coverage-state.repository';
import { DictionaryRepository } from '../state/dictionary.repository';
import { MeterUpdatesService, type MeterUpdate } from '../state/meter-updates.service';
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
 * stores it, marks it on every shard (from then on meter events there carry its id), publishes
 * `carrier.outage`, and attributes the meters that were already unhealthy to it with one event
 * each. Every step is recorded before it is taken, so a new leader finishes what a dead one began.
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
    private readonly updates: MeterUpdatesService,
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
      const event = carrierEventRecord(carrierId, region, decision.event);
      const opening = decision.event.type === 'carrier.outage';
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
      await this.publishPending(entry.state.pending, verify);
      entry = await this.write(field, entry, {
        ...entry.state,
        phase: phase === 'opening' ? 'restating' : 'idle',
        pending: null,
        closingOutageId: null,
      });
    }
    if (entry.state.phase === 'restating' && entry.state.outage) {
      const complete = await this.restate(field, carrierId, region, entry.state.outage);
      if (complete) entry = await this.write(field, entry, { ...entry.state, phase: 'open' });
    }
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
   * Attributes the meters of this carrier and region that turned unhealthy within the window
   * before the outage opened (and so were reported without its id) to the outage: one
   * `meter.lost` or `meter.degraded` each, with `reason: joined_carrier_outage`. True when done.
   */
  private async restate(
    field: string,
    carrierId: string,
    region: string,
    outage: OpenOutage,
  ): Promise<boolean> {
    const { windowMs } = this.policyOf(field, carrierId, region);
    const sinceS = Math.floor((outage.openedAt - windowMs) / 1000);
    let complete = true;
    let restated = 0;
    for (const shard of this.meters.layout.shards) {
      const entries = (await this.meters.unhealthyEntries(shard)).filter(
        (e) =>
          e.group.startsWith(`${field}.`) && e.sinceS >= sinceS && e.outageId !== outage.outageId,
      );
      for (let i = 0; i < entries.length; i += 2_000) {
        const chunk = entries.slice(i, i + 2_000);
        const result = await this.updates.apply(
          chunk.map((e) => this.restatement(e.meterId, carrierId, region, outage)),
          500,
        );
        restated += result.published;
        if (result.blocked.length > 0) complete = false;
      }
    }
    if (restated > 0)
      this.log.info(
        { carrierId, region, outageId: outage.outageId, meters: restated },
        'meters already unhealthy attributed to the outage',
      );
    return complete;
  }

  private restatement(
    meterId: string,
    carrierId: string,
    region: string,
    outage: OpenOutage,
  ): MeterUpdate {
    return {
      meterId,
      plan: (current, outageOf) => {
        if (!current || current.state.status === 'ok') return null;
        if (current.state.carrierId !== carrierId || current.state.region !== region) return null;
        if (outageOf(carrierId, region) !== outage.outageId) return null;
        return {
          next: current.state,
          slow: current.stored.slow,
          events: [restatementRecord(meterId, current.state.status, current.state, outage)],
        };
      },
    };
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
