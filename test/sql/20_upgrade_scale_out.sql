-- Upgrading 0.2.0 to 0.3.0 (ALTER EXTENSION nilus UPDATE): nilus.distribute()
-- and the pieces it uses arrive; without Citus, distribute() refuses with a
-- clear error and changes nothing; the rollups still empty with TRUNCATE.
-- (On a Citus cluster the same functions are tested by make check-citus.)
BEGIN;
SELECT plan(11);

DROP EXTENSION nilus;
CREATE EXTENSION nilus VERSION '0.2.0';
\ir lib/helpers.psql
SELECT hasnt_function('nilus', 'distribute', '0.2.0 has no distribute()');
SELECT nilus.store_offsets('acme', 'p', '{"resource_id": "r", "connector_name": "c",
                                          "offsets": [{"offset_key": "k", "offset_val": "1"}]}') \g /dev/null

ALTER EXTENSION nilus UPDATE TO '0.3.0';
SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'nilus'), '0.3.0', 'updates to 0.3.0');
SELECT function_returns('nilus', 'distribute', ARRAY[]::text[], 'void', 'nilus.distribute() returns void');
SELECT function_privs_are('nilus', 'distribute', ARRAY[]::text[], 'nilus_api', ARRAY[]::text[],
                          'the API role may not call distribute()');
SELECT is(pg_temp.error_of('SELECT nilus.distribute()'), '55000', 'without Citus: 55000 (object not in prerequisite state)');
SELECT alike(pg_temp.message_of('SELECT nilus.distribute()'), 'nilus.distribute() needs Citus%',
             'the message says Citus is needed');
SELECT is((SELECT count(*) FROM pg_extension WHERE extname = 'citus'), 0::bigint,
          'this cluster has no Citus (the refusal above is the one users see)');

-- The default record_insert_seq is unchanged until distribute() runs; the
-- function distribute() would put there draws from the same sequence.
SELECT is((SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef
            WHERE adrelid = 'nilus.cdc_offset'::regclass
              AND adnum = (SELECT attnum FROM pg_attribute WHERE attrelid = 'nilus.cdc_offset'::regclass
                              AND attname = 'record_insert_seq')),
          'nextval(''nilus.cdc_record_insert_seq''::regclass)', 'cdc_offset keeps its sequence default');
SELECT cmp_ok(nilus.next_record_insert_seq(),
              '>', (SELECT max(record_insert_seq) FROM nilus.cdc_offset), 'next_record_insert_seq() follows the records');

-- TRUNCATE of the runs still empties the rollups (the trigger now names its table).
SELECT nilus.store_run('acme', pg_temp.run_body('15000000-0000-0000-0000-000000000001', 'res-1', now())) \g /dev/null
SELECT isnt((SELECT count(*) FROM nilus.run_rollup_resource_day), 0::bigint, 'a run fills the rollups');
TRUNCATE nilus.pipeline_run;
SELECT is((SELECT (SELECT count(*) FROM nilus.run_rollup_resource) + (SELECT count(*) FROM nilus.run_rollup_tenant)
                + (SELECT count(*) FROM nilus.run_rollup_user) + (SELECT count(*) FROM nilus.run_rollup_resource_day)
                + (SELECT count(*) FROM nilus.run_rollup_tenant_day)), 0::bigint,
          'TRUNCATE nilus.pipeline_run empties every rollup');

SELECT * FROM finish();
ROLLBACK;
