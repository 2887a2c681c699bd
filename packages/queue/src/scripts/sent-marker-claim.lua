-- Reads a reply-sent marker and, when the part is not there yet and nothing is done, claims it
-- (packages/queue/src/sent-marker.ts). Returns the marker as it was, HGETALL's flat list.
-- KEYS[1] the marker (hash: part -> 'sending' or Meta's message id; echo:<part>; done)
-- ARGV[1] the part's field
-- ARGV[2] the marker's lifetime while unfinished (s)
-- ARGV[3] the claim's value ('sending')
local state = redis.call('HGETALL', KEYS[1])
-- The fields read, not asked for again: a marker holds a handful.
for i = 1, #state, 2 do
  if state[i] == 'done' or state[i] == ARGV[1] then return state end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return state
