-- Least privilege (issue 14).  The API role may only call the route
-- functions; they run as nilus_owner, a role that cannot log in, with a
-- fixed search_path.  Row-level security binds the owner too, so a token of
-- one tenant reaches nothing of another even in code running as the owner.
-- Offsets, schema history and state versions are append-only: UPDATE,
-- DELETE and TRUNCATE are refused to everyone, the owner and superusers
-- included.  The catalog checks cover every object of the schema, so that
-- objects added later are held to the same rules.
BEGIN;
\ir lib/helpers.psql
SELECT plan(331);

CREATE TEMP TABLE api_functions (name text) ON COMMIT DROP;
INSERT INTO api_functions VALUES ('authenticate'), ('health'), ('info'), ('storage_health'),
    ('list_pipelines'), ('list_runs'), ('pipeline_stats'), ('store_run'), ('get_state'), ('store_state'),
    ('list_cdc_offsets'), ('list_cdc_schema_history'), ('get_offsets'), ('store_offsets'),
    ('get_schema_history'), ('store_schema_history'), ('schema_history_exists'), ('retention_metrics'),
    ('tenant_stats'), ('pipeline_series');
CREATE TEMP TABLE analyst_functions (name text) ON COMMIT DROP;
INSERT INTO analyst_functions VALUES ('health'), ('info'), ('storage_health'), ('list_pipelines'),
    ('list_runs'), ('pipeline_stats'), ('get_state'), ('list_cdc_offsets'), ('list_cdc_schema_history'),
    ('get_offsets'), ('get_schema_history'), ('schema_history_exists'), ('tenant_visible'),
    ('resource_stats'), ('run_series'), ('tenant_stats'), ('pipeline_series');
CREATE TEMP VIEW nilus_relations AS
    SELECT c.oid, c.relname::text AS name, c.relkind FROM pg_class c
     WHERE c.relnamespace = 'nilus'::regnamespace AND c.relkind IN ('r', 'p', 'S', 'v', 'm', 'f');
CREATE TEMP VIEW nilus_functions AS
    SELECT p.oid, p.proname::text AS name, p.prosecdef, p.proconfig, p.proowner,
           coalesce(p.proacl, acldefault('f', p.proowner)) AS acl
      FROM pg_proc p WHERE p.pronamespace = 'nilus'::regnamespace;
GRANT SELECT ON api_functions, analyst_functions, nilus_relations, nilus_functions TO PUBLIC;

-- ---------------------------------------------------------------- the owner

SELECT is((SELECT ARRAY[rolcanlogin, rolsuper, rolbypassrls, rolcreaterole, rolcreatedb, rolreplication]
             FROM pg_roles WHERE rolname = 'nilus_owner'),
          ARRAY[false, false, false, false, false, false],
          'nilus_owner cannot log in, is no superuser and cannot bypass row-level security');
SELECT is((SELECT count(*) FROM pg_auth_members WHERE roleid = 'nilus_owner'::regrole), 0::bigint,
          'no role is a member of nilus_owner (none can SET ROLE to it)');
SELECT is((SELECT coalesce(array_agg(name ORDER BY name), '{}') FROM nilus_relations
            WHERE (SELECT relowner FROM pg_class WHERE oid = nilus_relations.oid) <> 'nilus_owner'::regrole),
          '{}'::text[], 'every table and sequence of nilus is owned by nilus_owner');
SELECT is((SELECT coalesce(array_agg(name ORDER BY name), '{}') FROM nilus_functions
            WHERE proowner <> 'nilus_owner'::regrole),
          '{}'::text[], 'every function of nilus is owned by nilus_owner');
SELECT is((SELECT coalesce(array_agg(c.relname::text ORDER BY c.relname), '{}') FROM pg_class c
            WHERE c.relnamespace = 'nilus'::regnamespace AND c.relkind IN ('r', 'p')
              AND c.relname NOT IN ('api_token', 'tenant_role', 'retention_policy', 'retention_progress')
              AND NOT (c.relrowsecurity AND c.relforcerowsecurity)),
          '{}'::text[], 'every data table has row-level security enabled and forced (binding the owner); control tables are the owner''s');

-- ---------------------------------------------------------------- grants

SELECT is((SELECT coalesce(array_agg(name ORDER BY name), '{}') FROM nilus_relations
            WHERE CASE WHEN relkind = 'S' THEN has_sequence_privilege('nilus_api', oid, 'USAGE, SELECT, UPDATE')
                       ELSE has_table_privilege('nilus_api', oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER') END),
          '{}'::text[], 'nilus_api holds no privilege on any table or sequence of nilus');
SELECT is((SELECT coalesce(array_agg(name ORDER BY name), '{}') FROM nilus_relations
            WHERE relkind <> 'S'
              AND has_table_privilege('nilus_analyst', oid, 'INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')),
          '{}'::text[], 'nilus_analyst may write no table of nilus');
SELECT is((SELECT coalesce(array_agg(DISTINCT r.name ORDER BY r.name), '{}')
             FROM nilus_relations r, pg_class c, aclexplode(c.relacl) a
            WHERE c.oid = r.oid AND a.grantee = 0),
          '{}'::text[], 'PUBLIC holds no privilege on any table or sequence of nilus');
SELECT is((SELECT coalesce(array_agg(name ORDER BY name), '{}') FROM nilus_functions f, aclexplode(f.acl) a
            WHERE a.grantee = 0),
          '{}'::text[], 'PUBLIC may execute no function of nilus');
SELECT is((SELECT array_agg(name ORDER BY name) FROM nilus_functions WHERE has_function_privilege('nilus_api', oid, 'EXECUTE')),
          (SELECT array_agg(name ORDER BY name) FROM api_functions),
          'nilus_api may execute exactly the route functions, authenticate and retention_metrics');
SELECT is((SELECT array_agg(name ORDER BY name) FROM nilus_functions WHERE has_function_privilege('nilus_analyst', oid, 'EXECUTE')),
          (SELECT array_agg(name ORDER BY name) FROM analyst_functions),
          'nilus_analyst may execute exactly the reads and the row-level security predicate');
SELECT is((SELECT coalesce(array_agg(name ORDER BY name), '{}') FROM nilus_functions
            WHERE has_function_privilege('nilus_api', oid, 'EXECUTE') AND NOT prosecdef),
          '{}'::text[], 'every function nilus_api may execute is SECURITY DEFINER');
SELECT is((SELECT coalesce(array_agg(name ORDER BY name), '{}') FROM nilus_functions
            WHERE prosecdef AND proconfig IS DISTINCT FROM ARRAY['search_path=pg_catalog, nilus, pg_temp']),
          '{}'::text[], 'every SECURITY DEFINER function of nilus runs with search_path = pg_catalog, nilus, pg_temp');
SELECT is((SELECT array_agg(name ORDER BY name) FROM nilus_functions
            WHERE name IN ('create_token', 'revoke_token') AND prosecdef
              AND NOT has_function_privilege('nilus_api', oid, 'EXECUTE')
              AND NOT has_function_privilege('nilus_analyst', oid, 'EXECUTE')),
          ARRAY['create_token', 'revoke_token'], 'token administration is the owner''s (and superusers'') alone');

-- ---------------------------------------------------------------- data and roles

-- Two tenants with a row in every table, written through the functions.
SELECT nilus.store_run(t, pg_temp.run_body(md5(t)::uuid, 'res-1', now() - interval '1 hour',
                                           '{"is_success": true, "run_as_user": "u", "finished_at": null}'))
  FROM unnest(ARRAY['acme', 'globex']) AS t \g /dev/null
SELECT nilus.store_state(t, 'pipe-1', '{"state": "s"}') FROM unnest(ARRAY['acme', 'globex']) AS t \g /dev/null
SELECT nilus.store_offsets(t, 'pipe-1', '{"resource_id": "res-1", "connector_name": "c", "offsets": [{"offset_key": "k", "offset_val": "v"}]}')
  FROM unnest(ARRAY['acme', 'globex']) AS t \g /dev/null
SELECT nilus.store_schema_history(t, 'pipe-1', '{"resource_id": "res-1", "connector_name": "c", "records": [{"history_data": "{}"}]}')
  FROM unnest(ARRAY['acme', 'globex']) AS t \g /dev/null

CREATE ROLE lp15_api LOGIN IN ROLE nilus_api;
CREATE ROLE lp15_acme LOGIN IN ROLE nilus_analyst;
CREATE ROLE lp15_admin LOGIN;
INSERT INTO nilus.tenant_role VALUES ('acme', 'lp15_acme');
SELECT nilus.create_token('acme', ARRAY['read', 'runtime'], 'lp15-acme') AS acme_token \gset

-- ---------------------------------------------------------------- row-level security binds the owner

-- Code running as nilus_owner (as the route functions do) sees and writes
-- only what the caller's token or role allows.
CREATE FUNCTION pg_temp.owner_sees() RETURNS jsonb LANGUAGE sql SECURITY DEFINER AS $$
    SELECT coalesce(jsonb_object_agg(tenant, n), '{}')
      FROM (SELECT tenant, count(*) AS n FROM nilus.pipeline_run WHERE tenant IN ('acme', 'globex') GROUP BY tenant) c
$$;
CREATE FUNCTION pg_temp.owner_writes(tenant text) RETURNS void LANGUAGE sql SECURITY DEFINER AS $$
    INSERT INTO nilus.pipeline_run (tenant, run_id, resource_id, pipeline_name, started_at)
    VALUES (tenant, gen_random_uuid(), 'r', 'p', now())
$$;
ALTER FUNCTION pg_temp.owner_sees() OWNER TO nilus_owner;
ALTER FUNCTION pg_temp.owner_writes(text) OWNER TO nilus_owner;
SELECT is(pg_temp.owner_sees(), '{"acme": 1, "globex": 1}'::jsonb, 'as the owner, called by a superuser: every tenant');
SET LOCAL ROLE lp15_acme;
SELECT is(pg_temp.owner_sees(), '{"acme": 1}'::jsonb, 'as the owner, called by an analyst granted acme: acme only');
RESET ROLE;
SET LOCAL ROLE lp15_api;
SELECT is(pg_temp.owner_sees(), '{}'::jsonb, 'as the owner, called by the API role without a token: nothing');
RESET ROLE;

-- Analysts: plain SELECTs under the policies, no writes, reads through the functions.
SET LOCAL ROLE lp15_acme;
SELECT is((SELECT array_agg(DISTINCT tenant) FROM nilus.pipeline_run), ARRAY['acme'], 'an analyst granted acme selects acme''s runs only');
SELECT is(nilus.list_pipelines('acme')::jsonb -> 'total', '1'::jsonb, 'an analyst lists acme through the function');
SELECT pg_temp.rejects(statement, '42501', 'an analyst: ' || statement)
  FROM unnest(ARRAY[$$SELECT nilus.store_state('acme', 'pipe-1', '{"state": 3}')$$,
                    $$SELECT nilus.authenticate('nilus_0000')$$,
                    $$INSERT INTO nilus.run_rollup_tenant (tenant, bucket, shard) VALUES ('acme', now(), 0)$$,
                    $$DELETE FROM nilus.run_rollup_resource$$]) AS statement;
RESET ROLE;

-- ---------------------------------------------------------------- append-only tables

CREATE TEMP TABLE rewrites (statement text) ON COMMIT DROP;
INSERT INTO rewrites
SELECT format(s, t) FROM unnest(ARRAY['cdc_offset', 'cdc_schema_history', 'pipeline_state']) AS t,
       unnest(ARRAY['UPDATE nilus.%I SET tenant = tenant', 'DELETE FROM nilus.%I',
                    'DELETE FROM nilus.%I WHERE false', 'TRUNCATE nilus.%I']) AS s;
GRANT SELECT ON rewrites TO PUBLIC;
SELECT pg_temp.rejects(statement, '42501', 'a superuser: ' || statement) FROM rewrites ORDER BY statement;
SET LOCAL ROLE nilus_owner;
SELECT pg_temp.rejects(statement, '42501', 'the owner: ' || statement) FROM rewrites ORDER BY statement;
RESET ROLE;
SELECT ok(pg_temp.message_of($$UPDATE nilus.cdc_offset SET offset_val = 'x'$$) ~ 'append-only',
          'the refusal says the table is append-only');
-- Appending still works, and the other tables stay correctable by an operator.
SELECT lives_ok($$INSERT INTO nilus.cdc_offset (tenant, id, resource_id, pipeline_name, connector_name, offset_key)
                  VALUES ('initech', '15000000-0000-0000-0000-000000000002', 'r', 'p', 'c', 'k')$$,
                'a superuser may append an offset record');
SELECT lives_ok($$UPDATE nilus.pipeline_run SET error = NULL WHERE tenant = 'acme'$$,
                'a superuser may still correct runs (not append-only)');

-- ---------------------------------------------------------------- the API role with acme's token

-- Every direct statement on every table (the catalog's list, so tables added
-- later are covered): refused with 42501, nothing changed.
CREATE TEMP TABLE direct_statements (tab text, statement text) ON COMMIT DROP;
INSERT INTO direct_statements
SELECT r.name, format(s, r.name, a.attname)
  FROM nilus_relations r
  JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum = 1,
       unnest(ARRAY['SELECT * FROM nilus.%I', 'INSERT INTO nilus.%I DEFAULT VALUES',
                    'UPDATE nilus.%1$I SET %2$I = %2$I', 'DELETE FROM nilus.%I', 'TRUNCATE nilus.%I']) AS s
 WHERE r.relkind IN ('r', 'p');
GRANT SELECT ON direct_statements TO PUBLIC;

SET LOCAL ROLE lp15_api;
SELECT is(nilus.authenticate(:'acme_token')::jsonb ->> 'tenant', 'acme', 'lp15_api authenticates acme''s token');
SELECT pg_temp.rejects(statement, '42501', 'nilus_api with acme''s token, straight on the table: ' || statement)
  FROM direct_statements ORDER BY tab, statement;
SELECT pg_temp.rejects(format('SELECT nextval(%L)', 'nilus.cdc_record_insert_seq'), '42501',
                       'nilus_api cannot draw from the record sequence');

-- Every route works through its function.
SELECT is(nilus.store_run('acme', pg_temp.run_body('15000000-0000-0000-0000-000000000001', 'res-1', now() - interval '30 minutes',
                                                   '{"is_success": true, "finished_at": null, "duration_sec": 2}'))::jsonb ->> 'created',
          'true', 'store_run through its function');
SELECT is((nilus.store_state('acme', 'pipe-1', '{"state": {"pos": 2}}')::jsonb ->> 'version')::int, 2,
          'store_state through its function');
SELECT is(nilus.store_offsets('acme', 'pipe-1', '{"resource_id": "res-1", "connector_name": "c", "offsets": [{"offset_key": "k", "offset_val": "v2"}]}')::jsonb,
          '{"stored": 1}'::jsonb, 'store_offsets through its function');
SELECT is(nilus.store_schema_history('acme', 'pipe-1', '{"resource_id": "res-1", "connector_name": "c", "records": [{"history_data": "{\"ddl\": 2}"}]}')::jsonb,
          '{"stored": 1}'::jsonb, 'store_schema_history through its function');
SELECT is(nilus.get_state('acme', 'pipe-1')::jsonb -> 'state', '{"pos": 2}'::jsonb, 'get_state through its function');
SELECT is(nilus.get_offsets('acme', 'pipe-1')::jsonb #>> '{offsets,0,offset_val}', 'v2', 'get_offsets through its function');
SELECT is(json_array_length(nilus.get_schema_history('acme', 'pipe-1') -> 'records'), 2, 'get_schema_history through its function');
SELECT is(nilus.schema_history_exists('acme', 'pipe-1')::jsonb -> 'exists', 'true'::jsonb, 'schema_history_exists through its function');
SELECT is(nilus.list_pipelines('acme')::jsonb -> 'total', '2'::jsonb, 'list_pipelines through its function: acme''s two runs');
SELECT is(nilus.list_runs('acme', 'res-1')::jsonb -> 'total', '2'::jsonb, 'list_runs through its function');
SELECT is(nilus.pipeline_stats('acme', 'res-1', '1d')::jsonb #> '{stats,total_runs}', '2'::jsonb,
          'pipeline_stats through its function (acme''s two finished runs)');
SELECT is(nilus.list_cdc_offsets('acme')::jsonb -> 'total', '2'::jsonb, 'list_cdc_offsets through its function');
SELECT is(nilus.list_cdc_schema_history('acme')::jsonb -> 'total', '2'::jsonb, 'list_cdc_schema_history through its function');
SELECT is(nilus.storage_health('acme')::jsonb ->> 'tenant', 'acme', 'storage_health through its function');
SELECT is(nilus.health()::jsonb ->> 'status', 'ok', 'health through its function');
SELECT is(nilus.info()::jsonb ->> 'extension_version', '0.3.0', 'info through its function');
-- What the API role may not call.
SELECT pg_temp.rejects(statement, '42501', 'nilus_api: ' || statement)
  FROM unnest(ARRAY[$$SELECT nilus.create_token('acme', ARRAY['read'], 'lp15-by-api')$$,
                    $$SELECT nilus.revoke_token('lp15-acme')$$,
                    $$SELECT nilus.tenant_visible('acme')$$]) AS statement;

-- A search_path of the caller's choosing changes nothing inside the
-- functions: this gen_random_uuid() would name every offset record.
RESET ROLE;
CREATE SCHEMA lp15_evil;
CREATE FUNCTION lp15_evil.gen_random_uuid() RETURNS uuid LANGUAGE sql AS $$ SELECT '15000000-0000-0000-0000-0000000000ee'::uuid $$;
GRANT USAGE ON SCHEMA lp15_evil TO PUBLIC;
SET LOCAL ROLE lp15_api;
SET LOCAL search_path = lp15_evil, pg_catalog, public;
SELECT is(nilus.store_offsets('acme', 'pipe-2', '{"resource_id": "res-1", "connector_name": "c", "offsets": [{"offset_key": "k", "offset_val": "v"}]}')::jsonb,
          '{"stored": 1}'::jsonb, 'store_offsets with the caller''s search_path set to a schema of its own');
SELECT isnt(nilus.list_cdc_offsets('acme', offset_key => 'k', "limit" => 1)::jsonb #>> '{offsets,0,id}',
            '15000000-0000-0000-0000-0000000000ee', 'the record''s id came from pg_catalog.gen_random_uuid, not the caller''s');
RESET search_path;
RESET ROLE;

-- With a token (it lasts until the transaction ends: these come last).
SET LOCAL ROLE lp15_api;
SELECT is(pg_temp.owner_sees(), '{"acme": 2}'::jsonb, 'as the owner, with acme''s token: acme only');
SELECT pg_temp.rejects($$SELECT pg_temp.owner_writes('globex')$$, '42501',
                       'as the owner, with acme''s token: a globex row is refused by the policy');
RESET ROLE;


-- Token administration is delegated by granting EXECUTE, nothing else.
SET LOCAL ROLE lp15_admin;
SELECT pg_temp.rejects($$SELECT nilus.create_token('acme', ARRAY['read'], 'lp15-delegated')$$, '42501',
                       'a role without EXECUTE cannot create tokens');
RESET ROLE;
GRANT USAGE ON SCHEMA nilus TO lp15_admin;
GRANT EXECUTE ON FUNCTION nilus.create_token(text, text[], text, timestamptz) TO lp15_admin;
SET LOCAL ROLE lp15_admin;
SELECT nilus.create_token('acme', ARRAY['read'], 'lp15-delegated') AS delegated_token \gset
RESET ROLE;
SELECT is(nilus.authenticate(:'delegated_token')::jsonb ->> 'label', 'lp15-delegated',
          'a role granted EXECUTE on create_token creates a working token');

SELECT * FROM finish();
ROLLBACK;
