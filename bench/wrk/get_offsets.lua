-- GET /tenants/{t}/pipeline/$NILUS_PIPELINE/offsets
dofile(os.getenv("NILUS_BENCH_DIR") .. "/wrk/common.lua")
local path = api .. "/pipeline/" .. assert(os.getenv("NILUS_PIPELINE"), "NILUS_PIPELINE is not set") .. "/offsets"

function request()
   return wrk.format("GET", path)
end
