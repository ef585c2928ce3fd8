import { Inject, Injectable } from '@nestjs/common';
import {
  isUnhealthy,
  type CoverageStatus,
  type MeterCoverageState,
} from '@meterlink/coverage-domain';
import { createLogger, histogram } from '@meterlink/observability';
import { COVERAGE_CONFIG } from '../tokens';
import type { CoverageConfig } from '../config';
import {
  CoverageEventsPublisher,
  encodePending,
  type Publication,
} from '../publish/coverage-events.publisher';
import { CoverageStateRepository, type MeterWrite } from './coverage-state.repository';
import { DictionaryRepository } from './dictionary.repository';
import { aggGroup, regionGroup } from './layout';
import { decodeMeterState, encodeMeterState, type StoredMeterState } from './meter-state.codec';
import { OutageMarksCache } from './outage-marks.cache';

export interface CurrentMeter {
  packed: Buffer;
  stored: StoredMeterState;
  state: MeterCoverageState;
}

/** What to store for a meter and what to publish about it. */
export interface MeterPlan {
  next: MeterCoverageState;
  /** The meter reports slowly (daily battery meters): its aggregate class. */
  slow: boolean;
  /** The input partition of the report applied; the stored one when no report is. */
  partition?: number;
  events: Publication[];
}

/** Open outage for a carrier in a region, as this meter's shard knows it ('' when none). */
export type OutageLookup = (carrierId: string, region: string) => string;

export interface MeterUpdate {
  meterId: string;
  /** Null leaves the meter as it is. Called again, with fresh state, after a conflict. */
  plan(current: CurrentMeter | undefined, outageOf: OutageLookup): MeterPlan | null;
}

export interface UpdateResult {
  written: number;
  published: number;
  /** Updates still blocked by a pending transition of another writer when time ran out. */
  blocked: MeterUpdate[];
}

const stageSeconds = histogram(
  'coverage_write_stage_seconds',
  'Time per stage of applying a batch of meter updates',
  ['stage'],
  [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
);

const STATUS_CHAR: Record<CoverageStatus, string> = { ok: 'o', degraded: 'd', lost: 'l' };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Applies per-meter updates the one way every writer (reports, silence sweep) must: read, plan,
 * compare-and-set the state together with the transitions to publish ("pending"), publish, then
 * clear. A crash anywhere leaves either nothing or a pending
 * entry that recovery publishes; a meter with a pending entry takes no new transition until it is
 * cleared, so its events stay in order.
 */
@Injectable()
export class MeterUpdatesService {
  private readonly log = createLogger('MeterUpdates');

  constructor(
    @Inject(COVERAGE_CONFIG) private readonly config: CoverageConfig,
    private readonly states: CoverageStateRepository,
    private readonly dictionary: DictionaryRepository,
    private readonly marks: OutageMarksCache,
    private readonly publisher: CoverageEventsPublisher,
  ) {}

  /**
   * `silent`: state only, no events (rebuilding state from Kafka: what the input meant was
   * published when it first arrived).
   */
  async apply(
    updates: readonly MeterUpdate[],
    maxBlockedWaitMs = 2_000,
    mode: 'publish' | 'silent' = 'publish',
  ): Promise<UpdateResult> {
    let todo = [...updates];
    let written = 0;
    let published = 0;
    const started = Date.now();
    for (let round = 0; todo.length > 0; round++) {
      const result = await this.round(todo, mode);
      written += result.written;
      published += result.published;
      todo = [...result.retryNow, ...result.blocked];
      if (result.retryNow.length === 0 && result.blocked.length > 0) {
        if (Date.now() - started >= maxBlockedWaitMs) return { written, published, blocked: todo };
        await sleep(Math.min(200, 10 * 2 ** Math.min(round, 5)));
      }
      if (round > 50) throw new Error('coverage state kept changing under this writer');
    }
    return { written, published, blocked: [] };
  }

  private async round(
    updates: readonly MeterUpdate[],
    mode: 'publish' | 'silent',
  ): Promise<{
    written: number;
    published: number;
    retryNow: MeterUpdate[];
    blocked: MeterUpdate[];
  }> {
    const layout = this.states.layout;
    let mark = process.hrtime.bigint();
    const lap = (stage: string): void => {
      const now = process.hrtime.bigint();
      stageSeconds.observe({ stage }, Number(now - mark) / 1e9);
      mark = now;
    };
    const packed = await this.states.readMeters(updates.map((u) => u.meterId));
    lap('read');
    const currents = await this.currents(packed);
    const planned: {
      update: MeterUpdate;
      plan: MeterPlan;
      current: CurrentMeter | undefined;
      consulted: Map<string, string>;
    }[] = [];
    updates.forEach((update, i) => {
      const current = currents[i];
      const shard = layout.address(update.meterId).shard;
      const consulted = new Map<string, string>();
      const plan = update.plan(current, (carrierId, region) => {
        // A carrier or region never counted anywhere can have no outage yet.
        const field = this.groupField(carrierId, region);
        if (field === null) return '';
        const id = this.marks.outageId(shard, field);
        consulted.set(field, id);
        return id;
      });
      if (plan)
        planned.push({
          update,
          plan: mode === 'silent' ? { ...plan, events: [] } : plan,
          current,
          consulted,
        });
    });
    if (planned.length === 0) return { written: 0, published: 0, retryNow: [], blocked: [] };

    await this.dictionary.ensure(
      planned.map((p) => p.plan.next.carrierId),
      planned.map((p) => p.plan.next.region),
    );
    const now = Date.now();
    const writes: MeterWrite[] = [];
    const pendings: (string | null)[] = [];
    for (const p of planned) {
      const { plan, current, consulted } = p;
      const stored: StoredMeterState = {
        status: plan.next.status,
        slow: plan.slow,
        badReports: plan.next.badReports,
        goodReports: plan.next.goodReports,
        lastReportAt: plan.next.lastReportAt,
        lastSeq: plan.next.lastSeq,
        deadline: plan.next.deadline,
        carrierIdx: this.dictionary.carrierIdx(plan.next.carrierId),
        regionIdx: this.dictionary.regionIdx(plan.next.region),
        partition: plan.partition ?? current?.stored.partition ?? 0,
        iccid: plan.next.iccid,
      };
      const next = encodeMeterState(stored);
      const pending =
        plan.events.length > 0
          ? encodePending({
              owner: this.config.COVERAGE_REPLICA_ID,
              storedAt: now,
              events: plan.events.map(({ key, record }) => ({ key, record })),
            })
          : null;
      const nextAgg = `${aggGroup(stored.carrierIdx, stored.regionIdx, stored.slow)}:${STATUS_CHAR[stored.status]}`;
      const oldAgg = current
        ? `${aggGroup(current.stored.carrierIdx, current.stored.regionIdx, current.stored.slow)}:${STATUS_CHAR[current.stored.status]}`
        : null;
      pendings.push(pending);
      writes.push({
        meterId: p.update.meterId,
        address: layout.address(p.update.meterId),
        old: current?.packed ?? null,
        next,
        oldAgg,
        nextAgg,
        unhealthyOp: unhealthyOp(current?.stored, stored, plan),
        pending,
        deadlineSlot: stored.status === 'lost' ? null : layout.slotOf(stored.deadline),
        assumedOutages: consulted,
      });
    }

    lap('plan');
    const outcomes = await this.states.writeMeters(writes);
    lap('write');
    const retryNow: MeterUpdate[] = [];
    const blocked: MeterUpdate[] = [];
    const toPublish: Publication[] = [];
    const toClear: { meterId: string; pending: string }[] = [];
    let written = 0;
    outcomes.forEach((outcome, i) => {
      const p = planned[i]!;
      switch (outcome.kind) {
        case 'written':
          written++;
          if (pendings[i]) {
            toPublish.push(...p.plan.events);
            toClear.push({ meterId: p.update.meterId, pending: pendings[i] });
          }
          return;
        case 'conflict':
          retryNow.push(p.update);
          return;
        case 'outage-changed':
          this.marks.learn(writes[i]!.address.shard, outcome.field, outcome.outageId);
          retryNow.push(p.update);
          return;
        case 'locked':
          blocked.push(p.update);
          return;
      }
    });
    await this.publisher.publish(toPublish);
    if (toPublish.length > 0) lap('publish');
    await this.states.clearPending(toClear);
    if (toClear.length > 0) lap('clear');
    if (retryNow.length > 0)
      this.log.debug({ count: retryNow.length }, 'coverage state changed meanwhile; re-planning');
    return { written, published: toPublish.length, retryNow, blocked };
  }

  /** Decoded states with their carrier and region names (refreshing the dictionary if needed). */
  async currents(packed: readonly (Buffer | null)[]): Promise<(CurrentMeter | undefined)[]> {
    const stored = packed.map((p) => (p ? decodeMeterState(p) : undefined));
    if (stored.some((s) => s && !this.dictionary.knowsNumbers(s.carrierIdx, s.regionIdx)))
      await this.dictionary.load();
    return stored.map((s, i) =>
      s
        ? {
            packed: packed[i]!,
            stored: s,
            state: {
              status: s.status,
              badReports: s.badReports,
              goodReports: s.goodReports,
              lastReportAt: s.lastReportAt,
              lastSeq: s.lastSeq,
              deadline: s.deadline,
              iccid: s.iccid,
              carrierId: this.dictionary.carrierName(s.carrierIdx),
              region: this.dictionary.regionName(s.regionIdx),
            },
          }
        : undefined,
    );
  }

  /** `<carrier>.<region>` as numbers, or null when either was never seen. */
  groupField(carrierId: string, region: string): string | null {
    const c = this.dictionary.knownCarrierIdx(carrierId);
    const r = this.dictionary.knownRegionIdx(region);
    return c === undefined || r === undefined ? null : regionGroup(c, r);
  }
}

/** How the unhealthy index follows a write (see WRITE_METER). */
function unhealthyOp(
  old: StoredMeterState | undefined,
  next: StoredMeterState,
  plan: MeterPlan,
): string {
  if (!isUnhealthy(next.status)) return old && isUnhealthy(old.status) ? '-' : '=';
  const attributed = plan.events.find((e) => e.record.outageId)?.record.outageId ?? '';
  const sameGroup =
    old &&
    isUnhealthy(old.status) &&
    old.carrierIdx === next.carrierIdx &&
    old.regionIdx === next.regionIdx &&
    old.slow === next.slow;
  if (sameGroup) return attributed ? `A${attributed}` : '=';
  const since =
    plan.events.find((e) => e.record.type === 'meter.degraded' || e.record.type === 'meter.lost')
      ?.record.at ?? new Date().toISOString();
  return `S${aggGroup(next.carrierIdx, next.regionIdx, next.slow)}|${Math.floor(Date.parse(since) / 1000)}|${attributed}`;
}
