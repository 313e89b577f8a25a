-- POST /tenants/{t}/pipeline/runs as the runtime posts: every run once when it
-- starts (a fresh run_id) and once when it finishes.  Requests alternate
-- between a start and the finish of the oldest run still open; finishes wait
-- until OPEN_DEPTH runs are open, so that a run's two posts are well apart
-- (never in flight together on two connections), as in production.
dofile(os.getenv("NILUS_BENCH_DIR") .. "/wrk/common.lua")

local open_runs = {}   -- FIFO of started runs: {id, resource, started_at}
local first, last = 1, 0
local starting = true
local OPEN_DEPTH = 16

local function start_run()
   local run = {uuid4(), random_resource(), rfc3339(os.time() - math.random(1, 600))}
   last = last + 1
   open_runs[last] = run
   return string.format('{"run_id":"%s","resource_id":"%s","pipeline_name":"pipeline-%s",'
      .. '"run_as_user":"user-bench","started_at":"%s","metadata":{"nilus_version":"0.9.3"}}',
      run[1], run[2], run[2]:sub(-2), run[3])
end

local function finish_run()
   local run = open_runs[first]
   open_runs[first] = nil
   first = first + 1
   return string.format('{"run_id":"%s","resource_id":"%s","pipeline_name":"pipeline-%s",'
      .. '"started_at":"%s","finished_at":"%s","is_success":true,'
      .. '"records":{"extracted":100,"normalized":100,"loaded":100}}',
      run[1], run[2], run[2]:sub(-2), run[3], rfc3339(os.time()))
end

function request()
   local body
   if starting or last - first + 1 < OPEN_DEPTH then
      body = start_run()
   else
      body = finish_run()
   end
   starting = not starting
   return post(api .. "/pipeline/runs", body)
end
