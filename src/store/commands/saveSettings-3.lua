--[[
  saveSettings: replaces an installation's settings only if they are still the ones the caller
  read, and records the change in the settings audit stream in the same step. Two operators
  changing settings through two processes at once must not lose either change.

  Input:
    KEYS[1] settings string
    KEYS[2] settings audit zset
    KEYS[3] settings audit data hash
    ARGV[1] the settings JSON the caller read ('' when there were none)
    ARGV[2] the new settings JSON
    ARGV[3] audit member
    ARGV[4] audit record JSON

  Output (SaveSettingsCode in reply-codes.ts):
    1  saved and audited
    0  the settings changed since the caller read them: nothing written
]]
local current = redis.call('GET', KEYS[1])
if current == false then current = '' end
if current ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], 0, ARGV[3])
redis.call('HSETNX', KEYS[3], ARGV[3], ARGV[4])
return 1
