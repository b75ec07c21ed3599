--[[
  failJob: records a failed attempt, only if the caller's claim token still holds. The job is
  due again at the retry time (the caller's backoff) while attempts are left, and moved to the
  dead letters otherwise; the outcome is mirrored into the job's record.

  Input:
    KEYS[1]  queue due zset
    KEYS[2]  queue data hash
    KEYS[3]  queue state hash
    KEYS[4]  queue dead-letter lex zset
    KEYS[5..] at most one: the job's record hash
    ARGV[1]  job id
    ARGV[2]  claim token
    ARGV[3]  retry at ms
    ARGV[4]  max attempts
    ARGV[5]  error
    ARGV[6]  dead-letter member (`<15-digit now ms>:<id>`)
    ARGV[7]  number r of record field/value pairs written on a retry
    then r pairs for a retry, then the pairs written on a dead letter

  Output (FailJobCode in reply-codes.ts):
    1  retrying: due again at ARGV[3]
    2  dead-lettered
    0  the claim was lost (another process owns the job, or it is gone): nothing written
]]
--- @include "includes/jobQueue"

local id = ARGV[1]
if redis.call('HEXISTS', KEYS[2], id) == 0 or claimTokenOf(KEYS[3], id) ~= ARGV[2] then
  return 0
end
local attempts = tonumber(redis.call('HGET', KEYS[3], 'a:' .. id) or '0')
local retryPairs = tonumber(ARGV[7])
if attempts < tonumber(ARGV[4]) then
  redis.call('ZADD', KEYS[1], ARGV[3], id)
  redis.call('HDEL', KEYS[3], 'c:' .. id)
  redis.call('HSET', KEYS[3], 'e:' .. id, ARGV[5])
  writeRecord(KEYS[5], 8, retryPairs)
  return 1
end
deadLetterJob(KEYS[1], KEYS[3], KEYS[4], id, ARGV[6], ARGV[5])
-- Listed among the dead letters: kept until an operator retries or discards it.
keepRecord(KEYS[5])
writeRecord(KEYS[5], 8 + retryPairs * 2, (#ARGV - 7 - retryPairs * 2) / 2)
return 2
