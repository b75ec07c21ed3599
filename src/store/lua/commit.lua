--[[
  commit: atomically compare-and-set one or more actor snapshots of ONE installation, together
  with their durable timers, outbox entries and index memberships.

  All keys share the installation's hash tag, so the script is valid on Redis Cluster.

  KEYS[1]  timers        zset   member "<kind>:<actorId>|<sendId>", score = due time (ms)
  KEYS[2]  timer-events  hash   member -> event JSON (absent when the event is {type: sendId})
  KEYS[3]  outbox        zset   entry id, score = lease expiry (ms): when a reaper may run it
  KEYS[4]  outbox-data   hash   entry id -> entry JSON
  KEYS[5..] actor hashes (fields v = version, s = snapshot JSON) and index zsets, by position

  ARGV[1]  number of actors
  then per actor: keyPos, expectedVersion ("0" = must not exist yet), snapshot, opCount, ops...
    T+ member due eventJson   schedule (or reschedule) a timer; eventJson may be ""
    T- member                 cancel a timer
    TC member due             consume a due timer: precondition, the timer must still be due at `due`
    O  id leaseUntil json     add an outbox entry
    I+ keyPos member          add to an index zset (score 0, ordered by member)
    I- keyPos member          remove from an index zset

  Returns a flat list, three entries per actor, in order (flat because nested replies are not
  portable to the embedded store):
    1, newVersion, ""                        committed
    0, currentVersion, currentSnapshot       version conflict: nothing written for this actor
    -2, currentVersion, ""                   a consumed timer is gone (fired or cancelled already)
]]
local timers, timerEvents, outbox, outboxData = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local arity = { ['T+'] = 3, ['T-'] = 1, ['TC'] = 2, ['O'] = 3, ['I+'] = 2, ['I-'] = 2 }

local n = tonumber(ARGV[1])
local p = 2
local replies = {}
local function reply(code, version, snapshot)
  replies[#replies + 1] = code
  replies[#replies + 1] = version
  replies[#replies + 1] = snapshot
end
for a = 1, n do
  local key = KEYS[tonumber(ARGV[p])]
  local expected = ARGV[p + 1]
  local snapshot = ARGV[p + 2]
  local opCount = tonumber(ARGV[p + 3])
  p = p + 4
  local opsStart = p
  for _ = 1, opCount do
    p = p + 1 + arity[ARGV[p]]
  end

  -- Compared as numbers: the embedded store may hand back stored values as numbers.
  local current = tonumber(redis.call('HGET', key, 'v') or '0')
  local failed = false
  if current ~= tonumber(expected) then
    reply(0, current, redis.call('HGET', key, 's') or '')
    failed = true
  else
    local q = opsStart
    for _ = 1, opCount do
      local op = ARGV[q]
      if op == 'TC' then
        local score = redis.call('ZSCORE', timers, ARGV[q + 1])
        if (not score) or tonumber(score) ~= tonumber(ARGV[q + 2]) then
          reply(-2, current, '')
          failed = true
          break
        end
      end
      q = q + 1 + arity[op]
    end
  end

  if not failed then
    local version = current + 1
    redis.call('HSET', key, 'v', tostring(version), 's', snapshot)
    local q = opsStart
    for _ = 1, opCount do
      local op = ARGV[q]
      if op == 'T+' then
        redis.call('ZADD', timers, ARGV[q + 2], ARGV[q + 1])
        if ARGV[q + 3] ~= '' then
          redis.call('HSET', timerEvents, ARGV[q + 1], ARGV[q + 3])
        end
      elseif op == 'T-' or op == 'TC' then
        redis.call('ZREM', timers, ARGV[q + 1])
        redis.call('HDEL', timerEvents, ARGV[q + 1])
      elseif op == 'O' then
        redis.call('ZADD', outbox, ARGV[q + 2], ARGV[q + 1])
        redis.call('HSET', outboxData, ARGV[q + 1], ARGV[q + 3])
      elseif op == 'I+' then
        redis.call('ZADD', KEYS[tonumber(ARGV[q + 1])], 0, ARGV[q + 2])
      elseif op == 'I-' then
        redis.call('ZREM', KEYS[tonumber(ARGV[q + 1])], ARGV[q + 2])
      end
      q = q + 1 + arity[op]
    end
    reply(1, version, '')
  end
end
-- Re-packed by a table constructor: the embedded store only converts such tables to replies.
return { unpack(replies) }
