--[[
  claim-outbox: lease outbox entries whose lease has expired, so exactly one reaper runs them
  until the new lease expires (at-least-once: an entry is removed only by ack-outbox).

  KEYS[1] outbox zset (score = lease expiry ms), KEYS[2] outbox-data hash
  ARGV[1] now (ms), ARGV[2] new lease expiry (ms), ARGV[3] max entries

  Returns a flat list: id1, json1, id2, json2, ... (entries whose data vanished are dropped)
]]
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
  local json = redis.call('HGET', KEYS[2], id)
  if json then
    redis.call('ZADD', KEYS[1], ARGV[2], id)
    out[#out + 1] = id
    out[#out + 1] = json
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
-- Re-packed by a table constructor: the embedded store only converts such tables to replies.
return { unpack(out) }
