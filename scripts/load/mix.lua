-- wrk script for `make load`: a fixed rotation of small and medium requests.
-- Each connection walks the rotation in order, so every run sends the same mix:
-- two thirds small (one point), one third medium (1000 points, a 50 x 50 field).

local mix = {
  {kind = "derivative-1-point", path = "/derivative",
   body = '{"expression":"sin(x)*exp(-x**2/10)","points":[0.5]}'},
  {kind = "gradient-1-point", path = "/gradient",
   body = '{"expression":"x0**2*x1 + sin(x1)","point":[1.0,2.0]}'},
  {kind = "derivative-1-point", path = "/derivative",
   body = '{"expression":"log(1 + x**2)","points":[3.0],"accuracy":4}'},
  {kind = "gradient-1-point", path = "/gradient",
   body = '{"expression":"sum(x**2)","point":[3.0,4.0,5.0]}'},
  {kind = "derivative-1000-point-range", path = "/derivative",
   body = '{"expression":"sin(x)*exp(-x**2/10)","range":{"start":-5,"stop":5,"num":1000}}'},
  {kind = "gradient-field-50x50", path = "/gradient-field",
   body = '{"expression":"sin(x0)*cos(x1)","grid":[{"start":-2,"stop":2,"num":50},'
       .. '{"start":-2,"stop":2,"num":50}]}'},
}

local threads = {}
local headers = {["Content-Type"] = "application/json"}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  position = 0
  sent = {}
  failed = {}
  requests = {}
  for i, item in ipairs(mix) do
    requests[i] = wrk.format("POST", item.path, headers, item.body)
  end
end

function request()
  position = position % #mix + 1
  local kind = mix[position].kind
  sent[kind] = (sent[kind] or 0) + 1
  return requests[position]
end

function response(status, headers, body)
  if status ~= 200 then
    failed[tostring(status)] = (failed[tostring(status)] or 0) + 1
  end
end

-- One machine-readable line per counter, parsed by scripts/load.py.
function done(summary, latency, requests)
  local sent_total, failed_total = {}, {}
  for _, thread in ipairs(threads) do
    for kind, count in pairs(thread:get("sent")) do
      sent_total[kind] = (sent_total[kind] or 0) + count
    end
    for status, count in pairs(thread:get("failed")) do
      failed_total[status] = (failed_total[status] or 0) + count
    end
  end
  for kind, count in pairs(sent_total) do
    io.write(string.format("mix sent %s %d\n", kind, count))
  end
  for status, count in pairs(failed_total) do
    io.write(string.format("mix status %s %d\n", status, count))
  end
end
