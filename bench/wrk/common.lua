-- Shared by the per-route wrk scripts (loaded with dofile): authentication,
-- random choices, and a one-line machine-readable summary for bench/run.sh.
-- Environment: NILUS_TOKEN, NILUS_TENANT, NILUS_RESOURCES (pipelines per tenant).
token = assert(os.getenv("NILUS_TOKEN"), "NILUS_TOKEN is not set")
tenant = assert(os.getenv("NILUS_TENANT"), "NILUS_TENANT is not set")
resources = tonumber(os.getenv("NILUS_RESOURCES") or "20")
api = "/nilus-manager/api/v1/tenants/" .. tenant

wrk.headers["Authorization"] = "Bearer " .. token

-- Each thread has its own Lua state: give each its own random sequence.
local next_thread = 0
function setup(thread)
   next_thread = next_thread + 1
   thread:set("thread_no", next_thread)
end

function init(args)
   math.randomseed(os.time() * 1000 + (thread_no or 0))
end

function random_resource()
   return string.format("workflow-%02d", math.random(1, resources))
end

function uuid4()
   local r = math.random
   return string.format("%08x-%04x-4%03x-%04x-%04x%08x",
      r(0, 0x7fffffff), r(0, 0xffff), r(0, 0xfff), 0x8000 + r(0, 0x3fff), r(0, 0xffff), r(0, 0x7fffffff))
end

function rfc3339(t)
   return os.date("!%Y-%m-%dT%H:%M:%SZ", t)
end

-- wrk.format uses the headers it is given instead of wrk.headers, not beside them.
local post_headers = {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}
function post(path, body)
   return wrk.format("POST", path, post_headers, body)
end

-- RESULT requests rps p50_ms p99_ms avg_ms socket_errors http_errors
function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format("RESULT %d %.0f %.3f %.3f %.3f %d %d\n",
      summary.requests, summary.requests / (summary.duration / 1e6),
      latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.mean / 1000,
      e.connect + e.read + e.write + e.timeout, e.status))
end
