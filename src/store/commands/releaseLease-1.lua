--[[
  releaseLease: gives a lease up (on shutdown) so another process can take it at once, only if
  this holder still has it.

  Input:
    KEYS[1] lease key
    ARGV[1] holder

  Output:
    1  released
    0  not held by this holder: nothing changed
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
