-- Spreads requests over paths and API keys (bench/features.sh).
--   WRK_PATHS_FILE  paths, one a line (required), e.g. /api/v1/jobs/ID
--   WRK_PREFIX      put before every path (e.g. /_aws/execute-api/API/STAGE)
--   WRK_KEY         one x-api-key for every request, or
--   WRK_KEYS_FILE   keys, one a line: request i carries key i and path i
--                   (each list repeated to the longer one's length), so
--                   every key and every path is used
-- Every request is formatted once in init(); request() picks one at random,
-- so wrk's work per request is the same whatever the lists hold. Append
-- bench/wrk/statuses.lua to tally status codes (as bench/run.sh does with
-- keys.lua): this script's setup() hook is setup_more().
local seed = 0
function setup_more(thread)
  seed = seed + 1
  thread:set("thread_seed", seed)
end
function setup(thread) setup_more(thread) end

local function lines(path)
  local out = {}
  local file = assert(io.open(path, "r"))
  for line in file:lines() do
    if line ~= "" then out[#out + 1] = line end
  end
  file:close()
  return out
end

local requests, n = {}, 0
function init(args)
  local paths_file = os.getenv("WRK_PATHS_FILE")
  assert(paths_file and paths_file ~= "", "WRK_PATHS_FILE is not set")
  local paths = lines(paths_file)
  assert(#paths > 0, "no paths in " .. paths_file)
  local prefix = os.getenv("WRK_PREFIX") or ""
  local keys = {}
  local keys_file = os.getenv("WRK_KEYS_FILE")
  if keys_file and keys_file ~= "" then
    keys = lines(keys_file)
    assert(#keys > 0, "no keys in " .. keys_file)
  elseif os.getenv("WRK_KEY") and os.getenv("WRK_KEY") ~= "" then
    keys = { os.getenv("WRK_KEY") }
  end
  n = math.max(#paths, #keys)
  for i = 1, n do
    local headers = nil
    if #keys > 0 then headers = { ["x-api-key"] = keys[(i - 1) % #keys + 1] } end
    requests[i] = wrk.format("GET", prefix .. paths[(i - 1) % #paths + 1], headers)
  end
  math.randomseed(os.time() * 1000 + (thread_seed or 0))
end

function request()
  return requests[math.random(n)]
end
