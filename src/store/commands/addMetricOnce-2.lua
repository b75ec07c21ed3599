--[[
  addMetricOnce: SET NX the marker of what an envelope records (a rollback's eventId, an alert
  change) and XADD the envelope in one step, so a redelivered rollback or a retried alert effect
  adds nothing.

  Input:
    KEYS[1] seen marker (string, expires)
    KEYS[2] metrics stream
    ARGV[1] marker TTL (ms)
    ARGV[2] stream MAXLEN (approximate)
    ARGV[3] envelope field name
    ARGV[4] envelope JSON

  Output:
    stream id  the envelope was added
    nil        the marker was set before: nothing written
]]
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then
  return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', ARGV[3], ARGV[4])
end
return false
