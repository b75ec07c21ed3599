--[[
  The durable retry queue shared by chart effects and notification deliveries (JobQueue in
  src/store/job-queue.ts). One queue of one installation is four keys, all under the
  installation's hash tag:
    due    zset  job id -> when it is due (ms); while an attempt runs, when its lease expires
    data   hash  job id -> the job's payload (what every attempt needs)
    state  hash  a:<id> attempts started, c:<id> claim token of the running attempt,
                 e:<id> last error, d:<id> dead-letter member
    dead   zset  score 0, members `<15-digit ms>:<id>` (lex order = when it died)
  A job may mirror its outcome into a record hash (a notification delivery): the caller passes
  that key and the field/value pairs to write. The record expires after its retention once the
  job is done (completed, or discarded from the dead letters), never while the job waits or is
  listed among the dead letters.
]]
local function scheduleJob(dueKey, dataKey, id, due, data)
  redis.call('ZADD', dueKey, due, id)
  redis.call('HSET', dataKey, id, data)
end

local function claimTokenOf(stateKey, id)
  return redis.call('HGET', stateKey, 'c:' .. id) or ''
end

local function deadLetterJob(dueKey, stateKey, deadKey, id, deadMember, err)
  redis.call('ZREM', dueKey, id)
  redis.call('HDEL', stateKey, 'c:' .. id)
  redis.call('HSET', stateKey, 'e:' .. id, err, 'd:' .. id, deadMember)
  redis.call('ZADD', deadKey, 0, deadMember)
end

local function forgetJob(dueKey, dataKey, stateKey, id)
  redis.call('ZREM', dueKey, id)
  redis.call('HDEL', dataKey, id)
  redis.call('HDEL', stateKey, 'a:' .. id, 'c:' .. id, 'e:' .. id, 'd:' .. id)
end

-- HSET of `count` field/value pairs of ARGV from `from` on `key` (nothing when key is nil).
local function writeRecord(key, from, count)
  if key and count > 0 then
    local fields = {}
    for i = 1, count * 2 do
      fields[i] = ARGV[from + i - 1]
    end
    redis.call('HSET', key, unpack(fields))
  end
end

-- PEXPIRE of the record after `ms` (nothing when key is nil or ms is 0).
local function expireRecord(key, ms)
  if key and tonumber(ms) > 0 then
    redis.call('PEXPIRE', key, ms)
  end
end

-- The record is kept (no expiry) while its job waits or is dead-lettered.
local function keepRecord(key)
  if key then
    redis.call('PERSIST', key)
  end
end
