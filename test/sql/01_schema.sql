-- The installed objects: tables keyed by tenant, row-level security on every
-- data table, the API's functions with their signatures, roles, grants.
BEGIN;
SELECT plan(104);

SELECT has_schema('nilus');
SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'nilus'),
          (SELECT default_version FROM pg_available_extensions WHERE name = 'nilus'),
          'extension nilus installed at the control file''s default_version');
SELECT has_role('nilus_api');
SELECT has_role('nilus_analyst');

-- Every data table: present, primary key led by tenant, RLS on.
SELECT has_table('nilus', t, 'table nilus.' || t)
  FROM unnest(ARRAY['tenant_role', 'api_token', 'pipeline_run', 'run_rollup_resource',
                    'run_rollup_tenant', 'run_rollup_user', 'run_rollup_resource_day',
                    'run_rollup_tenant_day', 'run_rollup_resource_second', 'run_rollup_resource_minute', 'run_rollup_tenant_minute',
                    'run_rollup_user_minute', 'run_rollup_resource_user_minute', 'run_rollup_resource_user',
                    'run_rollup_resource_user_day', 'pipeline_state', 'pipeline_state_head', 'cdc_offset', 'cdc_offset_latest',
                    'cdc_schema_history']) AS t;

SELECT is(
    (SELECT a.attname::text FROM pg_index i
       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
      WHERE i.indrelid = ('nilus.' || t)::regclass AND i.indisprimary),
    'tenant', 'primary key of nilus.' || t || ' starts with tenant')
  FROM unnest(ARRAY['pipeline_run', 'run_rollup_resource', 'run_rollup_tenant', 'run_rollup_user',
                    'run_rollup_resource_day', 'run_rollup_tenant_day', 'run_rollup_resource_second', 'run_rollup_resource_minute',
                    'run_rollup_tenant_minute', 'run_rollup_user_minute', 'run_rollup_resource_user_minute', 'run_rollup_resource_user',
                    'run_rollup_resource_user_day', 'pipeline_state', 'pipeline_state_head', 'cdc_offset', 'cdc_offset_latest',
                    'cdc_schema_history']) AS t;

SELECT is((SELECT count(*) FROM pg_index i
             JOIN pg_class c ON c.oid = i.indrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
            WHERE n.nspname = 'nilus' AND c.relname NOT IN ('api_token', 'tenant_role')
              AND a.attname <> 'tenant'),
          0::bigint, 'every index and unique key of a data table starts with tenant');

SELECT ok((SELECT relrowsecurity FROM pg_class WHERE oid = ('nilus.' || t)::regclass),
          'row-level security enabled on nilus.' || t)
  FROM unnest(ARRAY['pipeline_run', 'run_rollup_resource', 'run_rollup_tenant', 'run_rollup_user',
                    'run_rollup_resource_day', 'run_rollup_tenant_day', 'run_rollup_resource_second', 'run_rollup_resource_minute',
                    'run_rollup_tenant_minute', 'run_rollup_user_minute', 'run_rollup_resource_user_minute', 'run_rollup_resource_user',
                    'run_rollup_resource_user_day', 'pipeline_state', 'pipeline_state_head', 'cdc_offset', 'cdc_offset_latest',
                    'cdc_schema_history']) AS t;

SELECT col_type_is('nilus', 'pipeline_run', c, ty, 'pipeline_run.' || c || ' is ' || ty)
  FROM (VALUES ('run_id', 'uuid'), ('started_at', 'timestamp with time zone'),
               ('finished_at', 'timestamp with time zone'), ('is_success', 'boolean'),
               ('duration_sec', 'double precision'), ('records', 'jsonb'),
               ('metadata', 'jsonb')) AS cols(c, ty);
SELECT col_type_is('nilus', 'api_token', 'token_hash', 'bytea', 'tokens are kept as a hash (bytea)');
SELECT hasnt_column('nilus', 'api_token', 'token', 'no plaintext token column');

-- Every function of the route table (doc/http-api.md), with its signature in doc/sql.md.
SELECT has_function('nilus', f, args, format('nilus.%s(%s)', f, array_to_string(args, ', ')))
  FROM (VALUES
    ('health', ARRAY[]::text[]),
    ('info', ARRAY[]::text[]),
    ('list_pipelines', ARRAY['text', 'text', 'boolean', 'text', 'text', 'timestamp with time zone',
                             'timestamp with time zone', 'integer', 'integer']),
    ('list_runs', ARRAY['text', 'text', 'text', 'boolean', 'text', 'timestamp with time zone',
                        'timestamp with time zone', 'integer', 'integer']),
    ('pipeline_stats', ARRAY['text', 'text', 'text']),
    ('list_cdc_offsets', ARRAY['text', 'text', 'text', 'text', 'timestamp with time zone',
                               'timestamp with time zone', 'integer', 'integer']),
    ('list_cdc_schema_history', ARRAY['text', 'text', 'text', 'timestamp with time zone',
                                      'timestamp with time zone', 'integer', 'integer']),
    ('store_run', ARRAY['text', 'jsonb']),
    ('get_state', ARRAY['text', 'text']),
    ('store_state', ARRAY['text', 'text', 'jsonb']),
    ('get_offsets', ARRAY['text', 'text']),
    ('store_offsets', ARRAY['text', 'text', 'jsonb']),
    ('get_schema_history', ARRAY['text', 'text']),
    ('store_schema_history', ARRAY['text', 'text', 'jsonb']),
    ('schema_history_exists', ARRAY['text', 'text']),
    ('storage_health', ARRAY['text']),
    ('create_token', ARRAY['text', 'text[]', 'text', 'timestamp with time zone']),
    ('revoke_token', ARRAY['text']),
    ('authenticate', ARRAY['text'])) AS fns(f, args);

SELECT is((SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = 'nilus'
              AND p.proname IN ('health', 'info', 'list_pipelines', 'list_runs', 'pipeline_stats',
                                'list_cdc_offsets', 'list_cdc_schema_history', 'store_run',
                                'get_state', 'store_state', 'get_offsets', 'store_offsets',
                                'get_schema_history', 'store_schema_history',
                                'schema_history_exists', 'storage_health', 'authenticate')
              AND p.prorettype <> 'json'::regtype),
          0::bigint, 'every route function returns json');

-- Named parameters with the URL's names, so analysts can write is_success => false.
SELECT is((SELECT proargnames FROM pg_proc WHERE oid = to_regproc('nilus.list_pipelines')),
          ARRAY['tenant', 'run_as_user', 'is_success', 'resource_id', 'started_at',
                'started_at_gte', 'started_at_lte', 'limit', 'offset'],
          'list_pipelines parameter names are the query parameters');
SELECT is((SELECT proargnames FROM pg_proc WHERE oid = to_regproc('nilus.list_runs')),
          ARRAY['tenant', 'resource_id', 'run_as_user', 'is_success', 'started_at',
                'started_at_gte', 'started_at_lte', 'limit', 'offset'],
          'list_runs parameter names are the query parameters');
SELECT is((SELECT proargnames FROM pg_proc WHERE oid = to_regproc('nilus.list_cdc_offsets')),
          ARRAY['tenant', 'resource_id', 'connector_name', 'offset_key', 'record_insert_ts_gte',
                'record_insert_ts_lte', 'limit', 'offset'],
          'list_cdc_offsets parameter names are the query parameters');
SELECT is((SELECT proargnames FROM pg_proc WHERE oid = to_regproc('nilus.list_cdc_schema_history')),
          ARRAY['tenant', 'resource_id', 'connector_name', 'record_insert_ts_gte',
                'record_insert_ts_lte', 'limit', 'offset'],
          'list_cdc_schema_history parameter names are the query parameters');
SELECT is((SELECT proargnames FROM pg_proc WHERE oid = to_regproc('nilus.pipeline_stats')),
          ARRAY['tenant', 'resource_id', 'period'], 'pipeline_stats parameter names');
SELECT is((SELECT pronargdefaults FROM pg_proc WHERE oid = to_regproc('nilus.list_pipelines')),
          8::smallint, 'every list_pipelines filter is optional');
SELECT is((SELECT pronargdefaults FROM pg_proc WHERE oid = to_regproc('nilus.pipeline_stats')),
          1::smallint, 'period is optional');

SELECT is((SELECT prosecdef FROM pg_proc WHERE oid = to_regproc('nilus.authenticate')), true,
          'authenticate is SECURITY DEFINER (it reads the token table for roles that cannot)');
SELECT function_privs_are('nilus', 'create_token', ARRAY['text', 'text[]', 'text', 'timestamp with time zone'],
                          'nilus_api', ARRAY[]::text[], 'the API role cannot create tokens');
SELECT function_privs_are('nilus', 'revoke_token', ARRAY['text'], 'nilus_analyst', ARRAY[]::text[],
                          'analysts cannot revoke tokens');
SELECT table_privs_are('nilus', 'api_token', 'nilus_api', ARRAY[]::text[],
                       'the API role cannot read token hashes');
SELECT table_privs_are('nilus', 'api_token', 'nilus_analyst', ARRAY[]::text[],
                       'analysts cannot read token hashes');
SELECT table_privs_are('nilus', 'pipeline_run', 'nilus_analyst', ARRAY['SELECT'],
                       'analysts may only read runs');
SELECT has_trigger('nilus', 'pipeline_run', 'pipeline_run_rollup', 'rollups are kept by a trigger on pipeline_run');

SELECT * FROM finish();
ROLLBACK;
