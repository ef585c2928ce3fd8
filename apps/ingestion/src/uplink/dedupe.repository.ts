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

export type SeqStatus = 'new' | 'duplicate' | 'too_old';

/**
 * (meterId, seq) deduplication shared by every ingestion replica. A seq is checked before the
 * records go to Kafka and marked only after Kafka acknowledged them, so a crash in between makes
 * the broker redeliver rather than lose the message.
 */
export class DedupeRepository {
  constructor(private readonly redis: Redis) {
    redis.defineCommand('mlDedupeCheck', { numberOfKeys: 2, lua: CHECK });
    redis.defineCommand('mlDedupeMark', { numberOfKeys: 2, lua: MARK });
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
