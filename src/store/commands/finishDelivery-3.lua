--[[
  finish-delivery: records the outcome of an attempt started by claim-delivery, only if the
  claim token still matches (a process whose lease expired must not overwrite a newer attempt).

  KEYS[1] due zset, KEYS[2] delivery hash, KEYS[3] dead-letter lex zset
  ARGV[1] delivery id, ARGV[2] claim token, ARGV[3] outcome: delivered | retry | dead,
  ARGV[4] now ISO, ARGV[5] next due ms (retry), ARGV[6] error ('' for delivered),
  ARGV[7] dead-letter member (dead)

  Returns 1 when recorded, 0 when the claim was lost.
]]
if redis.call('HGET', KEYS[2], 'claim') ~= ARGV[2] then
  return 0
end
redis.call('HDEL', KEYS[2], 'claim')
local outcome = ARGV[3]
if outcome == 'delivered' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HSET', KEYS[2], 'status', 'delivered', 'deliveredAt', ARGV[4], 'updatedAt', ARGV[4])
elseif outcome == 'retry' then
  redis.call('ZADD', KEYS[1], ARGV[5], ARGV[1])
  redis.call('HSET', KEYS[2], 'status', 'failed', 'lastError', ARGV[6], 'updatedAt', ARGV[4])
else
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('ZADD', KEYS[3], 0, ARGV[7])
  redis.call('HSET', KEYS[2], 'status', 'dead-lettered', 'lastError', ARGV[6],
    'updatedAt', ARGV[4], 'deadLetteredAt', ARGV[4])
end
return 1
