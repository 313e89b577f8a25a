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

SELECT format('{%s}', :'tenant') AS tenants \gset
\set shards 1
\ir gen_rollups.sql

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
