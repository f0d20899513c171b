-- Tallies the status codes of every response and prints them at the end as
-- one line, "statuses: STATUS=COUNT ...". bench/run.sh runs it in the
-- warm-ups only: a response() callback costs wrk CPU (wrk hands each
-- response's headers to Lua), so the measured runs go without it.
-- Can be appended to another script that defines init() and request().
counts = {}
local tally_threads = {}
function setup(thread)
  table.insert(tally_threads, thread)
  if setup_more then setup_more(thread) end
end
function response(status, headers, body) counts[status] = (counts[status] or 0) + 1 end
function done(summary, latency, requests)
  local total, keys = {}, {}
  for _, t in ipairs(tally_threads) do
    for k, v in pairs(t:get("counts")) do
      if total[k] == nil then table.insert(keys, k) end
      total[k] = (total[k] or 0) + v
    end
  end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do table.insert(parts, k .. "=" .. total[k]) end
  print("statuses: " .. table.concat(parts, " "))
end
