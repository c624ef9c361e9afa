-- POST /api/auth/login, rotating among the seeded accounts bench1..benchN@mit.edu.
-- Arguments: N, the password.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")

local requests = {}
local next_request = 0

function init(args)
  for n = 1, tonumber(args[1]) do
    local body = string.format('{"email":"bench%d@mit.edu","password":"%s"}', n, args[2])
    requests[#requests + 1] = wrk.format("POST", "/api/auth/login", { ["Content-Type"] = "application/json" }, body)
  end
  next_request = id or 0
end

function request()
  next_request = next_request % #requests + 1
  return requests[next_request]
end
