-- Releases a conversation's lock (its owner's only) and says what becomes of the event's place
-- (apps/worker/src/conversation-lock.ts). Returns 1.
-- KEYS[1] the pending set (sorted set: event id scored by Meta's timestamp)
-- KEYS[2] the lock (string: owner token)
-- KEYS[3] when each pending event entered (hash: event id -> ms)
-- KEYS[4] named predecessors that already left (set of event ids)
-- ARGV[1] event id
-- ARGV[2] 'done': it will not run again and leaves the pending set;
--         'again': it will run again and keeps whatever place it has;
--         'park': it handed its send over to a job of its own and takes a place in the pending set,
--         with the patience counted from now, so the conversation's next event waits for that job
-- ARGV[3] owner token ('' when nobody holds the lock on the event's behalf)
-- ARGV[4] the pending set's lifetime (ms)
-- ARGV[5] '1' when a later event of its delivery names it as a predecessor (remembered as done)
-- ARGV[6] its timestamp (ms; 'park' only)
-- ARGV[7] now (ms; 'park' only)
if ARGV[2] == 'done' then
  -- Its entry time exists only beside a pending entry (conversation-enter.lua writes both).
  if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then redis.call('HDEL', KEYS[3], ARGV[1]) end
  if ARGV[5] == '1' then
    redis.call('SADD', KEYS[4], ARGV[1])
    redis.call('PEXPIRE', KEYS[4], ARGV[4])
  end
elseif ARGV[2] == 'park' then
  redis.call('ZADD', KEYS[1], 'NX', ARGV[6], ARGV[1])
  redis.call('HSET', KEYS[3], ARGV[1], ARGV[7])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  redis.call('PEXPIRE', KEYS[3], ARGV[4])
end
if redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
return 1
