-- Every route's totals, flat: for each hash in the set KEYS[1], its name
-- then count, sum_ms, b0 … b8 (0 where a field is missing).
local out = {}
for _, key in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  table.insert(out, key)
  local fields = redis.call('HMGET', key, 'count', 'sum_ms', 'b0', 'b1', 'b2', 'b3', 'b4', 'b5', 'b6', 'b7', 'b8')
  for i = 1, #fields do
    table.insert(out, tonumber(fields[i]) or 0)
  end
end
return out
