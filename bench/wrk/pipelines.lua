-- GET /tenants/{t}/pipelines, page 1, with the filter $NILUS_FILTER:
-- none, resource_id (random resource), is_success (false), or started_at
-- (a 7-day started_at_gte/started_at_lte window ending at a random second of
-- the last 7 days).
dofile(os.getenv("NILUS_BENCH_DIR") .. "/wrk/common.lua")
local filter = os.getenv("NILUS_FILTER") or "none"
local queries = {
   none = function() return "" end,
   resource_id = function() return "?resource_id=" .. random_resource() end,
   is_success = function() return "?is_success=false" end,
   started_at = function()
      local lte = os.time() - math.random(0, 7 * 86400)
      return "?started_at_gte=" .. rfc3339(lte - 7 * 86400) .. "&started_at_lte=" .. rfc3339(lte)
   end,
}
local query = assert(queries[filter], "NILUS_FILTER must be none, resource_id, is_success or started_at")

function request()
   return wrk.format("GET", api .. "/pipelines" .. query())
end
