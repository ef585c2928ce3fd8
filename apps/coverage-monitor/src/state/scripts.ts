/**
 * Lua scripts over one shard's keys (all KEYS share the shard's hash tag). Numbers arrive as
 * strings; wheel slots are written back as the strings they came as.
 */

/**
 * Writes meters' states if each is still the one read (compare-and-set on the packed value),
 * keeping the shard's aggregates, unhealthy index, pending transitions and deadline wheel in step.
 * One call per shard and batch: every key is the shard's.
 *
 * KEYS: agg, unhealthy, pending, outages, cursor, due, then per meter: its bucket, its wheel slot
 * ARGV: number of meters, then per meter: meterId, old packed ('' when none), new packed, old agg
 *       field ('' when none), new agg field, unhealthy op ('-' remove, '=' keep, 'S<value>' set,
 *       'A<outageId>' attribute), pending ('' when none), deadline slot (-1 when none), bucket,
 *       number of outage pairs, then pairs of (outage field, outage id assumed, '' for none)
 * Returns per meter: 1 written, 0 the state changed meanwhile, 2 a transition of the meter is
 * still pending publication (it is locked until cleared), {3, field, actual} an outage the caller
 * assumed opened or closed meanwhile.
 */
export const WRITE_METERS = `
local started = tonumber(redis.call('GET', KEYS[5]) or '-1')
local results = {}
local a = 2
for m = 1, tonumber(ARGV[1]) do
  local bucket, wheel = KEYS[5 + 2 * m], KEYS[6 + 2 * m]
  local id, old, new, oldAgg, newAgg, op, pending, slotArg, bucketId =
    ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5], ARGV[a + 6],
    ARGV[a + 7], ARGV[a + 8]
  local marks = tonumber(ARGV[a + 9])
  local first = a + 10
  a = first + 2 * marks
  local result = 1
  if (redis.call('HGET', bucket, id) or '') ~= old then
    result = 0
  elseif redis.call('HEXISTS', KEYS[3], id) == 1 then
    result = 2
  else
    for i = first, first + 2 * marks - 1, 2 do
      local actual = redis.call('HGET', KEYS[4], ARGV[i]) or ''
      if actual ~= ARGV[i + 1] then
        result = {3, ARGV[i], actual}
        break
      end
    end
  end
  if result == 1 then
    if new ~= old then redis.call('HSET', bucket, id, new) end
    if oldAgg ~= newAgg then
      if oldAgg ~= '' then redis.call('HINCRBY', KEYS[1], oldAgg, -1) end
      redis.call('HINCRBY', KEYS[1], newAgg, 1)
    end
    local kind = string.sub(op, 1, 1)
    if kind == '-' then
      redis.call('HDEL', KEYS[2], id)
    elseif kind == 'S' then
      redis.call('HSET', KEYS[2], id, string.sub(op, 2))
    elseif kind == 'A' then
      local entry = redis.call('HGET', KEYS[2], id)
      if entry then
        local group, since = string.match(entry, '^([^|]*)|([^|]*)|')
        redis.call('HSET', KEYS[2], id, group .. '|' .. since .. '|' .. string.sub(op, 2))
      end
    end
    if pending ~= '' then redis.call('HSET', KEYS[3], id, pending) end
    local slot = tonumber(slotArg)
    if slot >= 0 then
      local armed = tonumber(redis.call('HGET', bucket, '~w') or '-1')
      -- An entry in a slot the sweep has started on may already have been looked at: not armed.
      if armed <= started or armed > slot then
        if slot <= started then
          redis.call('RPUSH', KEYS[6], bucketId)
        else
          redis.call('HSET', bucket, '~w', slotArg)
          redis.call('RPUSH', wheel, bucketId)
        end
      end
    end
  end
  results[m] = result
end
return results
`;

/** KEYS: one bucket per meter. ARGV: the meters. Their packed states ('' when none). */
export const READ_METERS = `
local values = {}
for i = 1, #ARGV do values[i] = redis.call('HGET', KEYS[i], ARGV[i]) or '' end
return values
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

/** KEYS: pending. ARGV: pairs of (meterId, pending value published). Clears each unless replaced. */
export const CLEAR_PENDING = `
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then redis.call('HDEL', KEYS[1], ARGV[i]) end
end
return 1
`;

/** KEYS: dict. ARGV: namespace (c or r), name. Returns the name's number, assigning one once. */
export const DICT_ID = `
local id = redis.call('HGET', KEYS[1], ARGV[1] .. ':' .. ARGV[2])
if id then return tonumber(id) end
id = redis.call('HINCRBY', KEYS[1], '#' .. ARGV[1], 1)
redis.call('HSET', KEYS[1], ARGV[1] .. ':' .. ARGV[2], id, ARGV[1] .. '#' .. id, ARGV[2])
return id
`;

/**
 * KEYS: a replica's liveness key. ARGV: this process's token, ttl ms. Claims or renews the
 * replica id for this process: 1 when the key was absent or already this token's, else
 * {holder's token, its remaining ms (-1: no expiry)}, leaving it alone.
 */
export const CLAIM_REPLICA = `
local holder = redis.call('GET', KEYS[1])
if not holder or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return {holder, redis.call('PTTL', KEYS[1])}
`;

/** KEYS: a key. ARGV: value. Deletes the key only while it still holds that value. */
export const DELETE_IF = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/** KEYS: leader. ARGV: holder token, ttl ms. 1 while this process holds (or just took) the lease. */
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

/** KEYS: carriers. ARGV: field, expected JSON ('' when none), new JSON. */
export const WRITE_CARRIER = `
if (redis.call('HGET', KEYS[1], ARGV[1]) or '') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
`;
