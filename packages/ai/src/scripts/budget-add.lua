-- Adds to today's and this month's AI spend and renews both expiries (packages/ai/src/budget-guard.ts).
-- Returns 1.
-- KEYS[1] today's spend (string: micro-dollars)
-- KEYS[2] this month's spend (string: micro-dollars)
-- ARGV[1] the amount to add (micro-dollars)
-- ARGV[2] today's key's lifetime (s)
-- ARGV[3] this month's key's lifetime (s)
redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('INCRBYFLOAT', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
