/**
 * Lua scripts over one shard's keys (all KEYS share the shard's hash tag). Numbers arrive as
 * strings; wheel slots are written back as the strings they came as.
 */

/**
 * Writes one meter's state if it is still the one read (compare-and-set on the packed value),
 * keeping the shard's aggregates, unhealthy index, pending transitions and deadline wheel in step.
 *
 * KEYS: bucket, agg, unhealthy, pending, outages, cursor, wheel slot, due
 * ARGV: meterId, old packed ('' when none), new packed, old agg field ('' when none), new agg
 *       field, unhealthy op ('-' remove, '=' keep, 'S<value>' set, 'A<outageId>' attribute),
 *       pending ('' when none), deadline slot (-1 when the meter has no deadline), bucket,
 *       then pairs of (outage field, outage id the caller assumed, '' for none)
 * Returns {1} written, {0} the state changed meanwhile, {2} a transition of this meter is still
 * pending publication (the meter is locked until it is cleared), {3, field, actual} an outage
 * the caller assumed opened or closed meanwhile.
 */
export const WRITE_METER = `
local id = ARGV[1]
if (redis.call('HGET', KEYS[1], id) or '') ~= ARGV[2] then return {0} end
if redis.call('HEXISTS', KEYS[4], id) == 1 then return {2} end
for i = 10, #ARGV, 2 do
  local actual = redis.call('HGET', KEYS[5], ARGV[i]) or ''
  if actual ~= ARGV[i + 1] then return {3, ARGV[i], actual} end
end
if ARGV[3] ~= ARGV[2] then redis.call('HSET', KEYS[1], id, ARGV[3]) end
if ARGV[4] ~= ARGV[5] then
  if ARGV[4] ~= '' then redis.call('HINCRBY', KEYS[2], ARGV[4], -1) end
  redis.call('HINCRBY', KEYS[2], ARGV[5], 1)
end
local op = string.sub(ARGV[6], 1, 1)
if op == '-' then
  redis.call('HDEL', KEYS[3], id)
elseif op == 'S' then
  redis.call('HSET', KEYS[3], id, string.sub(ARGV[6], 2))
elseif op == 'A' then
  local entry = redis.call('HGET', KEYS[3], id)
  if entry then
    local group, since = string.match(entry, '^([^|]*)|([^|]*)|')
    redis.call('HSET', KEYS[3], id, group .. '|' .. since .. '|' .. string.sub(ARGV[6], 2))
  end
end
if ARGV[7] ~= '' then redis.call('HSET', KEYS[4], id, ARGV[7]) end
local slot = tonumber(ARGV[8])
if slot >= 0 then
  local armed = tonumber(redis.call('HGET', KEYS[1], '~w') or '-1')
  local started = tonumber(redis.call('GET', KEYS[6]) or '-1')
  -- An entry in a slot the sweep has started on may already have been looked at: not armed.
  if armed <= started or armed > slot then
    if slot <= started then
      redis.call('RPUSH', KEYS[8], ARGV[9])
    else
      redis.call('HSET', KEYS[1], '~w', ARGV[8])
      redis.call('RPUSH', KEYS[7], ARGV[9])
    end
  end
end
return {1}
`;

/**
 * Arms a bucket's wheel entry after a sweep looked at it: at the earliest deadline left in it,
 * unless an entry that is early enough is already armed.
 *
 * KEYS: bucket, wheel slot, due. ARGV: slot the sweep has started on, slot to arm, bucket.
 */
export const ARM_BUCKET = `
local armed = tonumber(redis.call('HGET', KEYS[1], '~w') or '-1')
local started = tonumber(ARGV[1])
local slot = tonumber(ARGV[2])
if armed > started and armed <= slot then return 0 end
if slot <= started then
  redis.call('RPUSH', KEYS[3], ARGV[3])
  return 2
end
redis.call('HSET', KEYS[1], '~w', ARGV[2])
redis.call('RPUSH', KEYS[2], ARGV[3])
return 1
`;

/**
 * Removes a meter that is no longer watched (decommissioned, or gone from the fleet).
 * KEYS: bucket, agg, unhealthy. ARGV: meterId, packed state expected, its agg field.
 */
export const FORGET_METER = `
if (redis.call('HGET', KEYS[1], ARGV[1]) or '') ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HINCRBY', KEYS[2], ARGV[3], -1)
redis.call('HDEL', KEYS[3], ARGV[1])
return 1
`;

/** KEYS: pending. ARGV: meterId, the pending value published. Clears it unless replaced. */
export const CLEAR_PENDING = `
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return 1
end
return 0
`;

/** KEYS: dict. ARGV: namespace (c or r), name. Returns the name's number, assigning one once. */
export const DICT_ID = `
local id = redis.call('HGET', KEYS[1], ARGV[1] .. ':' .. ARGV[2])
if id then return tonumber(id) end
id = redis.call('HINCRBY', KEYS[1], '#' .. ARGV[1], 1)
redis.call('HSET', KEYS[1], ARGV[1] .. ':' .. ARGV[2], id, ARGV[1] .. '#' .. id, ARGV[2])
return id
`;

/** KEYS: leader. ARGV: replica id, ttl ms. 1 while this replica holds (or just took) the lease. */
export const HOLD_LEASE = `
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
`;

/** KEYS: leader. ARGV: replica id. Gives the lease up on shutdown, if still held. */
export const RELEASE_LEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/** KEYS: carriers. ARGV: field, expected JSON ('' when none), new JSON. */
export const WRITE_CARRIER = `
if (redis.call('HGET', KEYS[1], ARGV[1]) or '') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
`;
