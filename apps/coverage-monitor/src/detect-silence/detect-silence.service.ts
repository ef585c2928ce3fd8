import { Inject, Injectable } from '@nestjs/common';
import type { Kafka } from 'kafkajs';
import { applySilence } from '@meterlink/coverage-domain';
import { counter, createLogger } from '@meterlink/observability';
import { COVERAGE_CONFIG, KAFKA, METER_DIRECTORY } from '../tokens';
import type { MeterDirectory } from '../fleet/meter-directory';
import type { CoverageConfig } from '../config';
import { LeadershipService } from '../leadership.service';
import { PeriodicTask } from '../periodic-task';
import { meterEventRecord } from '../publish/coverage-events.publisher';
import { CoverageStateRepository } from '../state/coverage-state.repository';
import { aggGroup, type ShardKeys } from '../state/layout';
import { decodeMeterState, type StoredMeterState } from '../state/meter-state.codec';
import { MeterUpdatesService, type MeterUpdate } from '../state/meter-updates.service';
import { InputWatermark } from './input-watermark';

const forgotten = counter(
  'coverage_meters_forgotten_total',
  'Meters whose state was dropped because they are no longer active in the fleet',
);

/** Wheel slots taken per round trip when catching up (e.g. after downtime). */
const MAX_SLOTS_PER_CHUNK = 1_000;
/** Due-list entries taken per round trip. */
const MAX_DUE_PER_CHUNK = 2_000;

type BucketMeter = { meterId: string; packed: Buffer; state: StoredMeterState };
/** One shard's part of a sweep round: the wheel slots taken and how far the sweep has started. */
interface SweepChunk {
  shard: ShardKeys;
  slots: number[];
  started: number;
  dueTaken: number;
}

/**
 * Finds meters whose silence deadline passed. Deadlines live in Redis, never in a timer: each
 * bucket of meters is listed in the wheel slot of its earliest deadline; the sweep looks at the
 * buckets of each slot that has passed, declares the meters that are due lost (the same
 * compare-and-set write as reports, so a report racing the sweep wins or loses cleanly, never
 * both), and lists each bucket again at its next deadline. Only the leader sweeps, and only up to
 * the input watermark.
 */
@Injectable()
export class DetectSilenceService {
  private readonly log = createLogger('DetectSilenceService');
  private readonly task: PeriodicTask;
  private readonly watermark: InputWatermark;
  private readonly toForget = new Set<string>();

  constructor(
    @Inject(COVERAGE_CONFIG) config: CoverageConfig,
    @Inject(METER_DIRECTORY) private readonly fleet: MeterDirectory,
    @Inject(KAFKA) kafka: Kafka,
    private readonly states: CoverageStateRepository,
    private readonly updates: MeterUpdatesService,
    private readonly leadership: LeadershipService,
  ) {
    this.watermark = new InputWatermark(kafka, states, 'coverage-monitor');
    this.task = new PeriodicTask(
      'silence sweep',
      config.COVERAGE_SWEEP_INTERVAL_MS,
      async () => {
        await this.forgetQueued();
        if (this.leadership.isLeader()) await this.sweep();
      },
      this.log,
    );
  }

  start(): void {
    this.fleet.onMeterChange((meter) => {
      if (!meter.active) this.toForget.add(meter.meterId);
    });
    this.task.start();
  }

  /**
   * Sweeps every shard up to the input watermarks; returns the meters declared lost. Each round
   * trip covers all shards at once.
   */
  async sweep(): Promise<number> {
    const now = Date.now();
    const watermarks = await this.watermark.current();
    // A meter is judged against the partition its reports arrive on.
    const limitFor = (m: StoredMeterState): number =>
      Math.min(now, watermarks.byPartition.get(m.partition) ?? watermarks.lowest);
    const layout = this.states.layout;
    const lastSweepable = layout.slotOf(Math.min(now, watermarks.highest)) - 1;
    const cursors = await this.states.sweepCursors();
    let lost = 0;
    for (;;) {
      // A chunk that was started but not finished (a crash, a leader change) comes first.
      const chunks: SweepChunk[] = layout.shards.map((shard) => {
        const { started, done } = cursors[shard.shard]!;
        const to = started > done ? started : Math.min(lastSweepable, done + MAX_SLOTS_PER_CHUNK);
        const slots: number[] = [];
        for (let slot = done + 1; slot <= to; slot++) slots.push(slot);
        return { shard, slots, started: Math.max(started, to), dueTaken: 0 };
      });
      await this.states.setStarted(
        chunks
          .filter((c) => c.started > cursors[c.shard.shard]!.started)
          .map((c) => ({ shard: c.shard, slot: c.started })),
      );
      const entries = await this.states.wheelEntries(chunks, MAX_DUE_PER_CHUNK);
      const buckets = new Set<number>();
      entries.forEach((e, i) => {
        chunks[i]!.dueTaken = e.dueTaken;
        for (const b of e.buckets) buckets.add(b);
      });
      if (buckets.size > 0) lost += await this.sweepBuckets([...buckets], limitFor, chunks);
      await this.states.finishSweep(chunks);
      for (const c of chunks) {
        cursors[c.shard.shard] = {
          started: c.started,
          done: c.slots.at(-1) ?? cursors[c.shard.shard]!.done,
        };
      }
      const more = chunks.some(
        (c) => cursors[c.shard.shard]!.done < lastSweepable || c.dueTaken >= MAX_DUE_PER_CHUNK,
      );
      if (!more) return lost;
    }
  }

  private async sweepBuckets(
    buckets: number[],
    limitFor: (m: StoredMeterState) => number,
    chunks: SweepChunk[],
  ): Promise<number> {
    const before = await this.states.readBuckets(buckets);
    const claims: MeterUpdate[] = [];
    const gone: { meterId: string; packed: Buffer; agg: string }[] = [];
    for (const meters of before.values())
      for (const m of meters) {
        if (m.state.status === 'lost') continue;
        const limit = limitFor(m.state);
        if (m.state.deadline > limit) continue;
        const meter = this.fleet.meter(m.meterId);
        if (!meter?.active) gone.push(forgetting(m));
        else claims.push(this.claim(m.meterId, limit));
      }
    if (gone.length > 0) {
      await this.states.forgetMeters(gone);
      forgotten.inc(gone.length);
    }
    // Meters still held by a pending transition, or whose partition's input is behind, stay
    // due: the rearm lists their bucket again, in the due list if the deadline has passed.
    const lost = (await this.updates.apply(claims, 500)).published;
    await this.rearm(buckets, chunks);
    return lost;
  }

  private claim(meterId: string, limit: number): MeterUpdate {
    return {
      meterId,
      plan: (current, outageOf) => {
        if (!current) return null;
        const silent = applySilence(current.state, limit);
        if (!silent) return null; // a report moved the deadline, or another sweep was first
        const t = silent.transition;
        return {
          next: silent.state,
          slow: current.stored.slow,
          events: [
            {
              ...meterEventRecord(meterId, t, { outageId: outageOf(t.carrierId, t.region) }),
              observedAt: t.at,
            },
          ],
        };
      },
    };
  }

  /** Lists each bucket again at its earliest remaining deadline (after this sweep's writes). */
  private async rearm(buckets: number[], chunks: SweepChunk[]): Promise<void> {
    const layout = this.states.layout;
    const after = await this.states.readBuckets(buckets);
    const items: { bucket: number; slot: number; started: number }[] = [];
    for (const [bucket, meters] of after) {
      let earliest = Infinity;
      for (const m of meters)
        if (m.state.status !== 'lost') earliest = Math.min(earliest, m.state.deadline);
      if (earliest === Infinity) continue;
      const started = chunks[layout.bucketAddress(bucket).shard]!.started;
      items.push({ bucket, slot: layout.slotOf(earliest), started });
    }
    await this.states.armBuckets(items);
  }

  private async forgetQueued(): Promise<void> {
    if (this.toForget.size === 0) return;
    const ids = [...this.toForget].slice(0, 1_000);
    const packed = await this.states.readMeters(ids);
    const gone: { meterId: string; packed: Buffer; agg: string }[] = [];
    ids.forEach((meterId, i) => {
      this.toForget.delete(meterId);
      const p = packed[i];
      if (p) gone.push(forgetting({ meterId, packed: p, state: decodeMeterState(p) }));
    });
    await this.states.forgetMeters(gone);
    forgotten.inc(gone.length);
  }

  async stop(): Promise<void> {
    await this.task.stop();
    await this.watermark.stop();
  }
}

function forgetting(m: BucketMeter): { meterId: string; packed: Buffer; agg: string } {
  const status = m.state.status === 'ok' ? 'o' : m.state.status === 'degraded' ? 'd' : 'l';
  return {
    meterId: m.meterId,
    packed: m.packed,
    agg: `${aggGroup(m.state.carrierIdx, m.state.regionIdx, m.state.slow)}:${status}`,
  };
}
