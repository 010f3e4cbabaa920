-- Form posts for bench/run.py (sign-in and the bcrypt reference): each request takes the
-- next line of the file given as sessions=PATH, "<Cookie header>\t<urlencoded body>", made
-- beforehand by run.py (a session cookie and its CSRF token per line; the cookie may be
-- empty). Lines are used in turn (from the line after start=N); run.py makes enough of them
-- that none is used twice, and reports it when one was. Checks and the report: stats.lua.

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "stats.lua")

local entries = {}
local next_entry = 0

function init(args)
  parse_args(args)
  for line in io.lines(options.sessions) do
    local cookie, body = line:match("^([^\t]*)\t(.*)$")
    if body then entries[#entries + 1] = {cookie = cookie, body = body} end
  end
  assert(#entries > 0, "no sessions in " .. options.sessions)
  -- start=N: the first N lines were used by earlier runs; with several wrk threads, each
  -- thread starts at its own share of the rest
  local start = tonumber(options.start) or 0
  next_entry = start + math.floor(thread_id * (#entries - start) / (tonumber(options.threads) or 1))
end

function request()
  local entry = entries[next_entry % #entries + 1]
  next_entry = next_entry + 1
  local headers = {}
  for name, value in pairs(wrk.headers) do headers[name] = value end
  headers["Content-Type"] = "application/x-www-form-urlencoded"
  if entry.cookie ~= "" then headers["Cookie"] = entry.cookie end
  return wrk.format("POST", nil, headers, entry.body)
end
