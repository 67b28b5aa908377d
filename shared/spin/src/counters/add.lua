-- Counts one answered request (gasline_core::route_stats).
-- KEYS[1]: the route's hash, KEYS[2]: the set of every route's hash;
-- ARGV[1]: milliseconds taken, ARGV[2]: its latency bucket (-1: none).
redis.call('SADD', KEYS[2], KEYS[1])
redis.call('HINCRBY', KEYS[1], 'count', 1)
redis.call('HINCRBY', KEYS[1], 'sum_ms', ARGV[1])
local bucket = tonumber(ARGV[2])
if bucket >= 0 then
  redis.call('HINCRBY', KEYS[1], 'b' .. bucket, 1)
end
return 1
