--[[
  commit: atomically compare-and-set one or more actor snapshots of ONE installation, together
  with their durable timers, outbox entries, indexes, counters and audit records.

  All keys share the installation's hash tag, so the script is valid on Redis Cluster.

  Variable key count: the 5 fixed keys, then every other key the actors' ops touch, each once,
  referenced by its position from ARGV (the loader sends it by EVALSHA with its key count).

  Input:
    KEYS[1]   timers        zset   member "<kind>:<actorId>|<sendId>", score = due time (ms)
    KEYS[2]   timer-events  hash   member -> event JSON (absent when the event is {type: sendId})
    KEYS[3]   effect queue due    zset  (the outbox: the `effects` retry queue, see
    KEYS[4]   effect queue data   hash   includes/jobQueue.lua)
    KEYS[5]   effect queue state  hash
    KEYS[6..] actor hashes (fields v = version, s = snapshot JSON, j = events journaled since
              the last checkpoint, e = the inspection event log), journal lists, index zsets,
              counter hashes and audit keys, referenced by position (keyPos)
    ARGV[1]   number of actors
    ARGV[2]   "each": every actor commits or fails on its own
              "all":  a transaction: if any actor fails, nothing at all is written
    then per actor: keyPos, expectedVersion ("0" = must not exist yet), snapshot, opCount, ops...
    where each op is an opcode and its fixed number of operands (see `arity`):
      T+ member due eventJson   schedule (or reschedule) a timer; eventJson may be ""
      T- member                 cancel a timer
      TC member due             precondition + consume: the timer must still be due at `due`
      O  id leaseUntil json     add an outbox entry: a job of the effects queue, claimed by its
                                writer (attempt 1, claim token = id) until leaseUntil
      I+ keyPos member          add to an index zset (score 0, ordered by member)
      I- keyPos member          remove from an index zset
      IZ keyPos count           precondition: the index zset holds exactly `count` members
      C  keyPos field delta     HINCRBY a counter hash field
      A  keyPos member dataPos json
                                append an audit record: member into the lex-ordered zset at
                                keyPos, json into the hash at dataPos (HSETNX: never rewritten)
      L  json max maxBytes      push a logged event onto the actor's event log (actor hash field
                                e: entries newest first, separated by "\n", which JSON never
                                holds raw), keeping the newest `max` that fit in `maxBytes` (the
                                newest always); a field of the actor's own hash costs less than
                                a list key of its own
      JK keyPos max every initial
                                the actor's what-if journal (a list, oldest first) at keyPos,
                                keeping its last `max` entries; given once, before its J ops.
                                At the actor's first J op, when the journal is empty or `every`
                                events were journaled since the last checkpoint (actor hash
                                field j), a checkpoint {"v":<previous version>,"checkpoint":
                                <snapshot before>} goes first; the snapshot is the stored one, or
                                `initial` when there is none (the commit creates the actor)
      J  json plannedAt         append an applied event to that journal, as
                                {"v":<committed version>,"event":<json>}, with ,"t":<plannedAt>
                                when plannedAt is not "" (when a step that started timers was
                                planned: the what-if replay counts them from there); or, for an event
                                encoded as a JSON array, as that array with the version first:
                                [<committed version>,...]. The commit's entries are pushed by one
                                RPUSH and trimmed by one LTRIM
      D  keyPos requestId max   precondition: the request id is not in the actor's request-id
                                zset at keyPos; then record it there, keeping the last `max` ids.
                                An id with a body's digest (`<id>:<digest>`) must also not be
                                there with another digest (-5); there bare, it is a repeat (-4)

  Output: a flat list, three entries per actor, in order (flat because nested replies are not
  portable to the embedded store): code, version, text. Codes (CommitCode in reply-codes.ts):
     1  committed         version = the new version, text ""
     0  conflict          version = the current version, text = the current snapshot:
                          nothing written for this actor
     2  aborted           "all" mode: this actor was fine but another failed; current version
    -2  timer gone        a consumed timer is gone (fired or cancelled already); current version
    -3  index changed     an index precondition failed (membership changed); current version
    -4  duplicate         the request id was applied before, text = that request id: nothing
                          written
    -5  reused            the request id was applied before with another body, text = the
                          request id: nothing written
]]
--- @include "includes/jobQueue"

local timers, timerEvents, outbox, outboxData, outboxState = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local arity = { ['T+'] = 3, ['T-'] = 1, ['TC'] = 2, ['O'] = 3, ['I+'] = 2, ['I-'] = 2, ['IZ'] = 2, ['C'] = 3, ['A'] = 4, ['L'] = 3, ['D'] = 3, ['JK'] = 4, ['J'] = 2 }

local n = tonumber(ARGV[1])
local mode = ARGV[2]

-- Pass 1: parse and check every precondition without writing anything.
local actors = {}
local anyFailed = false
local p = 3
for a = 1, n do
  local actor = {
    key = KEYS[tonumber(ARGV[p])],
    expected = tonumber(ARGV[p + 1]),
    snapshot = ARGV[p + 2],
    opCount = tonumber(ARGV[p + 3]),
    opsStart = p + 4,
  }
  p = p + 4
  for _ = 1, actor.opCount do
    if ARGV[p] == 'JK' then
      actor.journal = KEYS[tonumber(ARGV[p + 1])]
      actor.max = tonumber(ARGV[p + 2])
      actor.every = tonumber(ARGV[p + 3])
      actor.initial = ARGV[p + 4]
      actor.events = {}
      actor.plannedAt = {}
    elseif ARGV[p] == 'J' then
      actor.events[#actor.events + 1] = ARGV[p + 1]
      actor.plannedAt[#actor.events] = ARGV[p + 2]
    end
    p = p + 1 + arity[ARGV[p]]
  end
  -- Compared as numbers: the embedded store may hand back stored values as numbers.
  if actor.journal then
    -- A missing field: false on Redis, another empty value on the embedded store.
    local got = redis.call('HMGET', actor.key, 'v', 'j')
    actor.current = tonumber(got[1]) or 0
    actor.since = tonumber(got[2]) or 0
  else
    actor.current = tonumber(redis.call('HGET', actor.key, 'v') or '0')
  end
  if actor.current ~= actor.expected then
    actor.code = 0
  else
    local q = actor.opsStart
    for _ = 1, actor.opCount do
      local op = ARGV[q]
      if op == 'TC' then
        local score = redis.call('ZSCORE', timers, ARGV[q + 1])
        if (not score) or tonumber(score) ~= tonumber(ARGV[q + 2]) then
          actor.code = -2
          break
        end
      elseif op == 'D' then
        local set, member = KEYS[tonumber(ARGV[q + 1])], ARGV[q + 2]
        if redis.call('ZSCORE', set, member) then
          actor.code = -4
          actor.duplicate = member
          break
        end
        -- A member with a body's digest, `<id>:<digest>`: the same id remembered bare (before
        -- digests) is a repeat; with another digest, a reuse for a different request.
        local sep = string.find(member, ':', 1, true)
        if sep then
          if redis.call('ZSCORE', set, string.sub(member, 1, sep - 1)) then
            actor.code = -4
          else
            local prefix = string.sub(member, 1, sep)
            for _, m in ipairs(redis.call('ZRANGE', set, 0, -1)) do
              if string.sub(m, 1, sep) == prefix then
                actor.code = -5
                break
              end
            end
          end
          if actor.code then
            actor.duplicate = member
            break
          end
        end
      elseif op == 'IZ' then
        if redis.call('ZCARD', KEYS[tonumber(ARGV[q + 1])]) ~= tonumber(ARGV[q + 2]) then
          actor.code = -3
          break
        end
      end
      q = q + 1 + arity[op]
    end
  end
  if actor.code then anyFailed = true end
  actors[a] = actor
end

-- Pass 2: write.
local replies = {}
local function reply(code, version, snapshot)
  replies[#replies + 1] = code
  replies[#replies + 1] = version
  replies[#replies + 1] = snapshot
end

for a = 1, n do
  local actor = actors[a]
  if actor.code == 0 then
    reply(0, actor.current, redis.call('HGET', actor.key, 's') or '')
  elseif actor.code == -4 or actor.code == -5 then
    reply(actor.code, actor.current, actor.duplicate)
  elseif actor.code then
    reply(actor.code, actor.current, '')
  elseif mode == 'all' and anyFailed then
    reply(2, actor.current, '')
  else
    local version = actor.current + 1
    local fields = { 'v', tostring(version), 's', actor.snapshot }
    if actor.journal then
      -- The state before this commit, as a checkpoint entry; nil when there is none. Read (before
      -- the snapshot is overwritten below) only when a checkpoint is due.
      local function checkpoint()
        local state = redis.call('HGET', actor.key, 's')
        if (not state) or state == '' then state = actor.initial end
        if state == '' then return nil end
        return '{"v":' .. string.format('%d', actor.current) .. ',"checkpoint":' .. state .. '}'
      end
      local since = actor.since
      local entries = {}
      -- `every` events journaled since the last checkpoint: one goes before these events.
      local due = since >= actor.every
      if due then
        entries[1] = checkpoint()
        if entries[1] then since = 0 end
      end
      local v = string.format('%d', version)
      for i, json in ipairs(actor.events) do
        if string.byte(json, 1) == 91 then -- '[': the version goes first in the array
          entries[#entries + 1] = '[' .. v .. ',' .. string.sub(json, 2)
        elseif actor.plannedAt[i] == '' then
          entries[#entries + 1] = '{"v":' .. v .. ',"event":' .. json .. '}'
        else
          entries[#entries + 1] = '{"v":' .. v .. ',"event":' .. json .. ',"t":' .. actor.plannedAt[i] .. '}'
        end
      end
      -- In slices, within what one call's arguments may hold; RPUSH answers the list's length.
      local length = 0
      for from = 1, #entries, 1000 do
        length = redis.call('RPUSH', actor.journal, unpack(entries, from, math.min(from + 999, #entries)))
      end
      -- The journal was empty (new, or its key deleted): the state before them goes first.
      if (not due) and length == #entries then
        local first = checkpoint()
        if first then
          redis.call('LPUSH', actor.journal, first)
          since = 0
        end
      end
      redis.call('LTRIM', actor.journal, -actor.max, -1)
      fields[5] = 'j'
      fields[6] = tostring(since + #actor.events)
    end
    redis.call('HSET', actor.key, unpack(fields))
    local q = actor.opsStart
    for _ = 1, actor.opCount do
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
        scheduleJob(outbox, outboxData, ARGV[q + 1], ARGV[q + 2], ARGV[q + 3])
        redis.call('HSET', outboxState, 'a:' .. ARGV[q + 1], '1', 'c:' .. ARGV[q + 1], ARGV[q + 1])
      elseif op == 'I+' then
        redis.call('ZADD', KEYS[tonumber(ARGV[q + 1])], 0, ARGV[q + 2])
      elseif op == 'I-' then
        redis.call('ZREM', KEYS[tonumber(ARGV[q + 1])], ARGV[q + 2])
      elseif op == 'C' then
        redis.call('HINCRBY', KEYS[tonumber(ARGV[q + 1])], ARGV[q + 2], ARGV[q + 3])
      elseif op == 'L' then
        local log = redis.call('HGET', actor.key, 'e')
        if log and log ~= '' then log = ARGV[q + 1] .. '\n' .. log else log = ARGV[q + 1] end
        -- Keep the newest entries, at most `max` of them and `maxBytes` in all (the newest one
        -- always): reads at most `max` entries.
        local max, maxBytes = tonumber(ARGV[q + 2]), tonumber(ARGV[q + 3])
        local kept, n, from = 0, 0, 1
        while from <= #log do
          local nl = string.find(log, '\n', from, true)
          local stop = (nl or (#log + 1)) - 1
          if n >= 1 and stop > maxBytes then break end
          n = n + 1
          kept = stop
          if n >= max or not nl then break end
          from = nl + 1
        end
        redis.call('HSET', actor.key, 'e', string.sub(log, 1, kept))
      elseif op == 'D' then
        local set = KEYS[tonumber(ARGV[q + 1])]
        redis.call('ZADD', set, version, ARGV[q + 2])
        redis.call('ZREMRANGEBYRANK', set, 0, -tonumber(ARGV[q + 3]) - 1)
      elseif op == 'A' then
        redis.call('ZADD', KEYS[tonumber(ARGV[q + 1])], 0, ARGV[q + 2])
        redis.call('HSETNX', KEYS[tonumber(ARGV[q + 3])], ARGV[q + 2], ARGV[q + 4])
      end
      q = q + 1 + arity[op]
    end
    reply(1, version, '')
  end
end
-- Re-packed by a table constructor: the embedded store only converts such tables to replies.
return { unpack(replies) }
