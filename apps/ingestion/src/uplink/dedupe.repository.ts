import type { Redis } from '@meterlink/redis';

/** Seqs remembered per meter below the highest one seen: 1024 bits = 128 bytes of bitmap. */
export const DEDUPE_WINDOW = 1024;
const TTL_S = 400 * 86_400;

/*
 * Per meter, two keys: `hw`, the highest seq accepted, and `bm`, a bitmap of the accepted seqs in
 * the window below it (bit seq % window). A seq on its way to Kafka is also claimed: `cl:{seq}`
 * holds the claiming replica's id for a lease, so that two replicas handed copies of one message
 * at the same time (a meter resending after a lost PUBACK, while the first copy waits on Kafka)
 * do not both write it. The claim is taken atomically with the check, and dropped with the mark.
 */

// KEYS: hw, bm, cl per pair. ARGV: window, owner, lease ms, then one seq per pair.
// Returns per pair 0 claimed by the caller (new), 1 duplicate, 2 older than the window,
// 3 claimed by another owner. Pairs are handled in order: two seqs of one meter see each other.
const CLAIM_MANY = `
local w = tonumber(ARGV[1])
local owner = ARGV[2]
local lease = tonumber(ARGV[3])
local out = {}
for i = 1, #KEYS / 3 do
  local hw = tonumber(redis.call('GET', KEYS[3 * i - 2]))
  local seq = tonumber(ARGV[i + 3])
  local cl = KEYS[3 * i]
  if hw and seq <= hw - w then out[i] = 2
  elseif hw and seq <= hw and redis.call('GETBIT', KEYS[3 * i - 1], seq % w) == 1 then out[i] = 1
  elseif redis.call('SET', cl, owner, 'NX', 'PX', lease) then out[i] = 0
  elseif redis.call('GET', cl) == owner then
    redis.call('PEXPIRE', cl, lease)
    out[i] = 0
  else out[i] = 3 end
end
return out
`;

// KEYS: hw, bm, cl per pair. ARGV: window, ttl s, then one seq per pair. When the high-water
// mark advances, the bits it passes over are cleared.
const MARK_MANY = `
local w = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
for i = 1, #KEYS / 3 do
  local hwKey = KEYS[3 * i - 2]
  local bmKey = KEYS[3 * i - 1]
  local hw = tonumber(redis.call('GET', hwKey))
  local seq = tonumber(ARGV[i + 2])
  local mark = true
  if not hw or seq > hw then
    if not hw or seq - hw >= w then
      redis.call('DEL', bmKey)
    else
      for s = hw + 1, seq - 1 do redis.call('SETBIT', bmKey, s % w, 0) end
    end
    redis.call('SET', hwKey, seq, 'EX', ttl)
  elseif seq <= hw - w then
    mark = false
  end
  if mark then
    redis.call('SETBIT', bmKey, seq % w, 1)
    redis.call('EXPIRE', bmKey, ttl)
  end
  redis.call('DEL', KEYS[3 * i])
end
return 1
`;

// KEYS: claim keys. ARGV: owner, lease ms. Extends the claims the owner still holds.
const RENEW_MANY = `
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then redis.call('PEXPIRE', KEYS[i], ARGV[2]) end
end
return 1
`;

/** `claimed`: another replica holds the seq's claim, i.e. has a copy on its way to Kafka. */
export type SeqStatus = 'new' | 'duplicate' | 'too_old' | 'claimed';
export type SeqKey = readonly [meterId: string, seq: number];
const STATUS: readonly SeqStatus[] = ['new', 'duplicate', 'too_old', 'claimed'];

/**
 * (meterId, seq) deduplication shared by every ingestion replica. A seq is claimed before its
 * records go to Kafka and marked only after Kafka acknowledged them, so a crash in between makes
 * the broker redeliver rather than lose the message; the claim's lease bounds how long a crashed
 * replica's claim holds up another's copy.
 */
export class DedupeRepository {
  /**
   * @param owner the claiming replica's stable id: a replica restarted after a crash finds its
   * own claims and goes on, instead of waiting out their lease.
   * @param leaseMs how long a claim holds without renewal (renewMany).
   * @param batchScripts one script call for a whole batch of meters. Much cheaper for Redis and
   * the client, but its keys span hash slots, which Redis Cluster refuses: there, pass false to
   * make one call per meter (each meter's keys share a slot).
   */
  constructor(
    private readonly redis: Redis,
    private readonly owner: string,
    private readonly leaseMs: number,
    private readonly batchScripts = true,
  ) {
    redis.defineCommand('mlDedupeClaimMany', { lua: CLAIM_MANY });
    redis.defineCommand('mlDedupeMarkMany', { lua: MARK_MANY });
    redis.defineCommand('mlDedupeRenewMany', { lua: RENEW_MANY });
  }

  /** Checks each pair and, when it is neither accepted already nor claimed elsewhere, claims it. */
  async claimMany(pairs: readonly SeqKey[]): Promise<SeqStatus[]> {
    const codes = await this.perSlot(
      pairs,
      (chunk) =>
        this.call(
          'mlDedupeClaimMany',
          chunk.length * 3,
          ...chunk.flatMap(([meterId, seq]) => this.keys(meterId, seq)),
          DEDUPE_WINDOW,
          this.owner,
          this.leaseMs,
          ...chunk.map(([, seq]) => seq),
        ) as Promise<number[]>,
    );
    return codes.map((code) => STATUS[code] ?? 'new');
  }

  /** Records the pairs as accepted (Kafka holds their records) and drops their claims. */
  async markMany(pairs: readonly SeqKey[]): Promise<void> {
    await this.perSlot(pairs, async (chunk) => {
      await this.call(
        'mlDedupeMarkMany',
        chunk.length * 3,
        ...chunk.flatMap(([meterId, seq]) => this.keys(meterId, seq)),
        DEDUPE_WINDOW,
        TTL_S,
        ...chunk.map(([, seq]) => seq),
      );
      return [];
    });
  }

  /** Extends this owner's claims on pairs still on their way to Kafka. */
  async renewMany(pairs: readonly SeqKey[]): Promise<void> {
    await this.perSlot(pairs, async (chunk) => {
      await this.call(
        'mlDedupeRenewMany',
        chunk.length,
        ...chunk.map(([meterId, seq]) => this.claimKey(meterId, seq)),
        this.owner,
        this.leaseMs,
      );
      return [];
    });
  }

  /** One call for all pairs, or one per pair where scripts must stay within a hash slot. */
  private async perSlot(
    pairs: readonly SeqKey[],
    run: (chunk: readonly SeqKey[]) => Promise<number[]>,
  ): Promise<number[]> {
    if (pairs.length === 0) return [];
    if (this.batchScripts) return run(pairs);
    const results = await Promise.all(pairs.map((pair) => run([pair])));
    return results.flat();
  }

  private keys(meterId: string, seq: number): [string, string, string] {
    // The hash tag keeps a meter's keys in one Redis Cluster slot.
    return [`dd:{${meterId}}:hw`, `dd:{${meterId}}:bm`, this.claimKey(meterId, seq)];
  }

  private claimKey(meterId: string, seq: number): string {
    return `dd:{${meterId}}:cl:${seq}`;
  }

  private call(command: string, ...args: (string | number)[]): Promise<unknown> {
    const fn = (
      this.redis as unknown as Record<string, (...a: (string | number)[]) => Promise<unknown>>
    )[command];
    if (!fn) throw new Error(`redis command ${command} is not defined`);
    return fn.apply(this.redis, args);
  }
}
