--[[
  settleDeadJob: an operator's decision on a dead-lettered job. Retry makes it due now with its
  attempts reset (its data and last error kept); discard deletes it with its data. The record
  (if any) gets the given fields; a discarded job's record expires after the record's retention,
  a retried one's is kept.

  Input:
    KEYS[1]  queue due zset
    KEYS[2]  queue data hash
    KEYS[3]  queue state hash
    KEYS[4]  queue dead-letter lex zset
    KEYS[5..] at most one: the job's record hash
    ARGV[1]  job id
    ARGV[2]  retry | discard
    ARGV[3]  now ms (retry: when it is due)
    ARGV[4]  the record's retention ms once discarded (0: kept)
    then field/value pairs written to the record

  Output (SettleDeadJobCode in reply-codes.ts):
    1  done
    0  the job is not dead-lettered: nothing written
]]
--- @include "includes/jobQueue"

local id = ARGV[1]
local member = redis.call('HGET', KEYS[3], 'd:' .. id)
if not member or not redis.call('ZSCORE', KEYS[4], member) then
  return 0
end
redis.call('ZREM', KEYS[4], member)
if ARGV[2] == 'retry' then
  redis.call('HDEL', KEYS[3], 'a:' .. id, 'c:' .. id, 'd:' .. id)
  redis.call('ZADD', KEYS[1], ARGV[3], id)
  keepRecord(KEYS[5])
else
  forgetJob(KEYS[1], KEYS[2], KEYS[3], id)
  expireRecord(KEYS[5], ARGV[4])
end
writeRecord(KEYS[5], 5, (#ARGV - 4) / 2)
return 1
