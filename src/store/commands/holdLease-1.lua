--[[
  holdLease: takes a lease that is free (or expired), or renews it for the holder that has it.
  Used to elect the one process that exports fleet-wide metrics.

  Input:
    KEYS[1] lease key
    ARGV[1] holder (unique per process start)
    ARGV[2] lease duration ms

  Output:
    1  the holder has the lease until now + ARGV[2]
    0  another holder has it
]]
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
