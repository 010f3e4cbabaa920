-- Shared by every wrk run of bench/run.py (used alone for GETs, loaded by form.lua for POSTs).
-- Arguments after `--`: status=N, body=TEXT (plain substring of the body),
-- header=Name:TEXT (substring of that header). A response matching all of them is
-- "expected"; the counts, the statuses and the latency percentiles are printed at the end
-- as one line: BENCH_JSON {...}.

options = {}
statuses = {}
expected = 0
unexpected = 0
sample = ""

local threads = {}

function setup(thread)
  thread:set("thread_id", #threads)
  table.insert(threads, thread)
end

function parse_args(args)
  for _, arg in ipairs(args) do
    local key, value = arg:match("^(%w+)=(.*)$")
    if key then options[key] = value end
  end
  if options.header then
    options.header_name, options.header_text = options.header:match("^([^:]+):(.*)$")
    options.header_name = options.header_name:lower()
  end
end

function init(args)
  parse_args(args)
end

local function header_has(headers, name, text)
  for key, value in pairs(headers) do
    if key:lower() == name and value:find(text, 1, true) then return true end
  end
  return false
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  local ok = (options.status == nil or tonumber(options.status) == status)
    and (options.body == nil or (body ~= nil and body:find(options.body, 1, true) ~= nil))
    and (options.header_name == nil or header_has(headers, options.header_name, options.header_text))
  if ok then
    expected = expected + 1
  else
    unexpected = unexpected + 1
    if sample == "" then
      sample = tostring(status) .. " " .. (body or ""):sub(1, 160):gsub("[^%w%s%-_=:/.<>]", "?"):gsub("%s+", " ")
    end
  end
end

function done(summary, latency, requests)
  local counts, total_expected, total_unexpected, first = {}, 0, 0, ""
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      counts[#counts + 1] = string.format('"%d": %d', status, n)
    end
    total_expected = total_expected + thread:get("expected")
    total_unexpected = total_unexpected + thread:get("unexpected")
    if first == "" then first = thread:get("sample") end
  end
  local errors = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f, ' ..
    '"statuses": {%s}, "expected": %d, "unexpected": %d, "sample": "%s"}\n',
    summary.requests, summary.duration, summary.bytes,
    errors.connect, errors.read, errors.write, errors.status, errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    table.concat(counts, ", "), total_expected, total_unexpected, first:gsub('"', "'")))
end
