-- History for the retention benchmark (bench/retention.sh), written straight
-- into the tables, rollups included, as the trigger would keep them: faster
-- than posting a million runs one by one, and the prune does not care how
-- the rows came.  psql variables: tenant, old_runs, young_runs, old_offsets,
-- resources.  Old rows are 100 to 400 days old, young ones under 30 days.
\set ON_ERROR_STOP 1
SELECT setseed(0.12);
ALTER TABLE nilus.pipeline_run DISABLE TRIGGER pipeline_run_rollup;
INSERT INTO nilus.pipeline_run (tenant, run_id, resource_id, pipeline_name, run_as_user, started_at,
                                finished_at, is_success, duration_sec, records, metadata)
SELECT :'tenant', gen_random_uuid(), 'workflow-' || lpad(r::text, 2, '0'), 'pipeline-' || lpad(r::text, 2, '0'),
       'user-' || (r % 8), s, s + d * interval '1 second', random() > 0.05, d,
       '{"extracted": 100, "normalized": 100, "loaded": 100}', '{"nilus_version": "0.9.3"}'
  FROM (SELECT 1 + i % :resources AS r,
               now() - CASE WHEN i <= :old_runs THEN interval '100 days' + random() * interval '300 days'
                            ELSE random() * interval '30 days' END AS s,
               round((random() * 600)::numeric, 3)::float8 AS d
          FROM generate_series(1, :old_runs + :young_runs) i) g
 ORDER BY s;
ALTER TABLE nilus.pipeline_run ENABLE TRIGGER pipeline_run_rollup;

INSERT INTO nilus.run_rollup_resource_second
SELECT tenant, resource_id, date_trunc('second', started_at, 'UTC'), count(*), count(*) FILTER (WHERE is_success),
       count(*) FILTER (WHERE NOT is_success), count(duration_sec), coalesce(sum(duration_sec::numeric), 0), max(duration_sec)
  FROM nilus.pipeline_run WHERE tenant = :'tenant' GROUP BY 1, 2, 3;
INSERT INTO nilus.run_rollup_resource_minute
SELECT tenant, resource_id, date_trunc('minute', started_at, 'UTC'), count(*), count(*) FILTER (WHERE is_success),
       count(*) FILTER (WHERE NOT is_success), count(duration_sec), coalesce(sum(duration_sec::numeric), 0), max(duration_sec)
  FROM nilus.pipeline_run WHERE tenant = :'tenant' GROUP BY 1, 2, 3;
INSERT INTO nilus.run_rollup_tenant_minute
SELECT tenant, date_trunc('minute', started_at, 'UTC'), 0, count(*), count(*) FILTER (WHERE is_success),
       count(*) FILTER (WHERE NOT is_success)
  FROM nilus.pipeline_run WHERE tenant = :'tenant' GROUP BY 1, 2;
INSERT INTO nilus.run_rollup_user_minute
SELECT tenant, run_as_user, date_trunc('minute', started_at, 'UTC'), 0, count(*), count(*) FILTER (WHERE is_success),
       count(*) FILTER (WHERE NOT is_success)
  FROM nilus.pipeline_run WHERE tenant = :'tenant' GROUP BY 1, 2, 3;
INSERT INTO nilus.run_rollup_resource
SELECT tenant, resource_id, date_trunc('hour', started_at, 'UTC'), count(*), count(*) FILTER (WHERE is_success),
       count(*) FILTER (WHERE NOT is_success), count(duration_sec), coalesce(sum(duration_sec::numeric), 0), max(duration_sec)
  FROM nilus.pipeline_run WHERE tenant = :'tenant' GROUP BY 1, 2, 3;
INSERT INTO nilus.run_rollup_resource_day
SELECT tenant, resource_id, date_trunc('day', bucket, 'UTC'), sum(runs), sum(succeeded), sum(failed),
       sum(durations), sum(duration_sum), max(duration_max)
  FROM nilus.run_rollup_resource WHERE tenant = :'tenant' GROUP BY 1, 2, 3;
INSERT INTO nilus.run_rollup_tenant
SELECT tenant, date_trunc('hour', started_at, 'UTC'), 0, count(*), count(*) FILTER (WHERE is_success),
       count(*) FILTER (WHERE NOT is_success)
  FROM nilus.pipeline_run WHERE tenant = :'tenant' GROUP BY 1, 2;
INSERT INTO nilus.run_rollup_tenant_day
SELECT tenant, date_trunc('day', bucket, 'UTC'), 0, sum(runs), sum(succeeded), sum(failed)
  FROM nilus.run_rollup_tenant WHERE tenant = :'tenant' GROUP BY 1, 2;
INSERT INTO nilus.run_rollup_user
SELECT tenant, run_as_user, date_trunc('hour', started_at, 'UTC'), 0, count(*), count(*) FILTER (WHERE is_success),
       count(*) FILTER (WHERE NOT is_success)
  FROM nilus.pipeline_run WHERE tenant = :'tenant' GROUP BY 1, 2, 3;

-- A connector's flushes of 4 keys, one every 1.3 minutes over 400 days; the
-- latest record of each key as store_offsets keeps it.
INSERT INTO nilus.cdc_offset (tenant, id, resource_id, pipeline_name, connector_name, offset_key, offset_val,
                              record_insert_ts)
SELECT :'tenant', gen_random_uuid(), 'cdc-workflow-old', 'cdc-old', 'connector-old',
       format('["connector-old",{"partition":%s}]', i % 4), format('{"lsn":%s}', i),
       now() - interval '400 days' + (i / 4) * (interval '400 days' / (:old_offsets / 4 + 1))
  FROM generate_series(1, :old_offsets) i;
INSERT INTO nilus.cdc_offset_latest
SELECT DISTINCT ON (pipeline_name, offset_key) tenant, pipeline_name, offset_key, id, connector_name, offset_val,
       record_insert_ts, record_insert_seq
  FROM nilus.cdc_offset WHERE tenant = :'tenant' AND pipeline_name = 'cdc-old'
 ORDER BY pipeline_name, offset_key, record_insert_seq DESC;
