-- Renews a conversation's lock for its owner only: a lock that expired and was taken is someone
-- else's (apps/worker/src/conversation-lock.ts). Returns 1 when renewed, else 0.
-- KEYS[1] the lock (string: owner token)
-- ARGV[1] owner token
-- ARGV[2] the lock's lifetime (ms)
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
