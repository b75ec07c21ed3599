--[[
  notify: records one notification request and its deliveries, schedules the durable jobs and
  publishes the toast, all or nothing, once per request id.

  Variable key count: the 5 fixed keys, then one key per delivery (the loader sends it by
  EVALSHA with its key count).

  Input:
    KEYS[1]   requests hash
    KEYS[2]   source list
    KEYS[3]   the installation's toast replay stream
    KEYS[4]   notification queue due zset (the `notify` retry queue, includes/jobQueue.lua)
    KEYS[5]   notification queue data hash
    KEYS[6..] delivery hashes, KEYS[5 + i] for delivery i
    ARGV[1]   request id
    ARGV[2]   request summary JSON
    ARGV[3]   toast channel
    ARGV[4]   toast message JSON ('' = no toast)
    ARGV[5]   toasts kept in the replay stream (exact MAXLEN)
    ARGV[6]   number of deliveries n
    then per delivery: id, due ms ('' = no job), job data, field count f, then f field/value
    pairs of its record

  Output:
    nil           a new request, recorded
    summary JSON  the request id was recorded before: the stored summary, nothing written
]]
--- @include "includes/appendLiveEvent"
--- @include "includes/jobQueue"

if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then
  return redis.call('HGET', KEYS[1], ARGV[1])
end
local a = 7
for i = 1, tonumber(ARGV[6]) do
  local id, due, data, f = ARGV[a], ARGV[a + 1], ARGV[a + 2], tonumber(ARGV[a + 3])
  a = a + 4
  local fields = {}
  for j = 1, f * 2 do
    fields[j] = ARGV[a + j - 1]
  end
  a = a + f * 2
  redis.call('HSET', KEYS[5 + i], unpack(fields))
  redis.call('RPUSH', KEYS[2], id)
  if due ~= '' then
    scheduleJob(KEYS[4], KEYS[5], id, due, data)
  end
end
if ARGV[4] ~= '' then
  appendLiveEvent(KEYS[3], ARGV[5], ARGV[3], ARGV[4])
end
return false
