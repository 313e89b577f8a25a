-- Tenant isolation in the database: non-superuser roles see, through plain
-- SELECTs on the tables, only the tenants nilus.tenant_role grants them
-- (directly, through a group role, or '*'); functions called for another
-- tenant fail with 42501; a token authenticated in the transaction limits
-- the API role, which may only call the functions, to the token's tenant,
-- for reads and for writes.
BEGIN;
\ir lib/helpers.psql
SELECT plan(144);

-- Rows per tenant of a table as the current role sees them.
CREATE FUNCTION pg_temp.visible(tab text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE counts jsonb;
BEGIN
    EXECUTE format('SELECT coalesce(jsonb_object_agg(tenant, n), ''{}'') FROM '
                   '(SELECT tenant, count(*) AS n FROM nilus.%I GROUP BY tenant) c', tab) INTO counts;
    RETURN counts;
END $$;
-- The same, as stored (the suite's superuser), for the given tenants.
CREATE FUNCTION pg_temp.stored(tab text, tenants text[]) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE counts jsonb;
BEGIN
    EXECUTE format('SELECT coalesce(jsonb_object_agg(tenant, n), ''{}'') FROM '
                   '(SELECT tenant, count(*) AS n FROM nilus.%I WHERE tenant = ANY ($1) GROUP BY tenant) c', tab)
       INTO counts USING tenants;
    RETURN counts;
END $$;
CREATE TEMP TABLE data_tables (tab text) ON COMMIT DROP;
INSERT INTO data_tables VALUES ('pipeline_run'), ('run_rollup_resource'), ('run_rollup_tenant'),
    ('run_rollup_user'), ('run_rollup_resource_day'), ('run_rollup_tenant_day'), ('run_rollup_resource_user_minute'),
    ('run_rollup_resource_user'), ('run_rollup_resource_user_day'), ('pipeline_state'), ('pipeline_state_head'), ('cdc_offset'),
    ('cdc_offset_latest'), ('cdc_schema_history');
GRANT SELECT ON data_tables TO PUBLIC;

-- Two tenants with rows in every table, written through the functions.
SELECT nilus.store_run(t, pg_temp.run_body(md5(t || i)::uuid, 'res-' || (i % 2), now() - i * interval '50 minutes',
                                           jsonb_build_object('run_as_user', 'user-' || (i % 3),
                                                              'is_success', i % 4 <> 0)))
  FROM unnest(ARRAY['acme', 'globex']) AS t, generate_series(1, 6 + length(t)) AS i \g /dev/null
SELECT nilus.store_state(t, 'pipe-' || i, '{"state": "s"}') FROM unnest(ARRAY['acme', 'globex']) AS t,
       generate_series(1, 3) AS i \g /dev/null
SELECT nilus.store_offsets(t, 'pipe-1', jsonb_build_object('resource_id', 'res-1', 'connector_name', 'conn',
           'offsets', jsonb_build_array(jsonb_build_object('offset_key', 'k' || i, 'offset_val', '{}'))))
  FROM unnest(ARRAY['acme', 'globex']) AS t, generate_series(1, 4) AS i \g /dev/null
SELECT nilus.store_schema_history(t, 'pipe-1', jsonb_build_object('resource_id', 'res-1', 'connector_name', 'conn',
           'records', jsonb_build_array(jsonb_build_object('history_data', '{"ddl": "x"}'))))
  FROM unnest(ARRAY['acme', 'globex']) AS t, generate_series(1, 2) AS i \g /dev/null

SELECT ok((SELECT count(*) FROM jsonb_object_keys(pg_temp.stored(tab, ARRAY['acme', 'globex']))) = 2,
          'nilus.' || tab || ' has rows of both tenants to hide')
  FROM data_tables ORDER BY tab;

-- Roles, all mapped before any of them reads (a role's grants are read once per transaction).
CREATE ROLE rls03_acme LOGIN IN ROLE nilus_analyst;
CREATE ROLE rls03_all LOGIN IN ROLE nilus_analyst;
CREATE ROLE rls03_none LOGIN IN ROLE nilus_analyst;
CREATE ROLE rls03_group NOLOGIN;
CREATE ROLE rls03_member LOGIN IN ROLE nilus_analyst, rls03_group;
CREATE ROLE rls03_api LOGIN IN ROLE nilus_api;
INSERT INTO nilus.tenant_role VALUES ('acme', 'rls03_acme'), ('*', 'rls03_all'), ('globex', 'rls03_group');
SELECT nilus.create_token('acme', ARRAY['read', 'runtime'], 'rls03-acme') AS acme_token \gset
SELECT nilus.create_token(NULL, ARRAY['read', 'runtime'], 'rls03-admin') AS admin_token \gset

-- An analyst granted acme.
SET LOCAL ROLE rls03_acme;
SELECT is(pg_temp.visible(tab), pg_temp.stored(tab, ARRAY['acme']), 'rls03_acme sees only acme in nilus.' || tab)
  FROM data_tables ORDER BY tab;
SELECT is((nilus.list_pipelines('acme')::jsonb ->> 'total')::bigint, (pg_temp.stored('pipeline_run', ARRAY['acme']) ->> 'acme')::bigint,
          'rls03_acme lists acme''s runs');
SELECT pg_temp.raises(format('SELECT nilus.%s', call), '42501 tenant', 'rls03_acme calling ' || call)
  FROM unnest(ARRAY[$$list_pipelines('globex')$$, $$list_runs('globex', 'res-1')$$,
                    $$pipeline_stats('globex', 'res-1', '7d')$$, $$list_cdc_offsets('globex')$$,
                    $$list_cdc_schema_history('globex')$$, $$get_state('globex', 'pipe-1')$$,
                    $$get_offsets('globex', 'pipe-1')$$, $$get_schema_history('globex', 'pipe-1')$$,
                    $$schema_history_exists('globex', 'pipe-1')$$, $$storage_health('globex')$$]) AS call;
SELECT pg_temp.rejects(statement, '42501', 'rls03_acme (an analyst) cannot write: ' || statement)
  FROM unnest(ARRAY[
      $$SELECT nilus.store_run('acme', '{"run_id": "03000000-0000-0000-0000-000000000001", "resource_id": "r", "pipeline_name": "p", "started_at": "2026-01-01T00:00:00Z"}')$$,
      $$SELECT nilus.store_state('acme', 'pipe-1', '{"state": 1}')$$,
      $$INSERT INTO nilus.pipeline_run (tenant, run_id, resource_id, pipeline_name, started_at) VALUES ('acme', '03000000-0000-0000-0000-000000000002', 'r', 'p', now())$$,
      $$UPDATE nilus.pipeline_run SET error = 'x'$$,
      $$DELETE FROM nilus.cdc_offset$$]) AS statement;

-- An analyst granted nothing sees nothing.
SET LOCAL ROLE rls03_none;
SELECT is(pg_temp.visible(tab), '{}'::jsonb, 'rls03_none sees no row of nilus.' || tab)
  FROM data_tables ORDER BY tab;
SELECT pg_temp.raises($$SELECT nilus.list_pipelines('acme')$$, '42501 tenant', 'rls03_none listing acme');

-- Granted through a group role.
SET LOCAL ROLE rls03_member;
SELECT is(pg_temp.visible(tab), pg_temp.stored(tab, ARRAY['globex']),
          'rls03_member sees globex (granted to its group) in nilus.' || tab)
  FROM data_tables ORDER BY tab;
SELECT is((nilus.list_pipelines('globex')::jsonb ->> 'total')::bigint,
          (pg_temp.stored('pipeline_run', ARRAY['globex']) ->> 'globex')::bigint, 'rls03_member lists globex');
SELECT pg_temp.raises($$SELECT nilus.list_pipelines('acme')$$, '42501 tenant', 'rls03_member listing acme');

-- Granted '*'.
SET LOCAL ROLE rls03_all;
SELECT is(pg_temp.visible(tab), pg_temp.stored(tab, ARRAY['acme', 'globex']), 'rls03_all sees every tenant in nilus.' || tab)
  FROM data_tables ORDER BY tab;

-- The API role reads and writes only through the functions (SECURITY
-- DEFINER, as nilus_owner, under the same policies); without a token it is
-- granted no tenant.
SET LOCAL ROLE rls03_api;
SELECT pg_temp.raises($$SELECT pg_temp.visible('pipeline_run')$$, '42501', 'rls03_api without a token reads no table directly');
SELECT pg_temp.raises($$SELECT nilus.list_pipelines('acme')$$, '42501 tenant', 'rls03_api without a token listing acme');

-- The API role with acme's token: acme only, for reads and writes.
SELECT is(nilus.authenticate(:'acme_token')::jsonb ->> 'tenant', 'acme', 'rls03_api authenticates acme''s token');
SELECT pg_temp.raises(format('SELECT pg_temp.visible(%L)', tab), '42501',
                      'with acme''s token, nilus.' || tab || ' is still read only through the functions')
  FROM data_tables ORDER BY tab;
SELECT is((nilus.store_run('acme', pg_temp.run_body('03000000-0000-0000-0000-000000000003', 'res-1', now()))::jsonb
           ->> 'created')::boolean, true, 'acme''s token stores an acme run');
SELECT is((nilus.store_offsets('acme', 'pipe-9', '{"resource_id": "r", "connector_name": "c", "offsets": [{"offset_key": "k", "offset_val": "v"}]}')::jsonb
           ->> 'stored')::int, 1, 'acme''s token stores acme offsets');
SELECT pg_temp.rejects($$INSERT INTO nilus.pipeline_run (tenant, run_id, resource_id, pipeline_name, started_at)
                         VALUES ('acme', '03000000-0000-0000-0000-000000000004', 'res-1', 'p', now())$$,
                       '42501', 'acme''s token may not insert even an acme row directly');
SELECT is((nilus.list_pipelines('acme')::jsonb ->> 'total')::bigint,
          (pg_temp.stored('pipeline_run', ARRAY['acme']) ->> 'acme')::bigint, 'after its writes, acme''s token lists acme''s runs');
SELECT is((nilus.list_cdc_offsets('acme')::jsonb ->> 'total')::bigint,
          (pg_temp.stored('cdc_offset', ARRAY['acme']) ->> 'acme')::bigint, 'after its writes, acme''s token lists acme''s offsets');
SELECT pg_temp.rejects(statement, '42501 tenant', 'acme''s token: ' || statement)
  FROM unnest(ARRAY[
      $$SELECT nilus.store_run('globex', '{"run_id": "03000000-0000-0000-0000-000000000005", "resource_id": "r", "pipeline_name": "p", "started_at": "2026-01-01T00:00:00Z"}')$$,
      $$SELECT nilus.store_state('globex', 'pipe-1', '{"state": 1}')$$,
      $$SELECT nilus.store_offsets('globex', 'pipe-1', '{"resource_id": "r", "connector_name": "c", "offsets": [{"offset_key": "k", "offset_val": "v"}]}')$$,
      $$SELECT nilus.store_schema_history('globex', 'pipe-1', '{"resource_id": "r", "connector_name": "c", "records": [{"history_data": "{}"}]}')$$,
      $$SELECT nilus.get_state('globex', 'pipe-1')$$,
      $$SELECT nilus.get_offsets('globex', 'pipe-1')$$,
      $$SELECT nilus.list_pipelines('globex')$$]) AS statement;
-- Straight on the tables nothing is allowed, whatever the tenant.
SELECT pg_temp.rejects(statement, '42501', 'acme''s token, straight on the tables: ' || statement)
  FROM unnest(ARRAY[
      $$INSERT INTO nilus.pipeline_run (tenant, run_id, resource_id, pipeline_name, started_at) VALUES ('globex', '03000000-0000-0000-0000-000000000006', 'r', 'p', now())$$,
      $$INSERT INTO nilus.cdc_offset (tenant, id, resource_id, pipeline_name, connector_name, offset_key) VALUES ('globex', '03000000-0000-0000-0000-000000000007', 'r', 'p', 'c', 'k')$$,
      $$INSERT INTO nilus.pipeline_state (tenant, pipeline_name, version, state) VALUES ('globex', 'pipe-1', 99, '1')$$,
      $$UPDATE nilus.pipeline_run SET error = 'hijacked' WHERE tenant = 'globex'$$]) AS statement;
-- On a Citus cluster the tenant is the distribution column, which Citus
-- refuses to update, to anyone (0A000), before it checks privileges.
SELECT pg_temp.rejects(statement, CASE WHEN current_setting('citus.version', true) IS NULL THEN '42501' ELSE '0A000' END,
                       'acme''s token, straight on the tables: ' || statement)
  FROM (VALUES ($$UPDATE nilus.pipeline_run SET tenant = 'globex' WHERE tenant = 'acme'$$)) AS s(statement);

-- The API role with an admin token: every tenant, through the functions.
SELECT is(nilus.authenticate(:'admin_token')::jsonb ->> 'label', 'rls03-admin', 'rls03_api authenticates the admin token');
SELECT is((nilus.list_pipelines(t)::jsonb ->> 'total')::bigint, (pg_temp.stored('pipeline_run', ARRAY[t]) ->> t)::bigint,
          'with the admin token, ' || t || '''s runs are listed')
  FROM unnest(ARRAY['acme', 'globex']) AS t;
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
