import { Inject, Injectable } from '@nestjs/common';
import type { MeterCoverageState } from '@meterlink/coverage-domain';
import type { Redis } from '@meterlink/redis';
import { REDIS } from './tokens';

export const DEADLINES_KEY = 'cov:deadlines';
/** Meters whose state holds a transition not yet known to be published. */
export const PENDING_KEY = 'cov:pending';
const stateKey = (meterId: string): string => `cov:m:{${meterId}}`;

// Writes a meter's state if its version is still the one read (optimistic concurrency with the
// silence sweeper), and moves its deadline. KEYS: state, deadlines. ARGV: expected version,
// meterId, deadline (or -1 to clear), then field/value pairs.
const WRITE = `
local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if v ~= tonumber(ARGV[1]) then return 0 end
local fields = {}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], 'v', v + 1, unpack(fields))
if tonumber(ARGV[3]) < 0 then redis.call('ZREM', KEYS[2], ARGV[2]) else redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2]) end
local pt = redis.call('HGET', KEYS[1], 'pt')
if pt and pt ~= '' then redis.call('SADD', KEYS[3], ARGV[2]) end
return 1
`;
// Claims a due deadline: removes it and marks the meter lost, unless a report moved it meanwhile.
const CLAIM = `
local score = tonumber(redis.call('ZSCORE', KEYS[2], ARGV[1]))
if not score or score > tonumber(ARGV[2]) then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
local status = redis.call('HGET', KEYS[1], 's')
if status == 'lost' then return 0 end
redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('HSET', KEYS[1], 's', 'lost', 'b', 0, 'g', 0, 'pt', ARGV[3])
redis.call('SADD', KEYS[3], ARGV[1])
return 1
`;

const CLEAR_PENDING = `
if redis.call('HGET', KEYS[1], 'pt') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'pt', '')
  redis.call('SREM', KEYS[2], ARGV[2])
end
return 1
`;

export interface StoredCoverage {
  version: number;
  state: MeterCoverageState | undefined;
  /** A transition stored with the state but not yet known to be published (JSON). */
  pending: string | undefined;
}

/**
 * Per-meter coverage state in Redis (a small hash per meter) and the silence deadlines of every
 * meter in one sorted set, so that no timer lives in process memory and a restart or another
 * replica picks up exactly where this one stopped.
 */
@Injectable()
export class CoverageStateRepository {
  constructor(@Inject(REDIS) private readonly redis: Redis) {
    redis.defineCommand('mlCovWrite', { numberOfKeys: 3, lua: WRITE });
    redis.defineCommand('mlCovClaim', { numberOfKeys: 3, lua: CLAIM });
    redis.defineCommand('mlCovClearPending', { numberOfKeys: 2, lua: CLEAR_PENDING });
  }

  async read(meterId: string): Promise<StoredCoverage> {
    const h = await this.redis.hgetall(stateKey(meterId));
    if (!h.s) return { version: Number(h.v ?? 0), state: undefined, pending: undefined };
    return {
      version: Number(h.v ?? 0),
      pending: h.pt ? h.pt : undefined,
      state: {
        status: h.s as MeterCoverageState['status'],
        badReports: Number(h.b ?? 0),
        goodReports: Number(h.g ?? 0),
        lastReportAt: Number(h.t ?? 0),
        iccid: h.i ?? '',
        carrierId: h.c ?? '',
      },
    };
  }

  /** False when another writer changed the state since it was read (caller re-reads). */
  async write(
    meterId: string,
    expectedVersion: number,
    state: MeterCoverageState,
    deadline: number | null,
    pendingTransition: string | null,
  ): Promise<boolean> {
    const args = [
      expectedVersion,
      meterId,
      deadline ?? -1,
      's',
      state.status,
      'b',
      state.badReports,
      'g',
      state.goodReports,
      't',
      state.lastReportAt,
      'i',
      state.iccid,
      'c',
      state.carrierId,
      'pt',
      pendingTransition ?? '',
    ];
    return (
      (await this.call('mlCovWrite', stateKey(meterId), DEADLINES_KEY, PENDING_KEY, ...args)) === 1
    );
  }

  /** The pending transition was published: forget it, unless a newer one replaced it. */
  async clearPending(meterId: string, pendingTransition: string): Promise<void> {
    await this.call(
      'mlCovClearPending',
      stateKey(meterId),
      PENDING_KEY,
      pendingTransition,
      meterId,
    );
  }

  async dueMeters(now: number, limit: number): Promise<{ meterId: string; deadline: number }[]> {
    const flat = await this.redis.zrangebyscore(
      DEADLINES_KEY,
      '-inf',
      now,
      'WITHSCORES',
      'LIMIT',
      0,
      limit,
    );
    const due: { meterId: string; deadline: number }[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2)
      due.push({ meterId: flat[i]!, deadline: Number(flat[i + 1]) });
    return due;
  }

  /** Transitions stored but perhaps never published (a crash between the two), up to `limit`. */
  async pendingTransitions(limit: number): Promise<{ meterId: string; transition: string }[]> {
    const [, meterIds] = await this.redis.sscan(PENDING_KEY, 0, 'COUNT', limit);
    const found: { meterId: string; transition: string }[] = [];
    for (const meterId of meterIds.slice(0, limit)) {
      const transition = await this.redis.hget(stateKey(meterId), 'pt');
      if (transition) found.push({ meterId, transition });
      else await this.redis.srem(PENDING_KEY, meterId);
    }
    return found;
  }

  /** Forgets the silence deadline of a meter that is no longer watched (decommissioned). */
  async dropDeadline(meterId: string): Promise<void> {
    await this.redis.zrem(DEADLINES_KEY, meterId);
  }

  /** True if this caller won the right to declare the meter lost. */
  async claimSilence(meterId: string, now: number, pendingTransition: string): Promise<boolean> {
    return (
      (await this.call(
        'mlCovClaim',
        stateKey(meterId),
        DEADLINES_KEY,
        PENDING_KEY,
        meterId,
        now,
        pendingTransition,
      )) === 1
    );
  }

  private call(command: string, ...args: (string | number)[]): Promise<unknown> {
    const fn = (
      this.redis as unknown as Record<string, (...a: (string | number)[]) => Promise<unknown>>
    )[command];
    if (!fn) throw new Error(`redis command ${command} is not defined`);
    return fn.apply(this.redis, args);
  }
}
