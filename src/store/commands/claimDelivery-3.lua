--[[
  claimDelivery: starts one attempt of a due delivery. The claim moves the job's score to the
  lease expiry and stores a claim token, so no other process starts an attempt until the lease
  expires (a process that stopped mid-attempt is retried then: at-least-once, deduplicated by
  the receiver with the delivery id).

  Input:
    KEYS[1] due zset
    KEYS[2] delivery hash
    KEYS[3] dead-letter lex zset
    ARGV[1] delivery id
    ARGV[2] now ms
    ARGV[3] lease expiry ms
    ARGV[4] claim token
    ARGV[5] max attempts
    ARGV[6] dead-letter member
    ARGV[7] now ISO
    ARGV[8] interrupted error

  Output:
    nil                                   the job is not (or no longer) due; or its last allowed
                                          attempt was interrupted: it is dead-lettered now
    { attempt, channel, address, payload } the attempt is claimed
]]
--- @include "includes/deadLetterDelivery"

local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) > tonumber(ARGV[2]) then
  return false
end
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return false
end
local attempts = tonumber(redis.call('HGET', KEYS[2], 'attempts') or '0')
if attempts >= tonumber(ARGV[5]) then
  deadLetterDelivery(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[6], ARGV[7], ARGV[8])
  return false
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('HSET', KEYS[2], 'claim', ARGV[4], 'attempts', attempts + 1, 'updatedAt', ARGV[7])
local d = redis.call('HMGET', KEYS[2], 'channel', 'address', 'payload')
return { tostring(attempts + 1), d[1] or '', d[2] or '', d[3] or '' }
