-- Upgrading 0.2.0 to 0.3.0 (ALTER EXTENSION nilus UPDATE) with data in
-- place: the API role loses its table privileges, everything changes hands
-- to nilus_owner, the functions become SECURITY DEFINER, the append-only
-- tables get their guard; no stored row changes.  A row 0.2.0 let in with
-- a timestamp RFC 3339 cannot write (the issue's "4714-11-24 BC") leaves
-- its check NOT VALID instead of failing the upgrade, and is reported
-- when read instead of being rendered wrong.
BEGIN;
SELECT plan(21);

DROP EXTENSION nilus;
CREATE EXTENSION nilus VERSION '0.2.0';
\ir lib/helpers.psql
SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'nilus'), '0.2.0', 'installs at 0.2.0');
SELECT ok(has_table_privilege('nilus_api', 'nilus.cdc_offset', 'UPDATE'), '0.2.0: the API role may UPDATE offsets (the hole)');

-- History written under 0.2.0, and a role of that name that could log in.
-- Runs and their rollups as 0.2.0's trigger kept them: the library
-- installed is 0.3.0's, whose trigger also keeps the minute rollups 0.2.0
-- lacks.  (The legacy row goes straight into the table: 0.3.0's library
-- refuses it.)
ALTER TABLE nilus.pipeline_run DISABLE TRIGGER pipeline_run_rollup;
INSERT INTO nilus.pipeline_run (tenant, run_id, resource_id, pipeline_name, started_at, finished_at, is_success, duration_sec)
SELECT t, md5(t || i)::uuid, 'res-1', 'p', now() - i * interval '1 hour', NULL, true, NULL
  FROM unnest(ARRAY['acme', 'globex']) AS t, generate_series(1, 5) AS i;
INSERT INTO nilus.pipeline_run (tenant, run_id, resource_id, pipeline_name, started_at)
VALUES ('legacy', '16000000-0000-0000-0000-000000000001', 'r', 'p', '4714-11-24 BC');
INSERT INTO nilus.run_rollup_resource (tenant, resource_id, bucket, runs, succeeded, failed)
SELECT tenant, resource_id, date_trunc('hour', started_at, 'UTC'), count(*), count(*) FILTER (WHERE is_success),
       count(*) FILTER (WHERE NOT is_success) FROM nilus.pipeline_run GROUP BY 1, 2, 3;
INSERT INTO nilus.run_rollup_resource_day (tenant, resource_id, bucket, runs, succeeded, failed)
SELECT tenant, resource_id, date_trunc('day', started_at, 'UTC'), count(*), count(*) FILTER (WHERE is_success),
       count(*) FILTER (WHERE NOT is_success) FROM nilus.pipeline_run GROUP BY 1, 2, 3;
INSERT INTO nilus.run_rollup_tenant (tenant, bucket, shard, runs, succeeded, failed)
SELECT tenant, date_trunc('hour', started_at, 'UTC'), 0, count(*), count(*) FILTER (WHERE is_success),
       count(*) FILTER (WHERE NOT is_success) FROM nilus.pipeline_run GROUP BY 1, 2;
INSERT INTO nilus.run_rollup_tenant_day (tenant, bucket, shard, runs, succeeded, failed)
SELECT tenant, date_trunc('day', started_at, 'UTC'), 0, count(*), count(*) FILTER (WHERE is_success),
       count(*) FILTER (WHERE NOT is_success) FROM nilus.pipeline_run GROUP BY 1, 2;
ALTER TABLE nilus.pipeline_run ENABLE TRIGGER pipeline_run_rollup;
SELECT nilus.store_state(t, 'pipe-1', '{"state": 1}') FROM unnest(ARRAY['acme', 'globex']) AS t \g /dev/null
SELECT nilus.store_offsets(t, 'pipe-1', '{"resource_id": "r", "connector_name": "c", "offsets": [{"offset_key": "k", "offset_val": "v"}]}')
  FROM unnest(ARRAY['acme', 'globex']) AS t \g /dev/null
SELECT nilus.store_schema_history(t, 'pipe-1', '{"resource_id": "r", "connector_name": "c", "records": [{"history_data": "{}"}]}')
  FROM unnest(ARRAY['acme', 'globex']) AS t \g /dev/null
ALTER ROLE nilus_owner LOGIN;
SELECT pg_temp.fingerprint() AS before_update \gset

ALTER EXTENSION nilus UPDATE TO '0.3.0';
SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'nilus'), '0.3.0', 'updates to 0.3.0');
SELECT is(pg_temp.fingerprint(), :'before_update', 'the update changes no stored row');

SELECT ok(NOT rolcanlogin, 'nilus_owner cannot log in after the update') FROM pg_roles WHERE rolname = 'nilus_owner';
SELECT is((SELECT count(*) FROM pg_class WHERE relnamespace = 'nilus'::regnamespace AND relkind IN ('r', 'S')
              AND relowner <> 'nilus_owner'::regrole), 0::bigint, 'every table and sequence is nilus_owner''s');
SELECT is((SELECT count(*) FROM pg_class WHERE relnamespace = 'nilus'::regnamespace AND relkind IN ('r', 'S')
              AND has_table_privilege('nilus_api', oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE')), 0::bigint,
          'the API role keeps no table privilege');
SELECT is((SELECT count(*) FROM pg_proc WHERE pronamespace = 'nilus'::regnamespace
              AND has_function_privilege('nilus_api', oid, 'EXECUTE')
              AND NOT (prosecdef AND proowner = 'nilus_owner'::regrole)), 0::bigint,
          'what the API role may call is SECURITY DEFINER, owned by nilus_owner');
SELECT is((SELECT array_agg(tgrelid::regclass::text ORDER BY tgrelid::regclass::text) FROM pg_trigger WHERE tgname = 'append_only'),
          ARRAY['nilus.cdc_offset', 'nilus.cdc_schema_history', 'nilus.pipeline_state'], 'the append-only tables have their guard');
SELECT is((SELECT array_agg(conrelid::regclass::text || '.' || conname ORDER BY conrelid::regclass::text, conname)
             FROM pg_constraint WHERE conname LIKE '%\_renderable' AND NOT convalidated),
          ARRAY['nilus.pipeline_run.started_at_renderable'],
          'only the check the legacy row violates stays NOT VALID; the others are validated');

-- The legacy row: refused to render, and no new one gets in.
SELECT pg_temp.raises($$SELECT nilus.list_pipelines('legacy')$$, '22000',
                      'a stored timestamp outside 0001-9999 is an error, not a non-RFC 3339 rendering');
SELECT pg_temp.rejects($$INSERT INTO nilus.pipeline_run (tenant, run_id, resource_id, pipeline_name, started_at)
                         VALUES ('legacy', gen_random_uuid(), 'r', 'p', '4714-11-24 BC')$$, '23514',
                       'the NOT VALID check still refuses new rows outside 0001-9999');

-- The API after the update, as the shim uses it.
CREATE ROLE up16_api LOGIN IN ROLE nilus_api;
SELECT nilus.create_token('acme', ARRAY['read', 'runtime'], 'up16-acme') AS acme_token \gset
SET LOCAL ROLE up16_api;
SELECT nilus.authenticate(:'acme_token') \g /dev/null
SELECT is(nilus.list_pipelines('acme')::jsonb -> 'total', '5'::jsonb, 'acme''s token lists acme''s runs through the function');
SELECT is(nilus.store_offsets('acme', 'pipe-1', '{"resource_id": "r", "connector_name": "c", "offsets": [{"offset_key": "k", "offset_val": "v2"}]}')::jsonb,
          '{"stored": 1}'::jsonb, 'acme''s token stores offsets through the function');
SELECT is(nilus.get_offsets('acme', 'pipe-1')::jsonb #>> '{offsets,0,offset_val}', 'v2', 'and reads the latest back');
SELECT pg_temp.rejects($$UPDATE nilus.cdc_offset SET offset_val = 'rewritten' WHERE tenant = 'acme'$$, '42501',
                       'the API role can no longer rewrite acme''s offsets in SQL');
SELECT pg_temp.raises($$SELECT nilus.list_pipelines('globex')$$, '42501 tenant', 'nor read globex''s runs');
RESET ROLE;
SELECT pg_temp.rejects($$DELETE FROM nilus.cdc_schema_history WHERE tenant = 'acme'$$, '42501',
                       'a superuser cannot delete schema history after the update');

SELECT * FROM finish();
ROLLBACK;
