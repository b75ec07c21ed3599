--[[
  claimOutbox: lease outbox entries whose lease has expired, so exactly one reaper runs them
  until the new lease expires (at-least-once: an entry is removed only by ackOutbox). An entry
  claimed more than maxAttempts times is moved to the dead-letter zset instead (its data stays).

  Input:
    KEYS[1] outbox zset (score = lease expiry ms)
    KEYS[2] outbox-data hash
    KEYS[3] outbox-attempts hash (id -> claims)
    KEYS[4] outbox-dead zset (score = when, ms)
    ARGV[1] now (ms)
    ARGV[2] new lease expiry (ms)
    ARGV[3] max entries
    ARGV[4] maxAttempts

  Output:
    a flat list id1, json1, id2, json2, ... (entries whose data vanished are dropped)
]]
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
  local json = redis.call('HGET', KEYS[2], id)
  if not json then
    redis.call('ZREM', KEYS[1], id)
  elseif tonumber(redis.call('HINCRBY', KEYS[3], id, 1)) > tonumber(ARGV[4]) then
    redis.call('ZREM', KEYS[1], id)
    redis.call('ZADD', KEYS[4], ARGV[1], id)
  else
    redis.call('ZADD', KEYS[1], ARGV[2], id)
    out[#out + 1] = id
    out[#out + 1] = json
  end
end
-- Re-packed by a table constructor: the embedded store only converts such tables to replies.
return { unpack(out) }
