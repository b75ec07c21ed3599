--[[
  appendLiveEvent: records one live event for replay (Last-Event-ID) and publishes it with its id.

  Input:
    KEYS[1] the installation's replay stream of this kind of event
    ARGV[1] entries kept (exact MAXLEN)
    ARGV[2] pub/sub channel
    ARGV[3] payload JSON

  Output:
    the stream entry id given to the event (`<ms>-<seq>`)
]]
--- @include "includes/appendLiveEvent"

return appendLiveEvent(KEYS[1], ARGV[1], ARGV[2], ARGV[3])
