--[[
  completeJob: removes a job whose attempt succeeded, only if the caller's claim token still
  holds (a process whose lease expired must not overwrite a newer attempt), and mirrors the
  outcome into the job's record, which then expires after the record's retention.

  Input:
    KEYS[1]  queue due zset
    KEYS[2]  queue data hash
    KEYS[3]  queue state hash
    KEYS[4..] at most one: the job's record hash
    ARGV[1]  job id
    ARGV[2]  claim token
    ARGV[3]  the record's retention ms once done (0: kept)
    then field/value pairs written to the record

  Output (CompleteJobCode in reply-codes.ts):
    1  completed
    0  the claim was lost (another process owns the job, or it is gone): nothing written
]]
--- @include "includes/jobQueue"

local id = ARGV[1]
if redis.call('HEXISTS', KEYS[2], id) == 0 or claimTokenOf(KEYS[3], id) ~= ARGV[2] then
  return 0
end
forgetJob(KEYS[1], KEYS[2], KEYS[3], id)
writeRecord(KEYS[4], 4, (#ARGV - 3) / 2)
expireRecord(KEYS[4], ARGV[3])
return 1
