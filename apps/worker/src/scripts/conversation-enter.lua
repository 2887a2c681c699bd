-- Enters an event into its conversation's pending set and takes the conversation's lock when it is
-- the earliest pending event (apps/worker/src/conversation-lock.ts). Returns 1 when it may run now.
-- KEYS[1] the pending set (sorted set: event id scored by Meta's timestamp)
-- KEYS[2] the lock (string: owner token "<uuid>|<event id>|<timestamp>", with an expiry)
-- KEYS[3] when each pending event entered (hash: event id -> ms)
-- KEYS[4] named predecessors that already left (set of event ids)
-- KEYS[5...] the job hashes of earlier events of the same delivery, one per predecessor
-- ARGV[1] event id
-- ARGV[2] its timestamp (ms)
-- ARGV[3] owner token
-- ARGV[4] the lock's lifetime (ms)
-- ARGV[5] the pending set's lifetime (ms)
-- ARGV[6] now (ms)
-- ARGV[7] patience: how long an earlier event with nobody running is waited for (ms)
-- ARGV[8...] per predecessor, in KEYS order: its event id, then its timestamp
local now = tonumber(ARGV[6])
-- The usual case: nobody pending in this conversation and no predecessors named — take the lock
-- and nothing else (no pending entry, no keys to create and delete again).
if #KEYS == 4 and redis.call('EXISTS', KEYS[1]) == 0 then
  if redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4], 'NX') then return 1 end
end
-- A holder that took the lock that way is not pending: put it there on its behalf (its owner token
-- ends in "|<event id>|<timestamp>"), so that it keeps its place in the order if it fails or its
-- process dies while holding the lock.
local holder = redis.call('GET', KEYS[2])
if holder then
  local hid, hts = string.match(holder, '|([^|]+)|([^|]+)$')
  if hid and hid ~= ARGV[1] and not redis.call('ZSCORE', KEYS[1], hid) then
    redis.call('ZADD', KEYS[1], 'NX', hts, hid)
    redis.call('HSETNX', KEYS[3], hid, now)
  end
end
redis.call('ZADD', KEYS[1], 'NX', ARGV[2], ARGV[1])
redis.call('HSETNX', KEYS[3], ARGV[1], now)
-- Earlier events of the same delivery whose jobs have not entered yet (two workers can take two
-- jobs of one batch at once, and the later one can get here first): pending on their behalf, unless
-- they already finished here (KEYS[4]) or their job is gone or finished.
for i = 5, #KEYS do
  local id = ARGV[8 + (i - 5) * 2]
  if not redis.call('ZSCORE', KEYS[1], id) and redis.call('SISMEMBER', KEYS[4], id) == 0
    and redis.call('EXISTS', KEYS[i]) == 1 and redis.call('HEXISTS', KEYS[i], 'finishedOn') == 0 then
    redis.call('ZADD', KEYS[1], 'NX', ARGV[9 + (i - 5) * 2], id)
    redis.call('HSETNX', KEYS[3], id, now)
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PEXPIRE', KEYS[3], ARGV[5])
while true do
  local first = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
  if first == ARGV[1] then break end
  local since = tonumber(redis.call('HGET', KEYS[3], first) or '0')
  -- An earlier event that has waited longer than the patience, with nobody running, is given up
  -- on (failing for minutes, or removed by hand): order is worth a short wait, not a stuck chat.
  if redis.call('EXISTS', KEYS[2]) == 0 and now - since > tonumber(ARGV[7]) then
    redis.call('ZREM', KEYS[1], first)
    redis.call('HDEL', KEYS[3], first)
  else
    return 0
  end
end
if redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4], 'NX') then return 1 end
return 0
