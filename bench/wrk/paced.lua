-- Requests at a set rate, for bench/soak.sh. wrk is closed-loop: a
-- connection sends its next request when the previous answer is in, after
-- delay() milliseconds when the script defines delay(). Here each wrk thread
-- hands out send times ("slots") WRK_RATE / WRK_THREADS per second apart, one
-- per delay() call: the connection that asks waits until its slot. So the
-- process sends WRK_RATE requests per second as long as its connections keep
-- up (a connection waiting for an answer takes no slot); when they fall
-- behind, at most 100 ms of missed slots are caught up, and the rest are lost
-- (the per-minute rate in the report shows it).
--   WRK_RATE        requests per second of this wrk process (required)
--   WRK_THREADS     its -t (required: the rate is split between the threads)
--   WRK_KEYS_FILE   x-api-key values, one a line; each request a random one
-- The clock is CLOCK_MONOTONIC through LuaJIT's FFI (wrk's Lua has no
-- sub-second clock). Append bench/wrk/statuses.lua to tally status codes:
-- this script's setup() hook is setup_more().
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } paced_timespec;
int clock_gettime(int clk_id, paced_timespec *tp);
]]
local ts = ffi.new("paced_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local seed = 0
function setup_more(thread)
  seed = seed + 1
  thread:set("thread_seed", seed)
end
function setup(thread) setup_more(thread) end

local requests, n = {}, 0
local interval, next_at
function init(args)
  local rate = tonumber(os.getenv("WRK_RATE") or "")
  local threads = tonumber(os.getenv("WRK_THREADS") or "")
  assert(rate and rate > 0, "WRK_RATE is not set")
  assert(threads and threads > 0, "WRK_THREADS is not set")
  interval = 1000 * threads / rate
  local path = os.getenv("WRK_KEYS_FILE")
  assert(path and path ~= "", "WRK_KEYS_FILE is not set")
  local file = assert(io.open(path, "r"))
  for line in file:lines() do
    if line ~= "" then
      n = n + 1
      requests[n] = wrk.format(nil, nil, { ["x-api-key"] = line })
    end
  end
  file:close()
  assert(n > 0, "no keys in " .. path)
  math.randomseed(os.time() * 1000 + (thread_seed or 0))
end

function request()
  return requests[math.random(n)]
end

function delay()
  local now = now_ms()
  if next_at == nil or next_at < now - 100 then next_at = now end
  local wait = next_at - now
  next_at = next_at + interval
  if wait < 0 then return 0 end
  return math.floor(wait)
end
