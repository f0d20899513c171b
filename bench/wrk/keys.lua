-- Each request carries an x-api-key header picked at random from the keys in
-- the file named by the environment variable WRK_KEYS_FILE, one a line. The
-- same script serves the one-key run (a file of one line) and the many-keys
-- run (10 000 lines): the work wrk does per request is the same in both.
-- Every request is formatted once, in init(), so request() only picks one.
-- WRK_CLOSE=1 adds "Connection: close": a new connection (and, over https, a
-- full TLS handshake) for every request (bench/tls.sh).
local seed = 0
function setup_more(thread)
  seed = seed + 1
  thread:set("thread_seed", seed)
end
-- When statuses.lua is not appended, setup() is this script's own.
function setup(thread) setup_more(thread) end

local requests, n = {}, 0
function init(args)
  local path = os.getenv("WRK_KEYS_FILE")
  assert(path and path ~= "", "WRK_KEYS_FILE is not set")
  local close = os.getenv("WRK_CLOSE") == "1"
  local file = assert(io.open(path, "r"))
  for line in file:lines() do
    if line ~= "" then
      n = n + 1
      local headers = { ["x-api-key"] = line }
      if close then headers["Connection"] = "close" end
      requests[n] = wrk.format(nil, nil, headers)
    end
  end
  file:close()
  assert(n > 0, "no keys in " .. path)
  math.randomseed(os.time() * 1000 + (thread_seed or 0))
end

function request()
  return requests[math.random(n)]
end
