--[[
  ack-outbox: remove outbox entries whose effect has run.

  KEYS[1] outbox zset, KEYS[2] outbox-data hash, KEYS[3] outbox-attempts hash
  ARGV    entry ids

  Returns the number of entries removed.
]]
local removed = 0
for _, id in ipairs(ARGV) do
  removed = removed + redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
  redis.call('HDEL', KEYS[3], id)
end
return removed
