--[[
  Moves a delivery out of the due zset into the dead-letter lex zset and marks its hash
  dead-lettered, dropping its claim. Used by claimDelivery (last attempt interrupted) and
  finishDelivery (last attempt failed).
]]
local function deadLetterDelivery(dueKey, deliveryKey, deadKey, id, deadMember, nowIso, lastError)
  redis.call('ZREM', dueKey, id)
  redis.call('ZADD', deadKey, 0, deadMember)
  redis.call('HDEL', deliveryKey, 'claim')
  redis.call('HSET', deliveryKey, 'status', 'dead-lettered', 'lastError', lastError,
    'updatedAt', nowIso, 'deadLetteredAt', nowIso)
end
