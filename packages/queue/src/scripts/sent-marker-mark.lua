-- Sets fields of a reply-sent marker, atomically with its expiry (packages/queue/src/sent-marker.ts).
-- Returns 1.
-- KEYS[1] the marker (hash: part -> 'sending' or Meta's message id; echo:<part>; done)
-- ARGV[1] lifetime (s)
-- ARGV[2] 'set': the marker lives ARGV[1] from now; 'keep': an existing expiry stays, and only a
--         marker without one (one this call created) gets ARGV[1]
-- ARGV[3...] field, value, field, value, …
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
if ARGV[2] == 'set' or redis.call('TTL', KEYS[1]) < 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return 1
