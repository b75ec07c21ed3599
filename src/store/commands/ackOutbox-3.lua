--[[
  ackOutbox: remove outbox entries whose effect has run.

  Input:
    KEYS[1] outbox zset
    KEYS[2] outbox-data hash
    KEYS[3] outbox-attempts hash
    ARGV    entry ids (any number)

  Output:
    the number of entries removed
]]
local removed = 0
for _, id in ipairs(ARGV) do
  removed = removed + redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
  redis.call('HDEL', KEYS[3], id)
end
return removed
