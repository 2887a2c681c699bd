-- Appends turns to a conversation's memory, keeps the newest ARGV[1], drops those at the head older
-- than the cutoff, and lets the list expire once its newest turn ages out
-- (packages/pages/src/conversation-memory.ts). Returns 1.
-- KEYS[1] the conversation's turns (list: '<ms>:<u|b|s|d>:<sealed text>', oldest first)
-- ARGV[1] how many turns to keep
-- ARGV[2] cutoff (ms): older turns at the head are dropped
-- ARGV[3] the list's lifetime (ms)
-- ARGV[4...] the turns to append
redis.call('RPUSH', KEYS[1], unpack(ARGV, 4))
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[1]), -1)
local cutoff = tonumber(ARGV[2])
while true do
  local head = redis.call('LINDEX', KEYS[1], 0)
  if not head then break end
  local at = tonumber(string.match(head, '^(%d+):'))
  if at and at >= cutoff then break end
  redis.call('LPOP', KEYS[1])
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
