-- One usage-plan admission, atomically (tollgate-gateway/src/shared_counters.rs):
-- the key's throttle buckets (GCRA), its in-flight leases and its quota are all
-- checked first and written only if every one admits, so nothing is given back.
-- With ARGV[15] > 1 it may take more than the request's own units: a grant the
-- instance then uses without asking (the plan bucket's tokens and the quota,
-- never more than either has room for).
--
-- KEYS: 1 method bucket, 2 plan bucket, 3 quota of the period, 4 today's count,
--       5 in-flight leases (sorted set, score = lease end in ms)
-- ARGV: 1 method interval us (-1: no such layer), 2 method burst,
--       3 plan interval us (-1: none), 4 plan burst,
--       5 quota limit left for this period (-1: no quota), 6 cost,
--       7 quota key expiry (unix s), 8 day key expiry (unix s),
--       9 in-flight max (-1: none), 10 lease id, 11 lease ms,
--       12 day-key prefix, 13 first day of the period, 14 today (days since epoch),
--       15 units wanted (1: this request only), 16 a grant takes at most
--       1/ARGV[16] of the quota left
-- Returns {0, used in period, units taken} | {1, wait us} (method)
--       | {2, wait us} (plan) | {3, 0} (in flight) | {4, used in period} (quota)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])

-- How many tokens (at most `want`) a bucket has now, and its TAT; or 0 and
-- the wait until the next one is due.
local function gcra(key, interval, burst, want)
  if burst <= 0 then return 0, interval end
  local tat = tonumber(redis.call('GET', key)) or now
  if tat < now then tat = now end
  local n = math.floor((now + interval * burst - tat) / interval)
  if n < 1 then return 0, tat + interval - now - interval * burst end
  if n > want then n = want end
  return n, tat
end

local want = tonumber(ARGV[15]) or 1
if want < 1 then want = 1 end
local units = want

local m_interval = tonumber(ARGV[1])
local m_tat
if m_interval >= 0 then
  local n, v = gcra(KEYS[1], m_interval, tonumber(ARGV[2]), 1)
  if n < 1 then return {1, math.ceil(v)} end
  m_tat = v
  units = 1
end
local p_interval = tonumber(ARGV[3])
local p_tat
if p_interval >= 0 then
  local n, v = gcra(KEYS[2], p_interval, tonumber(ARGV[4]), units)
  if n < 1 then return {2, math.ceil(v)} end
  units, p_tat = n, v
end

local max_in_flight = tonumber(ARGV[9])
local now_ms = math.floor(now / 1000)
if max_in_flight >= 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now_ms)
  if redis.call('ZCARD', KEYS[5]) >= max_in_flight then return {3, 0} end
  units = 1
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
  -- A grant takes a small part of what is left, never more than all of it.
  local share = math.floor((limit - used) / (cost * (tonumber(ARGV[16]) or 1)))
  if units > share then units = math.max(share, 1) end
  used = redis.call('INCRBY', KEYS[3], cost * units)
end

if m_tat then
  local new = m_tat + m_interval
  redis.call('SET', KEYS[1], new, 'PX', math.ceil((new - now) / 1000) + 1)
end
if p_tat then
  local new = p_tat + p_interval * units
  redis.call('SET', KEYS[2], new, 'PX', math.ceil((new - now) / 1000) + 1)
end
if max_in_flight >= 0 then
  local lease_ms = tonumber(ARGV[11])
  redis.call('ZADD', KEYS[5], now_ms + lease_ms, ARGV[10])
  redis.call('PEXPIRE', KEYS[5], lease_ms)
end
-- The day's count gets its expiry when it is made (or refunded to zero).
local counted = cost * units
if redis.call('INCRBY', KEYS[4], counted) <= counted then redis.call('EXPIREAT', KEYS[4], ARGV[8]) end
return {0, used, units}
