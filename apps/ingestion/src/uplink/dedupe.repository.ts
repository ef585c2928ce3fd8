import type { Redis } from '@meterlink/redis';

/** Seqs remembered per meter below the highest one seen: 1024 bits = 128 bytes of bitmap. */
export const DEDUPE_WINDOW = 1024;
const TTL_S = 400 * 86_400;

// KEYS: hw, bitmap. ARGV: seq, window. Returns 0 new, 1 duplicate, 2 older than the window.
const CHECK = `
local hw = tonumber(redis.call('GET', KEYS[1]))
local seq = tonumber(ARGV[1])
local w = tonumber(ARGV[2])
if not hw or seq > hw then return 0 end
if seq <= hw - w then return 2 end
return redis.call('GETBIT', KEYS[2], seq % w)
`;
// Marks seq as accepted; when the high-water mark advances, the bits it passes over are cleared.
const MARK = `
local hw = tonumber(redis.call('GET', KEYS[1]))
local seq = tonumber(ARGV[1])
local w = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
if not hw or seq > hw then
  if not hw or seq - hw >= w then
    redis.call('DEL', KEYS[2])
  else
    for s = hw + 1, seq - 1 do redis.call('SETBIT', KEYS[2], s % w, 0) end
  end
  redis.call('SET', KEYS[1], seq, 'EX', ttl)
elseif seq <= hw - w then
  return 0
end
redis.call('SETBIT', KEYS[2], seq % w, 1)
redis.call('EXPIRE', KEYS[2], ttl)
return 1
`;

// The same checks over many (meter, seq) pairs in one call: KEYS are hw1, bm1, hw2, bm2, ...;
// ARGV is the window then one seq per pair. Pairs are handled in order, so two seqs of one meter
// in the same call see each other's marks.
const CHECK_MANY = `
local w = tonumber(ARGV[1])
local out = {}
for i = 1, #KEYS / 2 do
  local hw = tonumber(redis.call('GET', KEYS[2 * i - 1]))
  local seq = tonumber(ARGV[i + 1])
  if not hw or seq > hw then out[i] = 0
  elseif seq <= hw - w then out[i] = 2
  else out[i] = redis.call('GETBIT', KEYS[2 * i], seq % w) end
end
return out
`;
const MARK_MANY = `
local w = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
for i = 1, #KEYS / 2 do
  local hwKey = KEYS[2 * i - 1]
  local bmKey = KEYS[2 * i]
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
end
return 1
`;

export type SeqStatus = 'new' | 'duplicate' | 'too_old';
export type SeqKey = readonly [meterId: string, seq: number];
const STATUS: readonly SeqStatus[] = ['new', 'duplicate', 'too_old'];

/**
 * (meterId, seq) deduplication shared by every ingestion replica. A seq is checked before the
 * records go to Kafka and marked only after Kafka acknowledged them, so a crash in between makes
 * the broker redeliver rather than lose the message.
 */
export class DedupeRepository {
  /**
   * @param batchScripts one script call for a whole batch of meters. Much cheaper for Redis and
   * the client, but its keys span hash slots, which Redis Cluster refuses: there, pass false to
   * make one call per meter (each meter's two keys share a slot).
   */
  constructor(
    private readonly redis: Redis,
    private readonly batchScripts = true,
  ) {
    redis.defineCommand('mlDedupeCheck', { numberOfKeys: 2, lua: CHECK });
    redis.defineCommand('mlDedupeMark', { numberOfKeys: 2, lua: MARK });
    redis.defineCommand('mlDedupeCheckMany', { lua: CHECK_MANY });
    redis.defineCommand('mlDedupeMarkMany', { lua: MARK_MANY });
  }

  async checkMany(pairs: readonly SeqKey[]): Promise<SeqStatus[]> {
    if (pairs.length === 0) return [];
    if (!this.batchScripts) return Promise.all(pairs.map(([id, seq]) => this.check(id, seq)));
    const keys = pairs.flatMap(([meterId]) => this.keys(meterId));
    const result = (await this.call(
      'mlDedupeCheckMany',
      keys.length,
      ...keys,
      DEDUPE_WINDOW,
      ...pairs.map(([, seq]) => seq),
    )) as number[];
    return result.map((code) => STATUS[code] ?? 'new');
  }

  async markMany(pairs: readonly SeqKey[]): Promise<void> {
    if (pairs.length === 0) return;
    if (!this.batchScripts) {
      await Promise.all(pairs.map(([id, seq]) => this.mark(id, seq)));
      return;
    }
    const keys = pairs.flatMap(([meterId]) => this.keys(meterId));
    await this.call(
      'mlDedupeMarkMany',
      keys.length,
      ...keys,
      DEDUPE_WINDOW,
      TTL_S,
      ...pairs.map(([, seq]) => seq),
    );
  }

  private keys(meterId: string): [string, string] {
    // Hash tag keeps both keys of a meter in one Redis Cluster slot.
    return [`dd:{${meterId}}:hw`, `dd:{${meterId}}:bm`];
  }

  async check(meterId: string, seq: number): Promise<SeqStatus> {
    const [hw, bm] = this.keys(meterId);
    const result = (await this.call('mlDedupeCheck', hw, bm, seq, DEDUPE_WINDOW)) as number;
    return result === 0 ? 'new' : result === 1 ? 'duplicate' : 'too_old';
  }

  async mark(meterId: string, seq: number): Promise<void> {
    const [hw, bm] = this.keys(meterId);
    await this.call('mlDedupeMark', hw, bm, seq, DEDUPE_WINDOW, TTL_S);
  }

  private call(command: string, ...args: (string | number)[]): Promise<unknown> {
    const fn = (
      this.redis as unknown as Record<string, (...a: (string | number)[]) => Promise<unknown>>
    )[command];
    if (!fn) throw new Error(`redis command ${command} is not defined`);
    return fn.apply(this.redis, args);
  }
}
