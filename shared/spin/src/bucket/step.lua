-- One step of a rate-limit bucket (gasline_core::limit::take), atomic in
-- Redis. It follows clock.lua, which sets `now` (ms) and `expires` (whether
-- `now` is Redis's own clock, on which the key can expire). KEYS[1]: the bucket;
-- ARGV[1]: one request's interval (ms); ARGV[2]: the tolerance (burst x
-- interval, ms). The value is the bucket's theoretical arrival time; it
-- expires when the bucket is full again, which is the same as keeping it.
-- Answers {1, new tat} when served, {0, retry after (ms)} when not.
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then
  tat = now
end
local ahead = tat + interval - now
if ahead > tolerance then
  return {0, ahead - tolerance}
end
if expires then
  redis.call('SET', KEYS[1], tat + interval, 'PX', ahead)
else
  redis.call('SET', KEYS[1], tat + interval)
end
return {1, tat + interval}
