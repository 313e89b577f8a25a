-- Pipeline state: versions 1, 2, 3... per (tenant, pipeline), handed out by
-- the server; get_state answers the highest successful version; any JSON
-- value is a state; 404 (P0002) when there is no successful state.
BEGIN;
\ir lib/helpers.psql
SELECT plan(62);

SELECT pg_temp.raises($$SELECT nilus.get_state('acme', 'orders')$$, 'P0002', 'get_state before any state');

SELECT is(nilus.store_state('acme', 'orders', '{"state": "H4sIAAAAAAAA/6tWKkktLlGyUlAqS8wpTtVRKi1OLVKyUlBKSSxJBAA=", "run_id": "run-1"}')::jsonb,
          jsonb_build_object('pipeline_name', 'orders', 'version', 1, 'created_at', pg_temp.rfc3339(now())),
          'the first state is version 1');
SELECT is(nilus.get_state('acme', 'orders')::jsonb,
          jsonb_build_object('pipeline_name', 'orders', 'version', 1,
                             'state', 'H4sIAAAAAAAA/6tWKkktLlGyUlAqS8wpTtVRKi1OLVKyUlBKSSxJBAA=',
                             'run_id', 'run-1', 'created_at', pg_temp.rfc3339(now())),
          'get_state: the whole body of the latest successful state');
SELECT is(nilus.store_state('acme', 'orders', '{"state": {"cursor": 42}, "is_success": true}')::jsonb ->> 'version',
          '2', 'the second is version 2');
SELECT is(nilus.store_state('acme', 'orders', '{"state": {"cursor": 43}, "run_id": "run-3", "is_success": false}')::jsonb ->> 'version',
          '3', 'a failed state takes version 3');
SELECT is(nilus.get_state('acme', 'orders')::jsonb,
          jsonb_build_object('pipeline_name', 'orders', 'version', 2, 'state', '{"cursor": 42}'::jsonb,
                             'run_id', NULL, 'created_at', pg_temp.rfc3339(now())),
          'get_state skips the failed version 3: version 2, run_id null');
SELECT is(nilus.store_state('acme', 'orders', '{"state": [1, "two", {"three": 3}]}')::jsonb ->> 'version',
          '4', 'the next successful state is version 4');
SELECT is(nilus.get_state('acme', 'orders')::jsonb -> 'state', '[1, "two", {"three": 3}]'::jsonb,
          'get_state answers version 4 now');
SELECT is((SELECT array_agg(version ORDER BY version) FROM nilus.pipeline_state WHERE tenant = 'acme' AND pipeline_name = 'orders'),
          ARRAY[1, 2, 3, 4]::bigint[], 'every version is kept');

-- Versions are per pipeline and per tenant.
SELECT is(nilus.store_state('acme', 'users', '{"state": 0}')::jsonb ->> 'version', '1', 'another pipeline starts at 1');
SELECT is(nilus.store_state('globex', 'orders', '{"state": 0}')::jsonb ->> 'version', '1', 'the same pipeline of another tenant starts at 1');
SELECT is(nilus.get_state('globex', 'orders')::jsonb -> 'state', '0'::jsonb, 'each tenant reads its own state');
SELECT is(nilus.get_state('acme', 'orders')::jsonb ->> 'version', '4', '... and not the other''s');

-- Any JSON value round-trips.
SELECT is(nilus.store_state('acme', 'values', jsonb_build_object('state', v))::jsonb ->> 'version',
          n::text, 'state ' || left(v::text, 40) || ' stored as version ' || n)
  FROM (VALUES (1, '"a string"'::jsonb), (2, '""'), (3, '12.5'), (4, 'true'), (5, 'false'), (6, '[]'), (7, '{}'),
               (8, '{"nested": {"deep": [1, {"x": null}]}, "unicode": "żółć ☃ \u0001"}'),
               (9, to_jsonb(repeat('QUJD', 262144)))) AS s(n, v);
SELECT is((SELECT state FROM nilus.pipeline_state WHERE tenant = 'acme' AND pipeline_name = 'values' AND version = n),
          v, 'version ' || n || ' holds the state as given')
  FROM (VALUES (3, '12.5'::jsonb), (8, '{"nested": {"deep": [1, {"x": null}]}, "unicode": "żółć ☃ \u0001"}')) AS s(n, v);
SELECT is(md5(nilus.get_state('acme', 'values')::jsonb ->> 'state'), md5(repeat('QUJD', 262144)),
          'a 1 MiB string state round-trips through get_state');
SELECT is(nilus.store_state('acme', 'values', '{"state": false}')::jsonb ->> 'version', '10', 'false as a state');
SELECT is(nilus.get_state('acme', 'values')::jsonb -> 'state', 'false'::jsonb, 'get_state answers false, not "none"');

-- Only failed states: still nothing to resume from.
SELECT nilus.store_state('acme', 'broken', '{"state": 1, "is_success": false}') \g /dev/null
SELECT pg_temp.raises($$SELECT nilus.get_state('acme', 'broken')$$, 'P0002', 'get_state with only failed states');
SELECT pg_temp.raises($$SELECT nilus.get_state('acme', 'no-such-pipeline')$$, 'P0002', 'get_state of an unknown pipeline');
SELECT pg_temp.raises($$SELECT nilus.get_state('initech', 'orders')$$, 'P0002', 'get_state of a tenant without states');

-- Bad posts store nothing and use no version.
SELECT pg_temp.rejects(format('SELECT nilus.store_state(%L, %L, %L)', tenant, pipeline, body), expected, why)
  FROM (VALUES
    ('acme', 'orders', '{}', '22023 state', 'state missing'),
    ('acme', 'orders', '{"run_id": "r"}', '22023 state', 'only run_id'),
    ('acme', 'orders', '{"state": 1, "version": 9}', '22023 version', 'a version from the client'),
    ('acme', 'orders', '{"state": 1, "unknown": true}', '22023 unknown', 'an unknown field'),
    ('acme', 'orders', '{"state": 1, "is_success": "true"}', '22023 is_success', 'is_success a string'),
    ('acme', 'orders', '{"state": 1, "run_id": 7}', '22023 run_id', 'run_id a number'),
    ('acme', 'orders', '[{"state": 1}]', '22023 body', 'body an array'),
    ('acme', '', '{"state": 1}', '22023 pipeline_name', 'empty pipeline_name'),
    ('acme', repeat('p', 256), '{"state": 1}', '22023 pipeline_name', 'pipeline_name of 256 bytes'),
    ('acme', E'orders\n', '{"state": 1}', '22023 pipeline_name', 'pipeline_name with a control character'),
    ('ac/me', 'orders', '{"state": 1}', '22023 tenant', 'tenant with a slash')) AS bad(tenant, pipeline, body, expected, why);
SELECT pg_temp.rejects(statement, expected, statement)
  FROM (VALUES ($$SELECT nilus.store_state('acme', 'orders', NULL)$$, '22023 body'),
               ($$SELECT nilus.store_state('acme', NULL, '{"state": 1}')$$, '22023 pipeline_name'),
               ($$SELECT nilus.get_state('acme', '')$$, '22023 pipeline_name'),
               ($$SELECT nilus.get_state('', 'orders')$$, '22023 tenant')) AS bad(statement, expected);
SELECT is(nilus.store_state('acme', 'orders', '{"state": "after the bad ones"}')::jsonb ->> 'version', '5',
          'rejected posts used no version: the next is 5');
SELECT is((SELECT last_version FROM nilus.pipeline_state_head WHERE tenant = 'acme' AND pipeline_name = 'orders'),
          5::bigint, 'the head holds the last version handed out');

SELECT * FROM finish();
ROLLBACK;
