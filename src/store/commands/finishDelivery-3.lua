--[[
  finishDelivery: records the outcome of an attempt started by claimDelivery, only if the
  claim token still matches (a process whose lease expired must not overwrite a newer attempt).

  Input:
    KEYS[1] due zset
    KEYS[2] delivery hash
    KEYS[3] dead-letter lex zset
    ARGV[1] delivery id
    ARGV[2] claim token
    ARGV[3] outcome: delivered | retry | dead
    ARGV[4] now ISO
    ARGV[5] next due ms (retry)
    ARGV[6] error ('' for delivered)
    ARGV[7] dead-letter member (dead)

  Output:
    1  recorded
    0  the claim was lost (another process owns the attempt): nothing written
]]
--- @include "includes/deadLetterDelivery"

if redis.call('HGET', KEYS[2], 'claim') ~= ARGV[2] then
  return 0
end
redis.call('HDEL', KEYS[2], 'claim')
local outcome = ARGV[3]
if outcome == 'delivered' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  -- A delivered webhook no longer shows the error of an earlier attempt.
  redis.call('HSET', KEYS[2], 'status', 'delivered', 'lastError', '', 'deliveredAt', ARGV[4],
    'updatedAt', ARGV[4])
elseif outcome == 'retry' then
  redis.call('ZADD', KEYS[1], ARGV[5], ARGV[1])
  redis.call('HSET', KEYS[2], 'status', 'failed', 'lastError', ARGV[6], 'updatedAt', ARGV[4])
else
  deadLetterDelivery(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[7], ARGV[4], ARGV[6])
end
return 1
