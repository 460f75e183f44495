-- The wrk script of bench/run.py, the same for the product and the bare baseline.
--
--   wrk -s bench/wrk.lua URL -- DATAFILE OFFSET
--
-- DATAFILE, written by run.py: the method; the path; the body ("" for none); one header
-- "Name: value" ("" for none); the number of A items, then the A items; the B items.
-- In the path, body and header, {n} becomes the request's number, unique across wrk's
-- threads and, with OFFSET, across runs; {a} the A item n mod #A and {b} the B item
-- floor(n / #A) mod #B, so every (a, b) pair comes once before any comes twice.
-- The last line of stdout is one JSON object: requests, latency percentiles, errors, and
-- the responses that were not 2xx.

local threads = {}

function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

local method, path, body, header_name, header_value
local a_items, b_items = {}, {}
-- Globals, so that done() can read each thread's: the numbers it used.
offset, stride, sent = 0, 1, 0
non2xx, last_bad = 0, ""

function init(args)
  local lines = {}
  for line in io.lines(args[1]) do table.insert(lines, line) end
  method, path, body = lines[1], lines[2], lines[3]
  local header = lines[4]
  if header ~= "" then
    header_name, header_value = header:match("^([^:]+):%s*(.*)$")
  end
  local count = tonumber(lines[5])
  for i = 6, 5 + count do table.insert(a_items, lines[i]) end
  for i = 6 + count, #lines do table.insert(b_items, lines[i]) end
  if #a_items == 0 then a_items = {""} end
  if #b_items == 0 then b_items = {""} end
  offset = tonumber(args[2] or "0") + index
  stride = tonumber(args[3] or "1")
end

local function fill(template, n)
  local a = a_items[n % #a_items + 1]
  local b = b_items[math.floor(n / #a_items) % #b_items + 1]
  return (template:gsub("{n}", function() return tostring(n) end)
                  :gsub("{a}", function() return a end)
                  :gsub("{b}", function() return b end))
end

function request()
  local n = offset + sent * stride
  sent = sent + 1
  local headers = {}
  if header_name then headers[header_name] = fill(header_value, n) end
  local payload = nil
  if body ~= "" then
    payload = fill(body, n)
    headers["Content-Type"] = "application/json"
  end
  return wrk.format(method, fill(path, n), headers, payload)
end

function response(status, headers, content)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    last_bad = tostring(status) .. " " .. string.sub(content or "", 1, 120):gsub('[%c"\\]', " ")
  end
end

function done(summary, latency, requests)
  local bad, sample, next_n = 0, "", 0
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("non2xx")
    local last = thread:get("last_bad")
    if last ~= "" then sample = last end
    -- Threads send at their own pace: the next run starts past the highest number any used.
    local after = thread:get("offset") + thread:get("sent") * thread:get("stride")
    if after > next_n then next_n = after end
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, ' ..
    '"socket_errors": %d, "timeouts": %d, "non2xx": %d, "non2xx_sample": "%s", "next_n": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.connect + e.read + e.write, e.timeout, bad, sample, next_n))
end
