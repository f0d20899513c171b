-- One usage-plan admission, atomically (tollgate-gateway/src/shared_counters.rs):
-- the key's throttle buckets (GCRA), its in-flight leases and its quota are all
-- checked first and written only if every one admits, so nothing is given back.
--
-- KEYS: 1 method bucket, 2 plan bucket, 3 quota of the period, 4 today's count,
--       5 in-flight leases (sorted set, score = lease end in ms)
-- ARGV: 1 method interval us (-1: no such layer), 2 method burst,
--       3 plan interval us (-1: none), 4 plan burst,
--       5 quota limit left for this period (-1: no quota), 6 cost,
--       7 quota key expiry (unix s), 8 day key expiry (unix s),
--       9 in-flight max (-1: none), 10 lease id, 11 lease ms,
--       12 day-key prefix, 13 first day of the period, 14 today (days since epoch)
-- Returns {0, used in period} | {1, wait us} (method) | {2, wait us} (plan)
--       | {3, 0} (in flight) | {4, used in period} (quota)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])

local function gcra(key, interval, burst)
  if interval < 0 then return nil, 0 end
  if burst <= 0 then return nil, interval end
  local tat = tonumber(redis.call('GET', key)) or now
  if tat < now then tat = now end
  local new = tat + interval
  local over = new - now - interval * burst
  if over > 0 then return nil, over end
  return new, 0
end

local m_new, m_wait = gcra(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))
if m_new == nil and tonumber(ARGV[1]) >= 0 then return {1, math.ceil(m_wait)} end
local p_new, p_wait = gcra(KEYS[2], tonumber(ARGV[3]), tonumber(ARGV[4]))
if p_new == nil and tonumber(ARGV[3]) >= 0 then return {2, math.ceil(p_wait)} end

local max_in_flight = tonumber(ARGV[9])
local now_ms = math.floor(now / 1000)
if max_in_flight >= 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now_ms)
  if redis.call('ZCARD', KEYS[5]) >= max_in_flight then return {3, 0} end
end

local limit = tonumber(ARGV[5])
local cost = tonumber(ARGV[6])
local used = 0
if limit >= 0 then
  local stored = redis.call('GET', KEYS[3])
  if stored then
    used = tonumber(stored)
  else
    -- First request of the period here (or the plan's period changed): the
    -- days already counted in it.
    for d = tonumber(ARGV[13]), tonumber(ARGV[14]) do
      used = used + (tonumber(redis.call('GET', ARGV[12] .. d)) or 0)
    end
    redis.call('SET', KEYS[3], used, 'EXAT', ARGV[7])
  end
  if used + cost > limit then return {4, used} end
  used = redis.call('INCRBY', KEYS[3], cost)
end

if m_new then redis.call('SET', KEYS[1], m_new, 'PX', math.ceil((m_new - now) / 1000) + 1) end
if p_new then redis.call('SET', KEYS[2], p_new, 'PX', math.ceil((p_new - now) / 1000) + 1) end
if max_in_flight >= 0 then
  local lease_ms = tonumber(ARGV[11])
  redis.call('ZADD', KEYS[5], now_ms + lease_ms, ARGV[10])
  redis.call('PEXPIRE', KEYS[5], lease_ms)
end
-- The day's count gets its expiry when it is made (or refunded to zero).
if redis.call('INCRBY', KEYS[4], cost) <= cost then redis.call('EXPIREAT', KEYS[4], ARGV[8]) end
return {0, used}
