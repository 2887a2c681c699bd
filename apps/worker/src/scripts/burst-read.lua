-- The messages held for a conversation's burst, unless a later message of the burst still waits to
-- run and be held (apps/worker/src/bursts.ts): the check and the read in one call.
-- Returns {1} when such a message waits; else {0, event id, '<ms>:<sealed text>', ...}.
-- KEYS[1] the conversation's pending set (sorted set: event id scored by its time; conversation-enter.lua)
-- KEYS[2] the conversation's held messages (hash: event id -> '<ms>:<sealed text>')
-- ARGV[1] the time of the message being run (ms)
-- ARGV[2] how much later a message still belongs to its burst (ms)
local upTo = tonumber(ARGV[1]) + tonumber(ARGV[2])
if #redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], upTo, 'LIMIT', 0, 1) > 0 then
  return {1}
end
local held = redis.call('HGETALL', KEYS[2])
table.insert(held, 1, 0)
return held
