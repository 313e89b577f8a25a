-- GET /tenants/{t}/pipelines/{resource_id}/stats?period=$NILUS_PERIOD, random resource.
dofile(os.getenv("NILUS_BENCH_DIR") .. "/wrk/common.lua")
local period = os.getenv("NILUS_PERIOD") or "24h"

function request()
   return wrk.format("GET", api .. "/pipelines/" .. random_resource() .. "/stats?period=" .. period)
end
