-- Loads one CDC pipeline's offset history through nilus.store_offsets, the
-- way a Debezium connector flushes: every flush posts the current offset of
-- each of its few keys (source partitions), so the history grows by `keys`
-- records per flush while the latest offsets stay `keys` records.
-- psql variables: tenant, pipeline, resource_id, connector, records, keys.
\set ON_ERROR_STOP 1
SET nilus_bench.tenant = :'tenant';
SET nilus_bench.pipeline = :'pipeline';
SET nilus_bench.resource_id = :'resource_id';
SET nilus_bench.connector = :'connector';
SET nilus_bench.records = :'records';
SET nilus_bench.keys = :'keys';

DO $gen$
DECLARE
    tenant     text := current_setting('nilus_bench.tenant');
    pipeline   text := current_setting('nilus_bench.pipeline');
    resource   text := current_setting('nilus_bench.resource_id');
    connector  text := current_setting('nilus_bench.connector');
    total      bigint := current_setting('nilus_bench.records')::bigint;
    keys       int := current_setting('nilus_bench.keys')::int;
    flushes    bigint := (total + keys - 1) / keys;
BEGIN
    -- One transaction per flush, as a connector's flushes are: many flushes
    -- in one transaction would update the same latest-offset rows again and
    -- again before any old version could be pruned.
    FOR f IN 1 .. flushes LOOP
        -- The last flush carries only the records left, so the history holds
        -- exactly `records` records.
        PERFORM nilus.store_offsets(tenant, pipeline, jsonb_build_object(
                    'resource_id', resource,
                    'connector_name', connector,
                    'offsets', (SELECT jsonb_agg(jsonb_build_object(
                                    'offset_key', format('["%s",{"server":"%s","partition":%s}]', connector, connector, k),
                                    'offset_val', format('{"transaction_id":null,"lsn_proc":%s,"lsn_commit":%s,"lsn":%s,"txId":%s,"ts_usec":%s}',
                                                         f::bigint * 4096 + k, f::bigint * 4096, f::bigint * 4096 + k, 700000 + f,
                                                         1700000000000000 + f::bigint * 1000000))
                                    ORDER BY k)
                                FROM generate_series(1, least(keys, total - (f - 1) * keys)) k)));
        COMMIT;
    END LOOP;
END
$gen$;
