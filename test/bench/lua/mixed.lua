-- The mixed workload, chosen per request: 80 % GET /api/auth/me (rotating JWTs), 15 % GET /health,
-- 5 % POST /api/auth/login (rotating accounts).
-- Arguments: the token file, the number of accounts N, the password.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")

local me, login = {}, {}
local health

function init(args)
  for token in io.lines(args[1]) do
    me[#me + 1] = wrk.format("GET", "/api/auth/me", { Authorization = "Bearer " .. token })
  end
  for n = 1, tonumber(args[2]) do
    local body = string.format('{"email":"bench%d@mit.edu","password":"%s"}', n, args[3])
    login[#login + 1] = wrk.format("POST", "/api/auth/login", { ["Content-Type"] = "application/json" }, body)
  end
  health = wrk.format("GET", "/health", {})
  math.randomseed(os.time() * 1000 + (id or 0))
end

function request()
  local roll = math.random(100)
  if roll <= 80 then
    return me[math.random(#me)]
  elseif roll <= 95 then
    return health
  end
  return login[math.random(#login)]
end
