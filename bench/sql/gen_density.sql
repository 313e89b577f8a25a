-- The density benchmark's data (bench/density.sh), straight into the
-- tables: tenant "dense" ran 100 runs a second for the hour before :t0
-- (half of them of resource "hot", the rest over 10 others, 5 users),
-- tenant "quiet" one run every 10 seconds over the same hour and resources;
-- both one run a minute over the 30 days before.  The rollups are filled
-- with GROUP BY as the trigger would have kept them (the trigger is off for
-- the load: 720k rows go in in seconds instead of minutes), in 8 shards, as
-- 8 connections writing at once (the shim's pool in bench/run.sh) leave them.
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

\set tenants '{dense,quiet}'
\set shards 8
\ir gen_rollups.sql
ALTER TABLE nilus.pipeline_run ENABLE TRIGGER pipeline_run_rollup;
VACUUM ANALYZE;
