-- Holds a user's message for its burst's one reply and renews the conversation's held messages'
-- lifetime (apps/worker/src/bursts.ts): one call instead of a MULTI of two commands. Returns 1.
-- KEYS[1] the conversation's held messages (hash: event id -> '<ms>:<sealed text>')
-- ARGV[1] event id
-- ARGV[2] '<ms>:<sealed text>'
-- ARGV[3] the hash's lifetime (ms)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
