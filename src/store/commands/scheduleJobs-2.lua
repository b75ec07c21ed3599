--[[
  scheduleJobs: adds jobs to a retry queue (or moves them), due at the given times.

  Input:
    KEYS[1] queue due zset
    KEYS[2] queue data hash
    ARGV    per job: id, due ms, data

  Output:
    the number of jobs scheduled
]]
--- @include "includes/jobQueue"

local n = 0
for i = 1, #ARGV, 3 do
  scheduleJob(KEYS[1], KEYS[2], ARGV[i], ARGV[i + 1], ARGV[i + 2])
  n = n + 1
end
return n
