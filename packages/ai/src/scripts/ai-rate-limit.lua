-- Checks and consumes both AI call limits, a sliding-window log each (packages/ai/src/ai-rate-limiter.ts).
-- Returns 0 ok, 1 the user's limit is reached, 2 the global limit is reached.
-- KEYS[1] the global log (sorted set: call id scored by ms)
-- KEYS[2] the user's log (sorted set: call id scored by ms)
-- ARGV[1] now (ms), or '' to use the Redis server clock (one clock for every worker)
-- ARGV[2] global limit
-- ARGV[3] per-user limit
-- ARGV[4] window (ms)
-- ARGV[5] a unique member for this call
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local globalLimit = tonumber(ARGV[2])
local userLimit = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
local horizon = now - window

redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', horizon)
if redis.call('ZCARD', KEYS[2]) >= userLimit then
  return 1
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', horizon)
if redis.call('ZCARD', KEYS[1]) >= globalLimit then
  return 2
end

redis.call('ZADD', KEYS[1], now, ARGV[5])
redis.call('ZADD', KEYS[2], now, ARGV[5])
redis.call('PEXPIRE', KEYS[1], window)
redis.call('PEXPIRE', KEYS[2], window)
return 0
