--[[
  notify: records one notification request and its deliveries, schedules the durable jobs and
  publishes the toast, all or nothing, once per request id (within the retention).

  Variable key count: the 6 fixed keys, then one key per delivery (the loader sends it by
  EVALSHA with its key count).

  Input:
    KEYS[1]   requests hash: request ids recorded before request keys existed (read only, and
              given the retention as its expiry when it has none)
    KEYS[2]   request key: the request summary, written SET NX with the retention
    KEYS[3]   source list
    KEYS[4]   the installation's toast replay stream
    KEYS[5]   notification queue due zset (the `notify` retry queue, includes/jobQueue.lua)
    KEYS[6]   notification queue data hash
    KEYS[7..] delivery hashes, KEYS[6 + i] for delivery i
    ARGV[1]   request id
    ARGV[2]   request summary JSON
    ARGV[3]   toast channel
    ARGV[4]   toast message JSON ('' = no toast)
    ARGV[5]   toasts kept in the replay stream (exact MAXLEN)
    ARGV[6]   retention ms (NOTIFY_RETENTION_MS)
    ARGV[7]   number of deliveries n
    then per delivery: id, due ms ('' = no job: final already, expires after the retention),
    job data, field count f, then f field/value pairs of its record

  A delivery whose hash still exists (the request id came back after its request key expired)
  is left as it is: not reset, not listed again, not sent again.

  Output:
    nil           a new request, recorded
    summary JSON  the request id was recorded before: the stored summary, nothing written
]]
--- @include "includes/appendLiveEvent"
--- @include "includes/jobQueue"

local retention = ARGV[6]
local before = redis.call('HGET', KEYS[1], ARGV[1])
if before then
  return before
end
if not redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', retention) then
  return redis.call('GET', KEYS[2])
end
if redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], retention)
end
local a = 8
for i = 1, tonumber(ARGV[7]) do
  local id, due, data, f = ARGV[a], ARGV[a + 1], ARGV[a + 2], tonumber(ARGV[a + 3])
  a = a + 4
  local key = KEYS[6 + i]
  if redis.call('EXISTS', key) == 0 then
    local fields = {}
    for j = 1, f * 2 do
      fields[j] = ARGV[a + j - 1]
    end
    redis.call('HSET', key, unpack(fields))
    redis.call('RPUSH', KEYS[3], id)
    if due ~= '' then
      scheduleJob(KEYS[5], KEYS[6], id, due, data)
    else
      redis.call('PEXPIRE', key, retention)
    end
  end
  a = a + f * 2
end
redis.call('PEXPIRE', KEYS[3], retention)
if ARGV[4] ~= '' then
  appendLiveEvent(KEYS[4], ARGV[5], ARGV[3], ARGV[4])
end
return false
