-- GET /api/auth/me, rotating among the seeded accounts' JWTs.
-- Argument: a file with one token per line.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")

local requests = {}
local next_request = 0

function init(args)
  for token in io.lines(args[1]) do
    requests[#requests + 1] = wrk.format("GET", "/api/auth/me", { Authorization = "Bearer " .. token })
  end
  next_request = id or 0
end

function request()
  next_request = next_request % #requests + 1
  return requests[next_request]
end
