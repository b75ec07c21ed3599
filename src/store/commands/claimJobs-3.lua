--[[
  claimJobs: leases due jobs of a retry queue to the caller, so no other process starts an
  attempt until the lease expires (a process that stopped mid-attempt is retried then:
  at-least-once). Each claim starts an attempt and stores the claim token that completeJob and
  failJob check. A job whose attempts are used up (its last attempt was interrupted) is claimed
  without a new attempt and reported as exhausted: the caller dead-letters it with failJob.

  Input:
    KEYS[1] queue due zset
    KEYS[2] queue data hash
    KEYS[3] queue state hash
    ARGV[1] now ms
    ARGV[2] lease expiry ms
    ARGV[3] max jobs
    ARGV[4] max attempts
    ARGV[5] claim token

  Output: a flat list, four entries per job (ClaimJobCode in reply-codes.ts):
    1, id, attempt, data   claimed: attempt is the number of this attempt
    2, id, attempts, data  exhausted: no attempt left, claimed only to be dead-lettered
  (jobs whose data vanished are dropped from the queue)
]]
--- @include "includes/jobQueue"

local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
  local data = redis.call('HGET', KEYS[2], id)
  if not data then
    forgetJob(KEYS[1], KEYS[2], KEYS[3], id)
  else
    local attempts = tonumber(redis.call('HGET', KEYS[3], 'a:' .. id) or '0')
    local code = 2
    if attempts < tonumber(ARGV[4]) then
      code = 1
      attempts = attempts + 1
      redis.call('HSET', KEYS[3], 'a:' .. id, string.format('%d', attempts))
    end
    redis.call('HSET', KEYS[3], 'c:' .. id, ARGV[5])
    redis.call('ZADD', KEYS[1], ARGV[2], id)
    out[#out + 1] = code
    out[#out + 1] = id
    out[#out + 1] = attempts
    out[#out + 1] = data
  end
end
-- Re-packed by a table constructor: the embedded store only converts such tables to replies.
return { unpack(out) }
