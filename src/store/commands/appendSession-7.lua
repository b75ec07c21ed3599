--[[
  appendSession: appends entries to a session's streams atomically. The first entry decides:
  when its key is already present, nothing is written and its stored JSON is returned.
  Otherwise each entry is written unless its own key is present, and the session is linked to
  the workspace.

  Input:
    KEYS[1] session ids hash (`<stream>:<idempotency key>` -> seq; `#a`, `#t` counters)
    KEYS[2] automation zset (seq of each summary)
    KEYS[3] automation-data hash (seq -> summary JSON)
    KEYS[4] transcript zset (seq of each entry)
    KEYS[5] transcript-data hash (seq -> entry JSON)
    KEYS[6] workspace sessions set (KEYS[1] itself when there is no workspace: not linked)
    KEYS[7] skips hash (workspaceId -> skipped summaries)
    ARGV[1] session id
    ARGV[2] skip field ('' = count no skip)
    ARGV[3] number of entries n
    then per entry: stream code ('a' automation | 't' transcript), idempotency key, JSON

  Output: { code, json, skipCount } (AppendSessionCode in reply-codes.ts)
    { 1, first entry JSON, skip count or -1 }  appended
    { 0, stored JSON of the first key, -1 }    the first entry's key exists: nothing written
]]
local ids, wsSet, skips = KEYS[1], KEYS[6], KEYS[7]
local streams = { a = { KEYS[2], KEYS[3] }, t = { KEYS[4], KEYS[5] } }
local sessionId, skipField, n = ARGV[1], ARGV[2], tonumber(ARGV[3])
local firstField = ARGV[4] .. ':' .. ARGV[5]
local existing = redis.call('HGET', ids, firstField)
if existing then
  local json = redis.call('HGET', streams[ARGV[4]][2], existing)
  return { 0, json or 'null', -1 }
end
local firstJson = ARGV[6]
for i = 0, n - 1 do
  local s, key, json = ARGV[4 + i * 3], ARGV[5 + i * 3], ARGV[6 + i * 3]
  local field = s .. ':' .. key
  if redis.call('HEXISTS', ids, field) == 0 then
    -- %d, not tostring: the embedded store's Lua would print 1 as '1.0'.
    local seq = string.format('%d', redis.call('HINCRBY', ids, '#' .. s, 1))
    redis.call('HSET', ids, field, seq)
    redis.call('ZADD', streams[s][1], seq, seq)
    redis.call('HSET', streams[s][2], seq, json)
  end
end
if wsSet ~= ids then
  redis.call('SADD', wsSet, sessionId)
end
local count = -1
if skipField ~= '' then
  count = redis.call('HINCRBY', skips, skipField, 1)
end
return { 1, firstJson, count }
