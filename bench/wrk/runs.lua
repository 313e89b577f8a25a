-- GET /tenants/{t}/pipelines/{resource_id}/runs, page 1, random resource.
dofile(os.getenv("NILUS_BENCH_DIR") .. "/wrk/common.lua")

function request()
   return wrk.format("GET", api .. "/pipelines/" .. random_resource() .. "/runs")
end
