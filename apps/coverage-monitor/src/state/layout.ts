/**
 * Where coverage state lives in Redis. Per-meter state is packed into small hashes ("buckets",
 * ~15 meters each at a million meters) so that Redis keeps them as listpacks: a meter costs its
 * id plus its packed value, not a key of its own. Buckets belong to shards, and every key a
 * per-meter script touches carries the shard's hash tag, so each script stays within one Redis
 * Cluster slot.
 *
 * per shard s (hash tag `{cN}`):
 *   cov:{cN}:b:<bucket>  hash   meterId → packed state (meter-state.codec.ts); `~w` = armed wheel slot
 *   cov:{cN}:agg         hash   `<carrier>.<region>.<class>:<o|d|l>` → meters in that state
 *   cov:{cN}:u           hash   unhealthy meterId → `<group>|<since s>|<outageId attributed>`
 *   cov:{cN}:p           hash   meterId → transitions stored but not yet known published (JSON)
 *   cov:{cN}:o           hash   `<carrier>.<region>` → id of the open outage
 *   cov:{cN}:w:<slot>    list   buckets to look at when wheel slot <slot> has passed
 *   cov:{cN}:due         list   buckets to look at on the next sweep (deadline already passed)
 *   cov:{cN}:cur         string last wheel slot the sweep has started on
 *   cov:{cN}:done        string last wheel slot the sweep has finished
 * global:
 *   cov:layout           string shard/bucket/slot layout (refuses to run against another one)
 *   cov:dict             hash   carrier and region names ↔ small numbers used in packed state
 *   cov:progress         hash   partition → `<next offset>:<timestamp of last record>` applied
 *   cov:carriers         hash   `<carrier>.<region>` → correlation state (JSON)
 *   cov:leader           string `<replica>@<boot>.<nonce>` of the process holding leadership (lease)
 *   cov:alive:<replica>  string the same token, while that replica's process runs (its claim on the id)
 */
export interface Layout {
  shards: number;
  buckets: number;
  slotMs: number;
}

/**
 * 16 shards: enough Cluster slots to spread over a cluster's nodes, few enough to sum every
 * second. 65,536 buckets: ~15 meters each at a million meters and still under the 128-entry
 * listpack limit at several million. 100 ms wheel slots: a deadline waits at most that long for
 * its slot to be swept.
 */
export const DEFAULT_LAYOUT: Layout = { shards: 16, buckets: 65_536, slotMs: 100 };

export const LAYOUT_VERSION = 1;
export const LAYOUT_KEY = 'cov:layout';
export const DICT_KEY = 'cov:dict';
export const PROGRESS_KEY = 'cov:progress';
export const CARRIERS_KEY = 'cov:carriers';
export const LEADER_KEY = 'cov:leader';
export const aliveKey = (replicaId: string): string => `cov:alive:${replicaId}`;

export const describeLayout = (l: Layout): string =>
  `v${LAYOUT_VERSION} shards=${l.shards} buckets=${l.buckets} slotMs=${l.slotMs}`;

/** 32-bit FNV-1a of the meter id: cheap, stable across processes and releases. */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

export class ShardKeys {
  readonly tag: string;
  constructor(readonly shard: number) {
    this.tag = `cov:{c${shard}}`;
  }
  bucket(bucket: number): string {
    return `${this.tag}:b:${bucket}`;
  }
  get agg(): string {
    return `${this.tag}:agg`;
  }
  get unhealthy(): string {
    return `${this.tag}:u`;
  }
  get pending(): string {
    return `${this.tag}:p`;
  }
  get outages(): string {
    return `${this.tag}:o`;
  }
  wheel(slot: number): string {
    return `${this.tag}:w:${slot}`;
  }
  get due(): string {
    return `${this.tag}:due`;
  }
  get cursor(): string {
    return `${this.tag}:cur`;
  }
  get done(): string {
    return `${this.tag}:done`;
  }
}

export interface MeterAddress {
  bucket: number;
  shard: number;
  keys: ShardKeys;
}

export class StateLayout {
  private readonly shardKeys: ShardKeys[];
  constructor(readonly layout: Layout) {
    this.shardKeys = Array.from({ length: layout.shards }, (_, s) => new ShardKeys(s));
  }
  get shards(): readonly ShardKeys[] {
    return this.shardKeys;
  }
  address(meterId: string): MeterAddress {
    const bucket = fnv1a(meterId) % this.layout.buckets;
    return this.bucketAddress(bucket);
  }
  bucketAddress(bucket: number): MeterAddress {
    const shard = bucket % this.layout.shards;
    return { bucket, shard, keys: this.shardKeys[shard]! };
  }
  slotOf(epochMs: number): number {
    return Math.floor(epochMs / this.layout.slotMs);
  }
  /** First instant after the slot: it may be swept once input has been applied up to here. */
  slotEnd(slot: number): number {
    return (slot + 1) * this.layout.slotMs;
  }
}

/** Carrier × region, as numbers from the dictionary. */
export const regionGroup = (carrierIdx: number, regionIdx: number): string =>
  `${carrierIdx}.${regionIdx}`;
/** Carrier × region × reporting class (0: responsive, 1: slow, e.g. daily battery meters). */
export const aggGroup = (carrierIdx: number, regionIdx: number, slow: boolean): string =>
  `${carrierIdx}.${regionIdx}.${slow ? 1 : 0}`;
