-- Upgrading 0.1.0 to 0.2.0 (ALTER EXTENSION nilus UPDATE): the daily
-- rollups are filled from the hourly ones 0.1.0 kept, get row-level
-- security, and from then on stats, totals and later writes are exact.
-- Then 0.2.0 to 0.3.0: minute rollups and the rollups per resource and user
-- are filled from the runs, retention
-- arrives keeping everything, and removes only once a policy says so; the
-- insight functions read the history written before through their new
-- (tenant, bucket) indexes.
BEGIN;
SELECT plan(36);
-- Days are UTC days whatever the session's zone.
SET LOCAL TimeZone = 'America/New_York';

DROP EXTENSION nilus;
CREATE EXTENSION nilus VERSION '0.1.0';
\ir lib/helpers.psql
SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'nilus'), '0.1.0', 'installs at 0.1.0');
SELECT hasnt_table('nilus', 'run_rollup_resource_day', '0.1.0 has no daily rollups');

-- History written under 0.1.0: runs over 40 days, and the hourly rollups as
-- 0.1.0's trigger kept them (tenant and user rows spread over the shards).
ALTER TABLE nilus.pipeline_run DISABLE TRIGGER pipeline_run_rollup;
SELECT setseed(0.14) \g /dev/null
INSERT INTO nilus.pipeline_run (tenant, run_id, resource_id, pipeline_name, run_as_user, started_at,
                                finished_at, is_success, duration_sec)
SELECT (ARRAY['acme', 'globex'])[1 + i % 2], gen_random_uuid(), 'res-' || (i % 3), 'p',
       (ARRAY['alice', 'bob', NULL])[1 + i % 3], s, s + d * interval '1 second',
       CASE WHEN i % 7 = 0 THEN NULL ELSE i % 5 <> 0 END, CASE WHEN i % 7 = 0 OR i % 11 = 0 THEN NULL ELSE d END
  FROM (SELECT i, now() - random() * interval '40 days' AS s, round((random() * 300)::numeric, 3)::float8 AS d
          FROM generate_series(1, 3000) i) g;
UPDATE nilus.pipeline_run SET finished_at = NULL WHERE is_success IS NULL;
INSERT INTO nilus.run_rollup_resource
SELECT tenant, resource_id, date_trunc('hour', started_at, 'UTC'), count(*),
       count(*) FILTER (WHERE is_success), count(*) FILTER (WHERE NOT is_success),
       count(*) FILTER (WHERE is_success IS NOT NULL AND duration_sec IS NOT NULL),
       coalesce(sum(duration_sec::numeric) FILTER (WHERE is_success IS NOT NULL), 0),
       max(duration_sec) FILTER (WHERE is_success IS NOT NULL)
  FROM nilus.pipeline_run GROUP BY 1, 2, 3;
INSERT INTO nilus.run_rollup_tenant
SELECT tenant, date_trunc('hour', started_at, 'UTC'), hashtext(run_id::text) & 3, count(*),
       count(*) FILTER (WHERE is_success), count(*) FILTER (WHERE NOT is_success)
  FROM nilus.pipeline_run GROUP BY 1, 2, 3;
INSERT INTO nilus.run_rollup_user
SELECT tenant, run_as_user, date_trunc('hour', started_at, 'UTC'), hashtext(run_id::text) & 3, count(*),
       count(*) FILTER (WHERE is_success), count(*) FILTER (WHERE NOT is_success)
  FROM nilus.pipeline_run WHERE run_as_user IS NOT NULL GROUP BY 1, 2, 3, 4;
ALTER TABLE nilus.pipeline_run ENABLE TRIGGER pipeline_run_rollup;

ALTER EXTENSION nilus UPDATE TO '0.2.0';
SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'nilus'), '0.2.0', 'updates to 0.2.0');

CREATE TEMP VIEW daily_match AS
    SELECT (SELECT array_agg(x ORDER BY x) FROM (
                SELECT (tenant, resource_id, bucket, sum(runs), sum(succeeded), sum(failed), sum(durations),
                        sum(duration_sum), max(duration_max))::text AS x
                  FROM nilus.run_rollup_resource_day GROUP BY tenant, resource_id, bucket HAVING sum(runs) <> 0) s)
           IS NOT DISTINCT FROM
           (SELECT array_agg(x ORDER BY x) FROM (
                SELECT (tenant, resource_id, date_trunc('day', started_at, 'UTC'), count(*),
                        count(*) FILTER (WHERE is_success), count(*) FILTER (WHERE NOT is_success),
                        count(*) FILTER (WHERE is_success IS NOT NULL AND duration_sec IS NOT NULL),
                        coalesce(sum(duration_sec::numeric) FILTER (WHERE is_success IS NOT NULL), 0),
                        max(duration_sec) FILTER (WHERE is_success IS NOT NULL))::text AS x
                  FROM nilus.pipeline_run GROUP BY tenant, resource_id, date_trunc('day', started_at, 'UTC')) e) AS resource_ok,
           (SELECT array_agg(x ORDER BY x) FROM (
                SELECT (tenant, bucket, sum(runs), sum(succeeded), sum(failed))::text AS x
                  FROM nilus.run_rollup_tenant_day GROUP BY tenant, bucket HAVING sum(runs) <> 0) s)
           IS NOT DISTINCT FROM
           (SELECT array_agg(x ORDER BY x) FROM (
                SELECT (tenant, date_trunc('day', started_at, 'UTC'), count(*),
                        count(*) FILTER (WHERE is_success), count(*) FILTER (WHERE NOT is_success))::text AS x
                  FROM nilus.pipeline_run GROUP BY tenant, date_trunc('day', started_at, 'UTC')) e) AS tenant_ok;

SELECT ok(resource_ok, 'run_rollup_resource_day filled (shards summed): = GROUP BY tenant, resource_id, UTC day') FROM pg_temp.daily_match;
SELECT ok(tenant_ok, 'run_rollup_tenant_day filled (shards summed): = GROUP BY tenant, UTC day') FROM pg_temp.daily_match;
SELECT ok((SELECT bool_and(relrowsecurity) FROM pg_class
            WHERE oid IN ('nilus.run_rollup_resource_day'::regclass, 'nilus.run_rollup_tenant_day'::regclass)),
          'row-level security on the daily rollups');

-- 0.2.0 -> 0.3.0: the update itself removes nothing.
SELECT pg_temp.fingerprint() AS before_03 \gset
ALTER EXTENSION nilus UPDATE TO '0.3.0';
SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'nilus'), '0.3.0', 'updates to 0.3.0');
SELECT is(pg_temp.fingerprint(), :'before_03', 'the update to 0.3.0 changes no data');
-- 0.3.0 adds minute rollups and rollups per resource and user, filled from
-- the runs (issue 16); the 0.3.0
-- library reads and keeps them, so stats, totals and writes are checked here.
\ir lib/rollups.psql
SELECT is_empty('SELECT * FROM pg_temp.rollup_mismatches()',
                'the minute and resource-and-user rollups filled: every rollup (minute, hour, day) = GROUP BY over the runs');
-- Resource rows in shards by backend, as tenant and user rows (issue 16, item 4).
SELECT col_is_pk('nilus', t, ARRAY['tenant', 'resource_id', 'bucket', 'shard'],
                 'nilus.' || t || ': a row per tenant, resource, bucket and shard')
  FROM unnest(ARRAY['run_rollup_resource_second', 'run_rollup_resource_minute', 'run_rollup_resource',
                    'run_rollup_resource_day']) AS t;
SELECT is((SELECT count(*) FROM nilus.run_rollup_resource WHERE shard <> 0), 0::bigint,
          'the resource rows kept before the update are shard 0');
SELECT is(nilus.pipeline_stats('acme', 'res-1', p)::jsonb -> 'stats', pg_temp.expected_stats('acme', 'res-1', s),
          'after the update, pipeline_stats ' || p || ' = the plain aggregate')
  FROM (VALUES ('7d', interval '168 hours'), ('30d', interval '720 hours'), ('1w', interval '168 hours')) AS v(p, s);
SELECT is((nilus.list_pipelines('globex', started_at_gte => now() - interval '20 days 3 hours 7 minutes',
                                started_at_lte => now() - interval '2 days 5 minutes')::jsonb ->> 'total')::bigint,
          (SELECT count(*) FROM nilus.pipeline_run WHERE tenant = 'globex'
              AND started_at BETWEEN now() - interval '20 days 3 hours 7 minutes' AND now() - interval '2 days 5 minutes'),
          'after the update, a listing''s total over a range of days = count(*)');
SELECT is((nilus.list_pipelines('acme', run_as_user => 'alice', resource_id => 'res-1',
                                started_at_gte => now() - interval '30 days 1 hour 59.5 seconds',
                                started_at_lte => now() - interval '1 day 20.25 seconds')::jsonb ->> 'total')::bigint,
          (SELECT count(*) FROM nilus.pipeline_run WHERE tenant = 'acme' AND run_as_user = 'alice' AND resource_id = 'res-1'
              AND started_at BETWEEN now() - interval '30 days 1 hour 59.5 seconds' AND now() - interval '1 day 20.25 seconds'),
          'after the update, a total of one resource and user over a range of days = count(*)');

-- Writes after the update keep the daily and minute rows: a new run, a correction, a deletion.
SELECT nilus.store_run('acme', pg_temp.run_body('14000000-0000-0000-0000-000000000001', 'res-1',
                                                now() - interval '3 days', '{"is_success": true, "duration_sec": 9999}')) \g /dev/null
UPDATE nilus.pipeline_run SET duration_sec = 1 WHERE tenant = 'acme' AND duration_sec = 9999;
DELETE FROM nilus.pipeline_run WHERE tenant = 'globex' AND resource_id = 'res-2' AND started_at > now() - interval '10 days';
SELECT ok(resource_ok, 'after later writes: run_rollup_resource_day = GROUP BY tenant, resource_id, UTC day') FROM pg_temp.daily_match;
SELECT ok(tenant_ok, 'after later writes: run_rollup_tenant_day = GROUP BY tenant, UTC day') FROM pg_temp.daily_match;
SELECT is(nilus.pipeline_stats('acme', 'res-1', '30d')::jsonb -> 'stats', pg_temp.expected_stats('acme', 'res-1', '720 hours'),
          'after later writes, pipeline_stats 30d = the plain aggregate');
SELECT is_empty('SELECT * FROM pg_temp.rollup_mismatches()', 'after later writes, every rollup = GROUP BY over the runs');

SELECT results_eq('SELECT tenant, num_nonnulls(runs, cdc_offsets, state_versions, schema_history) FROM nilus.retention_policy',
                  $$VALUES ('*', 0)$$, '0.3.0 ships a default policy that keeps everything');
SELECT is_empty('SELECT * FROM nilus.retention_work()', 'after the update, there is nothing to prune');
SELECT ok((SELECT bool_and(relrowsecurity) FROM pg_class
            WHERE oid IN ('nilus.retention_policy'::regclass, 'nilus.retention_progress'::regclass)),
          'row-level security on the retention tables');
SELECT has_index('nilus', 'cdc_offset', 'cdc_offset_by_insert_ts', 'old offset records are found by an index');
-- insight (issue 17): the rows read through the (tenant, bucket) indexes.
SELECT has_index('nilus', t, t || '_by_bucket', ARRAY['tenant', 'bucket'], 'nilus.' || t || ' by (tenant, bucket)')
  FROM unnest(ARRAY['run_rollup_resource_second', 'run_rollup_resource_minute', 'run_rollup_resource',
                    'run_rollup_resource_day']) AS t;
SELECT is(array(SELECT jsonb_build_object('total_runs', total_runs, 'successful_runs', successful_runs,
                                          'failed_runs', failed_runs, 'success_rate', success_rate,
                                          'avg_duration_sec', avg_duration_sec, 'max_duration_sec', max_duration_sec)
                  FROM nilus.resource_stats('acme', '30d') ORDER BY resource_id),
          array(SELECT pg_temp.expected_stats('acme', r, '720 hours') FROM unnest(ARRAY['res-0', 'res-1', 'res-2']) r),
          'after the update to 0.3.0, resource_stats 30d = the plain aggregate per resource');
SELECT is((SELECT sum(total_runs) FROM nilus.run_series('globex', NULL, '30d', '1d')),
          (SELECT count(*) FROM nilus.pipeline_run WHERE tenant = 'globex' AND is_success IS NOT NULL
              AND started_at BETWEEN now() - interval '720 hours' AND now())::numeric,
          'after the update to 0.3.0, run_series 30d adds up to the finished runs');

-- A policy set after the update prunes the history written under 0.1.0, and
-- stats and totals stay exact.
SELECT nilus.set_retention('acme', runs => '20 days') \g /dev/null
SELECT cmp_ok(nilus.prune_batch('acme', 'runs', 100000), '>', 0::bigint, 'prune_batch removes acme''s old runs');
SELECT is((SELECT count(*) FROM nilus.pipeline_run WHERE tenant = 'acme' AND started_at < now() - interval '20 days'), 0::bigint,
          'no run of acme older than its policy remains');
SELECT is(nilus.pipeline_stats('acme', 'res-1', '30d')::jsonb -> 'stats', pg_temp.expected_stats('acme', 'res-1', '720 hours'),
          'after the prune, pipeline_stats 30d = the plain aggregate');

SELECT * FROM finish();
ROLLBACK;
