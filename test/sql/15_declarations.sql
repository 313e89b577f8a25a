-- The SQL declarations (sql/) and the C code agree: the C reads each
-- argument by the name the declaration gives it, so a reordered declaration
-- binds every value right and a renamed one fails loudly; a default that
-- SQL declares equals the one the C applies to NULL ("not given"), whose
-- value is in include/nilus_api.h.
BEGIN;
\ir lib/helpers.psql
SELECT plan(10);

SELECT nilus.store_run('acme', pg_temp.run_body('15000000-0000-0000-0000-000000000001', 'res-1', now() - interval '1 hour',
                                                '{"run_as_user": "alice", "is_success": true, "finished_at": null}')) \g /dev/null
SELECT nilus.store_run('acme', pg_temp.run_body('15000000-0000-0000-0000-000000000002', 'res-1', now() - interval '2 hours',
                                                '{"run_as_user": "bob"}')) \g /dev/null

-- Defaults: the SQL declaration's, and the C's for NULL.
SELECT is(nilus.list_pipelines('acme')::jsonb -> 'limit', nilus.list_pipelines('acme', "limit" => NULL)::jsonb -> 'limit',
          'list_pipelines: the SQL default of limit = the C default (NILUS_LIMIT_DEFAULT)');
SELECT is(nilus.list_runs('acme', 'res-1')::jsonb -> 'limit', nilus.list_runs('acme', 'res-1', "limit" => NULL)::jsonb -> 'limit',
          'list_runs: the SQL default of limit = the C default');
SELECT is(nilus.list_cdc_offsets('acme')::jsonb -> 'limit', nilus.list_cdc_offsets('acme', "limit" => NULL)::jsonb -> 'limit',
          'list_cdc_offsets: the SQL default of limit = the C default');
SELECT is(nilus.list_cdc_schema_history('acme')::jsonb -> 'limit',
          nilus.list_cdc_schema_history('acme', "limit" => NULL)::jsonb -> 'limit',
          'list_cdc_schema_history: the SQL default of limit = the C default');
SELECT is(nilus.list_pipelines('acme')::jsonb -> 'offset', nilus.list_pipelines('acme', "offset" => NULL)::jsonb -> 'offset',
          'list_pipelines: the SQL default of offset = the C default');
SELECT is(nilus.pipeline_stats('acme', 'res-1')::jsonb -> 'period',
          nilus.pipeline_stats('acme', 'res-1', period => NULL)::jsonb -> 'period',
          'pipeline_stats: the SQL default of period = the C default (NILUS_PERIOD_DEFAULT)');

-- The same C function under a declaration with its arguments in another order.
CREATE FUNCTION pg_temp.list_runs_reordered("offset" integer, "limit" integer, started_at_lte timestamptz,
                                            started_at_gte timestamptz, started_at text, is_success boolean,
                                            run_as_user text, resource_id text, tenant text)
RETURNS json AS '$libdir/nilus', 'nilus_list_runs' LANGUAGE C;
SELECT is(pg_temp.list_runs_reordered(0, 1, NULL, NULL, NULL, NULL, 'bob', 'res-1', 'acme')::jsonb,
          nilus.list_runs('acme', 'res-1', run_as_user => 'bob', "limit" => 1)::jsonb,
          'arguments are bound by name: a reordered declaration gives the same answer');
SELECT is(pg_temp.list_runs_reordered(1, 1, NULL, NULL, NULL, NULL, NULL, 'res-1', 'acme')::jsonb -> 'offset', '1',
          'a reordered declaration: offset is the offset');

-- A declaration that lacks a name the C reads fails on every call, whatever the values.
CREATE FUNCTION pg_temp.list_runs_renamed(tenant text, resource_id text, user_name text DEFAULT NULL,
                                          is_success boolean DEFAULT NULL, started_at text DEFAULT NULL,
                                          started_at_gte timestamptz DEFAULT NULL,
                                          started_at_lte timestamptz DEFAULT NULL,
                                          "limit" integer DEFAULT 50, "offset" integer DEFAULT 0)
RETURNS json AS '$libdir/nilus', 'nilus_list_runs' LANGUAGE C;
SELECT is(pg_temp.error_of($$SELECT pg_temp.list_runs_renamed('acme', 'res-1')$$), 'XX000',
          'a declaration without run_as_user: an internal error, not a wrong binding');
SELECT matches(pg_temp.message_of($$SELECT pg_temp.list_runs_renamed('acme', 'res-1')$$),
               'has no argument "run_as_user"', 'the error names the argument the C reads');

SELECT * FROM finish();
ROLLBACK;
