-- Reads a reply-sent marker and, when the part is not there yet and nothing is done, claims it
-- (packages/queue/src/sent-marker.ts). Returns the marker as it was, HGETALL's flat list.
-- KEYS[1] the marker (hash: part -> 'sending' or Meta's message id; echo:<part>; done)
-- ARGV[1] the part's field
-- ARGV[2] the marker's lifetime while unfinished (s)
-- ARGV[3] the claim's value ('sending')
local state = redis.call('HGETALL', KEYS[1])
if redis.call('HEXISTS', KEYS[1], 'done') == 0 and redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return state
