--[[
  Appends one live event (a toast, a transition) to its installation's replay stream, trimmed to
  the last `maxLen` entries, and publishes `<id> <payload>` to every engine process. The stream
  entry id is the event's SSE `id:`. Each entry keeps the id of the entry before it (`p`), so a
  resume can tell exactly whether events after a client's Last-Event-ID were trimmed.
]]
local function appendLiveEvent(streamKey, maxLen, channel, payload)
  local last = redis.call('XREVRANGE', streamKey, '+', '-', 'COUNT', 1)
  local prev = '0-0'
  if last[1] then
    prev = last[1][1]
  end
  local id = redis.call('XADD', streamKey, 'MAXLEN', maxLen, '*', 'p', prev, 'd', payload)
  redis.call('PUBLISH', channel, id .. ' ' .. payload)
  return id
end
