-- Adds ARGV[1] (negative: a refund) to a key's count of one day and, if the
-- period's quota counter exists, to it too: a missing one is rebuilt from the
-- day counts by check.lua, so adding to it here would count twice.
-- KEYS: 1 quota of the period ('' for none), 2 the day's count
-- ARGV: 1 amount, 2 day key expiry (unix s)
if KEYS[1] ~= '' and redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('INCRBY', KEYS[1], ARGV[1])
end
redis.call('INCRBY', KEYS[2], ARGV[1])
redis.call('EXPIREAT', KEYS[2], ARGV[2])
return 1
