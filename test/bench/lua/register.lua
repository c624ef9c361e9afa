-- POST /api/auth/register with a new account per request: <prefix>_<thread>_<counter>@mit.edu.
-- Argument: a prefix unique to this run (so reruns against the same database do not collide); the password.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")

local prefix, password
local counter = 0

function init(args)
  prefix = args[1] .. "_" .. tostring(id or 0) .. "_"
  password = args[2]
end

function request()
  counter = counter + 1
  local username = prefix .. counter
  local body = string.format(
    '{"email":"%s@mit.edu","username":"%s","password":"%s","firstName":"Bench"}',
    username, username, password)
  return wrk.format("POST", "/api/auth/register", { ["Content-Type"] = "application/json" }, body)
end
