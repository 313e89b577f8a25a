-- Every rollup of the runs of some tenants, by every grain, filled with GROUP
-- BY as the trigger keeps them, for the benchmarks that load runs straight
-- into the table with the trigger off (bench/sql/gen_density.sql,
-- bench/sql/gen_retention.sql).  psql variables: tenants (an array literal,
-- '{a,b}'), shards (rows per bucket: 1, as one writer leaves them; 8, as 8
-- connections writing at once leave them, each run in the shard its id
-- hashes to).
\set ON_ERROR_STOP on
CREATE FUNCTION pg_temp.fill_rollups(tenants text[], shards integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    rollup record;
    finished constant text := 'FILTER (WHERE is_success IS NOT NULL)';
BEGIN
    FOR rollup IN SELECT * FROM (VALUES
            ('run_rollup_resource_second', 'second', 'resource_id'), ('run_rollup_resource_minute', 'minute', 'resource_id'),
            ('run_rollup_resource', 'hour', 'resource_id'), ('run_rollup_resource_day', 'day', 'resource_id'),
            ('run_rollup_tenant_minute', 'minute', NULL), ('run_rollup_tenant', 'hour', NULL),
            ('run_rollup_tenant_day', 'day', NULL),
            ('run_rollup_user_minute', 'minute', 'run_as_user'), ('run_rollup_user', 'hour', 'run_as_user'),
            ('run_rollup_resource_user_minute', 'minute', 'resource_id, run_as_user'),
            ('run_rollup_resource_user', 'hour', 'resource_id, run_as_user'),
            ('run_rollup_resource_user_day', 'day', 'resource_id, run_as_user')
        ) AS r(tab, grain, key)
     -- A build without some of them (an older one, measured the same way) skips those.
     WHERE to_regclass('nilus.' || r.tab) IS NOT NULL
    LOOP
        -- The key columns, the bucket and the shard are the first columns: grouped by position.
        EXECUTE format('INSERT INTO nilus.%1$I (%2$s, bucket, shard, runs, succeeded, failed%3$s) '
                       'SELECT %2$s, date_trunc(%4$L, started_at, ''UTC''), (hashtext(run_id::text) & 2147483647) %% %5$s, '
                       '       count(*), count(*) FILTER (WHERE is_success), count(*) FILTER (WHERE NOT is_success)%6$s '
                       '  FROM nilus.pipeline_run WHERE tenant = ANY ($1)%7$s GROUP BY %8$s',
                       rollup.tab, concat_ws(', ', 'tenant', rollup.key),
                       CASE WHEN rollup.key = 'resource_id' THEN ', durations, duration_sum, duration_max' ELSE '' END,
                       rollup.grain, shards,
                       CASE WHEN rollup.key = 'resource_id'
                            THEN format(', count(duration_sec) %1$s, coalesce(sum(duration_sec::numeric) %1$s, 0), '
                                        'max(duration_sec) %1$s', finished) ELSE '' END,
                       CASE WHEN rollup.key LIKE '%run_as_user' THEN ' AND run_as_user IS NOT NULL' ELSE '' END,
                       CASE WHEN rollup.key IS NULL THEN '1, 2, 3' WHEN rollup.key LIKE '%,%' THEN '1, 2, 3, 4, 5'
                            ELSE '1, 2, 3, 4' END)
          USING tenants;
    END LOOP;
END
$$;
SELECT pg_temp.fill_rollups(:'tenants', :shards);
