-- POST /tenants/{t}/pipeline/cdc-w-{n}/offsets: one connector flush of 3 keys
-- with fresh record ids, to one of $NILUS_WRITERS pipelines.
dofile(os.getenv("NILUS_BENCH_DIR") .. "/wrk/common.lua")
local writers = tonumber(os.getenv("NILUS_WRITERS") or "64")

local function record(w, partition, lsn)
   return string.format('{"id":"%s","offset_key":"[\\"connector-w%d\\",{\\"partition\\":%d}]",'
      .. '"offset_val":"{\\"lsn\\":%d,\\"txId\\":%d}"}', uuid4(), w, partition, lsn, partition)
end

function request()
   local w = math.random(1, writers)
   local lsn = math.random(1, 2000000000)
   local body = string.format('{"resource_id":"cdc-workflow-w%d","connector_name":"connector-w%d","offsets":[%s,%s,%s]}',
      w, w, record(w, 1, lsn), record(w, 2, lsn), record(w, 3, lsn))
   return post(api .. "/pipeline/cdc-w-" .. w .. "/offsets", body)
end
