import { Inject, Injectable } from '@nestjs/common';
import type { ChainableCommander } from 'ioredis';
import type { Redis } from '@meterlink/redis';
import { REDIS, STATE_LAYOUT } from '../tokens';
import {
  LAYOUT_KEY,
  PROGRESS_KEY,
  describeLayout,
  type MeterAddress,
  type ShardKeys,
  type StateLayout,
} from './layout';
import { decodeMeterState, type StoredMeterState } from './meter-state.codec';
import { ARM_BUCKET, CLEAR_PENDING, FORGET_METER, READ_METERS, WRITE_METERS } from './scripts';

/** A compare-and-set write of one meter (see WRITE_METER). */
export interface MeterWrite {
  meterId: string;
  address: MeterAddress;
  old: Buffer | null;
  next: Buffer;
  oldAgg: string | null;
  nextAgg: string;
  /** '-' remove, '=' keep, 'S<value>' set, 'A<outageId>' attribute. */
  unhealthyOp: string;
  pending: string | null;
  deadlineSlot: number | null;
  /** The outages (field → id, '' for none) the records in `pending` were built with. */
  assumedOutages: Map<string, string>;
}

export type WriteOutcome =
  | { kind: 'written' }
  | { kind: 'conflict' }
  | { kind: 'locked' }
  | { kind: 'outage-changed'; field: string; outageId: string };

export interface PendingEntry {
  meterId: string;
  shard: ShardKeys;
  raw: string;
}

export interface UnhealthyEntry {
  meterId: string;
  group: string;
  sinceS: number;
  outageId: string;
}

type ScriptCommander = {
  covWriteMany(...args: (string | Buffer | number)[]): unknown;
  covReadManyBuffer(...args: (string | number)[]): unknown;
  covArm(...args: (string | number)[]): unknown;
  covForget(...args: (string | Buffer | number)[]): unknown;
  covClearPending(...args: (string | number)[]): unknown;
};

/**
 * Coverage state in Redis: reads, compare-and-set writes and the deadline wheel, batched into
 * pipelines (one round trip per batch of meters, not per meter).
 */
@Injectable()
export class CoverageStateRepository {
  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(STATE_LAYOUT) readonly layout: StateLayout,
  ) {
    // Key counts vary per call (one bucket per meter): numkeys goes first in each call.
    redis.defineCommand('covWriteMany', { lua: WRITE_METERS });
    redis.defineCommand('covReadMany', { lua: READ_METERS });
    redis.defineCommand('covArm', { numberOfKeys: 3, lua: ARM_BUCKET });
    redis.defineCommand('covForget', { numberOfKeys: 3, lua: FORGET_METER });
    redis.defineCommand('covClearPending', { lua: CLEAR_PENDING });
  }

  /** Records the layout on first use; refuses to run against data laid out differently. */
  async checkLayout(): Promise<void> {
    const wanted = describeLayout(this.layout.layout);
    await this.redis.set(LAYOUT_KEY, wanted, 'NX');
    const actual = await this.redis.get(LAYOUT_KEY);
    if (actual !== wanted)
      throw new Error(
        `coverage state in Redis has layout "${actual}", this process is configured for "${wanted}"; ` +
          'changing shards, buckets or the wheel slot needs a rebuild (docs/architecture.md)',
      );
    // The sweep starts from now: nothing older can be listed in a wheel that did not exist.
    const start = String(this.layout.slotOf(Date.now()) - 1);
    const pipeline = this.redis.pipeline();
    for (const s of this.layout.shards)
      pipeline.set(s.cursor, start, 'NX').set(s.done, start, 'NX');
    await exec(pipeline);
  }

  /** Packed states (null when none), one script call per shard. */
  async readMeters(meterIds: readonly string[]): Promise<(Buffer | null)[]> {
    if (meterIds.length === 0) return [];
    const byShard = this.groupByShard(
      meterIds.map((id, i) => ({ id, i })),
      (x) => x.id,
    );
    const pipeline = this.redis.pipeline();
    for (const [shard, items] of byShard)
      (pipeline as unknown as ScriptCommander).covReadManyBuffer(
        items.length,
        ...items.map((x) => shard.bucket(this.layout.address(x.id).bucket)),
        ...items.map((x) => x.id),
      );
    const replies = await exec(pipeline);
    const result: (Buffer | null)[] = new Array<Buffer | null>(meterIds.length).fill(null);
    [...byShard.values()].forEach((items, s) => {
      const values = replies[s] as Buffer[];
      items.forEach((x, k) => {
        const value = values[k];
        result[x.i] = value && value.length > 0 ? value : null;
      });
    });
    return result;
  }

  /** Compare-and-set writes (see WRITE_METERS), one script call per shard. */
  async writeMeters(writes: readonly MeterWrite[]): Promise<WriteOutcome[]> {
    if (writes.length === 0) return [];
    const byShard = this.groupByShard(
      writes.map((w, i) => ({ w, i })),
      (x) => x.w.meterId,
    );
    const pipeline = this.redis.pipeline();
    for (const [shard, items] of byShard) {
      const keys: string[] = [
        shard.agg,
        shard.unhealthy,
        shard.pending,
        shard.outages,
        shard.cursor,
        shard.due,
      ];
      const args: (string | Buffer)[] = [String(items.length)];
      for (const { w } of items) {
        const slot = w.deadlineSlot ?? -1;
        keys.push(shard.bucket(w.address.bucket), slot >= 0 ? shard.wheel(slot) : shard.due);
        args.push(
          w.meterId,
          w.old ?? '',
          w.next,
          w.oldAgg ?? '',
          w.nextAgg,
          w.unhealthyOp,
          w.pending ?? '',
          String(slot),
          String(w.address.bucket),
          String(w.assumedOutages.size),
        );
        for (const [field, id] of w.assumedOutages) args.push(field, id);
      }
      (pipeline as unknown as ScriptCommander).covWriteMany(keys.length, ...keys, ...args);
    }
    const replies = await exec(pipeline);
    const outcomes = new Array<WriteOutcome>(writes.length);
    [...byShard.values()].forEach((items, s) => {
      const codes = replies[s] as (number | [number, string, string])[];
      items.forEach((x, k) => (outcomes[x.i] = outcomeOf(codes[k])));
    });
    return outcomes;
  }

  /** Clears published transitions; each is cleared only if it is still the one published. */
  async clearPending(items: readonly { meterId: string; pending: string }[]): Promise<void> {
    if (items.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const [shard, group] of this.groupByShard(items, (x) => x.meterId))
      (pipeline as unknown as ScriptCommander).covClearPending(
        1,
        shard.pending,
        ...group.flatMap((x) => [x.meterId, x.pending]),
      );
    await exec(pipeline);
  }

  private groupByShard<T>(items: readonly T[], idOf: (item: T) => string): Map<ShardKeys, T[]> {
    const byShard = new Map<ShardKeys, T[]>();
    for (const item of items) {
      const shard = this.layout.address(idOf(item)).keys;
      const list = byShard.get(shard);
      if (list) list.push(item);
      else byShard.set(shard, [item]);
    }
    return byShard;
  }

  async forgetMeters(
    items: readonly { meterId: string; packed: Buffer; agg: string }[],
  ): Promise<void> {
    if (items.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const { meterId, packed, agg } of items) {
      const a = this.layout.address(meterId);
      (pipeline as unknown as ScriptCommander).covForget(
        a.keys.bucket(a.bucket),
        a.keys.agg,
        a.keys.unhealthy,
        meterId,
        packed,
        agg,
      );
    }
    await exec(pipeline);
  }

  /** Every meter of some buckets, decoded (the wheel's `~w` field left out). */
  async readBuckets(
    buckets: readonly number[],
  ): Promise<Map<number, { meterId: string; packed: Buffer; state: StoredMeterState }[]>> {
    const result = new Map<
      number,
      { meterId: string; packed: Buffer; state: StoredMeterState }[]
    >();
    if (buckets.length === 0) return result;
    const pipeline = this.redis.pipeline();
    for (const b of buckets) {
      const a = this.layout.bucketAddress(b);
      pipeline.hgetallBuffer(a.keys.bucket(b));
    }
    const replies = await exec(pipeline);
    buckets.forEach((b, i) => {
      const hash = (replies[i] ?? {}) as Record<string, Buffer>;
      const meters: { meterId: string; packed: Buffer; state: StoredMeterState }[] = [];
      for (const [meterId, packed] of Object.entries(hash)) {
        if (meterId.startsWith('~')) continue;
        meters.push({ meterId, packed, state: decodeMeterState(packed) });
      }
      result.set(b, meters);
    });
    return result;
  }

  /** Arms buckets at their earliest remaining deadline slot (see ARM_BUCKET). */
  async armBuckets(items: readonly { bucket: number; slot: number; started: number }[]) {
    if (items.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const { bucket, slot, started } of items) {
      const a = this.layout.bucketAddress(bucket);
      (pipeline as unknown as ScriptCommander).covArm(
        a.keys.bucket(bucket),
        a.keys.wheel(Math.max(slot, 0)),
        a.keys.due,
        String(started),
        String(slot),
        String(bucket),
      );
    }
    await exec(pipeline);
  }

  async sweepCursors(): Promise<{ started: number; done: number }[]> {
    const pipeline = this.redis.pipeline();
    for (const s of this.layout.shards) pipeline.get(s.cursor).get(s.done);
    const replies = await exec(pipeline);
    return this.layout.shards.map((_, i) => ({
      started: replies[2 * i] === null ? -1 : Number(replies[2 * i]),
      done: replies[2 * i + 1] === null ? -1 : Number(replies[2 * i + 1]),
    }));
  }

  /** Marks wheel slots as being swept (writes then no longer count on entries there). */
  async setStarted(items: readonly { shard: ShardKeys; slot: number }[]): Promise<void> {
    if (items.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const { shard, slot } of items) pipeline.set(shard.cursor, String(slot));
    await exec(pipeline);
  }

  /** Per shard, the buckets listed in some wheel slots and in its due list (up to `dueLimit`). */
  async wheelEntries(
    chunks: readonly { shard: ShardKeys; slots: readonly number[] }[],
    dueLimit: number,
  ): Promise<{ buckets: number[]; dueTaken: number }[]> {
    const pipeline = this.redis.pipeline();
    for (const { shard, slots } of chunks) {
      for (const slot of slots) pipeline.lrange(shard.wheel(slot), 0, -1);
      pipeline.lrange(shard.due, 0, dueLimit - 1);
    }
    const replies = (await exec(pipeline)) as string[][];
    let i = 0;
    return chunks.map(({ slots }) => {
      const buckets = new Set<number>();
      for (let k = 0; k < slots.length; k++) for (const b of replies[i++]!) buckets.add(Number(b));
      const due = replies[i++]!;
      for (const b of due) buckets.add(Number(b));
      return { buckets: [...buckets], dueTaken: due.length };
    });
  }

  /** The slots were swept and the due entries taken: drop them and move the cursors. */
  async finishSweep(
    chunks: readonly { shard: ShardKeys; slots: readonly number[]; dueTaken: number }[],
  ): Promise<void> {
    const pipeline = this.redis.pipeline();
    let commands = 0;
    for (const { shard, slots, dueTaken } of chunks) {
      if (slots.length > 0) {
        pipeline.unlink(...slots.map((s) => shard.wheel(s)));
        pipeline.set(shard.done, String(slots.at(-1)));
        commands += 2;
      }
      if (dueTaken > 0) {
        pipeline.ltrim(shard.due, dueTaken, -1);
        commands++;
      }
    }
    if (commands > 0) await exec(pipeline);
  }

  async pendingEntries(): Promise<PendingEntry[]> {
    const pipeline = this.redis.pipeline();
    for (const s of this.layout.shards) pipeline.hgetall(s.pending);
    const replies = (await exec(pipeline)) as Record<string, string>[];
    const found: PendingEntry[] = [];
    replies.forEach((hash, i) => {
      for (const [meterId, raw] of Object.entries(hash))
        found.push({ meterId, shard: this.layout.shards[i]!, raw });
    });
    return found;
  }

  /** The shard copies of open outages: per shard, `<carrier>.<region>` → outage id. */
  async outageMarks(): Promise<Map<string, string>[]> {
    const pipeline = this.redis.pipeline();
    for (const s of this.layout.shards) pipeline.hgetall(s.outages);
    const replies = (await exec(pipeline)) as Record<string, string>[];
    return replies.map((hash) => new Map(Object.entries(hash)));
  }

  async setOutageMark(field: string, outageId: string | null): Promise<void> {
    const pipeline = this.redis.pipeline();
    for (const s of this.layout.shards)
      if (outageId) pipeline.hset(s.outages, field, outageId);
      else pipeline.hdel(s.outages, field);
    await exec(pipeline);
  }

  /** Per shard, `<group>:<o|d|l>` → meters. */
  async aggregates(): Promise<Map<string, number>[]> {
    const pipeline = this.redis.pipeline();
    for (const s of this.layout.shards) pipeline.hgetall(s.agg);
    const replies = (await exec(pipeline)) as Record<string, string>[];
    return replies.map((hash) => new Map(Object.entries(hash).map(([k, v]) => [k, Number(v)])));
  }

  async unhealthyEntries(shard: ShardKeys): Promise<UnhealthyEntry[]> {
    const hash = await this.redis.hgetall(shard.unhealthy);
    return Object.entries(hash).map(([meterId, value]) => {
      const [group = '', since = '0', outageId = ''] = value.split('|');
      return { meterId, group, sinceS: Number(since), outageId };
    });
  }

  /** How far each partition's input has been applied (see detect-silence/input-watermark.ts). */
  async saveProgress(partition: number, nextOffset: string, lastTimestamp: number): Promise<void> {
    await this.redis.hset(PROGRESS_KEY, String(partition), `${nextOffset}:${lastTimestamp}`);
  }

  async progress(): Promise<Map<number, { nextOffset: bigint; lastTimestamp: number }>> {
    const hash = await this.redis.hgetall(PROGRESS_KEY);
    const result = new Map<number, { nextOffset: bigint; lastTimestamp: number }>();
    for (const [partition, value] of Object.entries(hash)) {
      const [offset = '0', ts = '0'] = value.split(':');
      result.set(Number(partition), { nextOffset: BigInt(offset), lastTimestamp: Number(ts) });
    }
    return result;
  }
}

function outcomeOf(reply: number | [number, string, string] | undefined): WriteOutcome {
  if (Array.isArray(reply))
    return { kind: 'outage-changed', field: String(reply[1]), outageId: String(reply[2]) };
  if (reply === 1) return { kind: 'written' };
  if (reply === 2) return { kind: 'locked' };
  return { kind: 'conflict' };
}

/** Runs a pipeline and throws the first command error (connection errors are transient). */
export async function exec(pipeline: ChainableCommander): Promise<unknown[]> {
  const results = await pipeline.exec();
  if (!results) throw new Error('redis pipeline was discarded');
  return results.map(([error, value]) => {
    if (error) throw error;
    return value;
  });
}
