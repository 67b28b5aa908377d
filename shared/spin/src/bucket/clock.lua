-- The bucket's clock: Redis's own (ms), one clock for every instance that
-- asks, however far their clocks disagree.
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
-- The bucket's key expires on this same clock once the bucket is full.
local expires = true
