-- The density benchmark's data (bench/density.sh), straight into the
-- tables: tenant "dense" ran 100 runs a second for the hour before :t0
-- (half of them of resource "hot", the rest over 10 others, 5 users),
-- tenant "quiet" one run every 10 seconds over the same hour and resources;
-- both one run a minute over the 30 days before.  The rollups are filled
-- with GROUP BY as the trigger would have kept them (the trigger is off for
-- the load: 720k rows go in in seconds instead of minutes), tenant and user
-- rows in 8 shards, as 8 connections writing at once (the shim's pool in
-- bench/run.sh) leave them.
\set ON_ERROR_STOP on
ALTER TABLE nilus.pipeline_run DISABLE TRIGGER pipeline_run_rollup;
SELECT setseed(0.16);
INSERT INTO nilus.pipeline_run (tenant, run_id, resource_id, pipeline_name, run_as_user, started_at,
                                finished_at, is_success, duration_sec)
SELECT tenant, gen_random_uuid(), resource, 'pipeline-' || resource, 'user-' || (i % 5), s, s + d * interval '1 second',
       random() < 0.9, d
  FROM (SELECT 'dense' AS tenant, i, :'t0'::timestamptz - interval '1 hour' + (i * interval '10 milliseconds') AS s,
               CASE WHEN i % 2 = 0 THEN 'hot' ELSE 'workflow-' || lpad((i % 10)::text, 2, '0') END AS resource,
               round((random() * 300)::numeric, 3)::float8 AS d
          FROM generate_series(0, 359999) i
        UNION ALL
        SELECT 'quiet', i, :'t0'::timestamptz - interval '1 hour' + i * interval '10 seconds',
               CASE WHEN i % 2 = 0 THEN 'hot' ELSE 'workflow-' || lpad((i % 10)::text, 2, '0') END,
               round((random() * 300)::numeric, 3)::float8
          FROM generate_series(0, 359) i
        UNION ALL
        SELECT t, i, :'t0'::timestamptz - interval '1 hour' - i * interval '1 minute',
               CASE WHEN i % 2 = 0 THEN 'hot' ELSE 'workflow-' || lpad((i % 10)::text, 2, '0') END,
               round((random() * 300)::numeric, 3)::float8
          FROM unnest(ARRAY['dense', 'quiet']) t, generate_series(1, 30 * 1440) i) g;

CREATE TEMP VIEW runs_in AS
    SELECT *, date_trunc('second', started_at, 'UTC') AS second, date_trunc('minute', started_at, 'UTC') AS minute, date_trunc('hour', started_at, 'UTC') AS hour,
           date_trunc('day', started_at, 'UTC') AS day FROM nilus.pipeline_run;
INSERT INTO nilus.run_rollup_resource_second
SELECT tenant, resource_id, second, count(*), count(*) FILTER (WHERE is_success), count(*) FILTER (WHERE NOT is_success),
       count(duration_sec), sum(duration_sec::numeric), max(duration_sec) FROM runs_in GROUP BY 1, 2, 3;
INSERT INTO nilus.run_rollup_resource_minute
SELECT tenant, resource_id, minute, count(*), count(*) FILTER (WHERE is_success), count(*) FILTER (WHERE NOT is_success),
       count(duration_sec), sum(duration_sec::numeric), max(duration_sec) FROM runs_in GROUP BY 1, 2, 3;
INSERT INTO nilus.run_rollup_resource
SELECT tenant, resource_id, hour, count(*), count(*) FILTER (WHERE is_success), count(*) FILTER (WHERE NOT is_success),
       count(duration_sec), sum(duration_sec::numeric), max(duration_sec) FROM runs_in GROUP BY 1, 2, 3;
INSERT INTO nilus.run_rollup_resource_day
SELECT tenant, resource_id, day, count(*), count(*) FILTER (WHERE is_success), count(*) FILTER (WHERE NOT is_success),
       count(duration_sec), sum(duration_sec::numeric), max(duration_sec) FROM runs_in GROUP BY 1, 2, 3;
INSERT INTO nilus.run_rollup_tenant_minute
SELECT tenant, minute, hashtext(run_id::text) & 7, count(*), count(*) FILTER (WHERE is_success),
       count(*) FILTER (WHERE NOT is_success) FROM runs_in GROUP BY 1, 2, 3;
INSERT INTO nilus.run_rollup_tenant
SELECT tenant, hour, hashtext(run_id::text) & 7, count(*), count(*) FILTER (WHERE is_success),
       count(*) FILTER (WHERE NOT is_success) FROM runs_in GROUP BY 1, 2, 3;
INSERT INTO nilus.run_rollup_tenant_day
SELECT tenant, day, hashtext(run_id::text) & 7, count(*), count(*) FILTER (WHERE is_success),
       count(*) FILTER (WHERE NOT is_success) FROM runs_in GROUP BY 1, 2, 3;
INSERT INTO nilus.run_rollup_user_minute
SELECT tenant, run_as_user, minute, hashtext(run_id::text) & 7, count(*), count(*) FILTER (WHERE is_success),
       count(*) FILTER (WHERE NOT is_success) FROM runs_in GROUP BY 1, 2, 3, 4;
INSERT INTO nilus.run_rollup_user
SELECT tenant, run_as_user, hour, hashtext(run_id::text) & 7, count(*), count(*) FILTER (WHERE is_success),
       count(*) FILTER (WHERE NOT is_success) FROM runs_in GROUP BY 1, 2, 3, 4;
ALTER TABLE nilus.pipeline_run ENABLE TRIGGER pipeline_run_rollup;
VACUUM ANALYZE;
