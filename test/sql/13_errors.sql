-- Bad arguments of every reading function: the SQLSTATE of doc/errors.md, the
-- parameter in the error's COLUMN field (the shim's "parameter"), and a
-- message that starts lower-case and names the parameter.  (Bad bodies of
-- the writing functions are in their own files, with "nothing changed".)
BEGIN;
\ir lib/helpers.psql
SELECT plan(303);

-- Two assertions per bad call: SQLSTATE and parameter; the message.
CREATE FUNCTION pg_temp.refuses(statement text, expected text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    parameter text := split_part(expected, ' ', 2);
    message text := pg_temp.message_of(statement);
    -- Descriptions are TAP lines: control characters of the statement escaped.
    description text := replace(replace(statement, E'\n', '\n'), E'\t', '\t');
BEGIN
    RETURN NEXT is(pg_temp.error_of(statement), expected, description);
    RETURN NEXT ok(message ~ '^[a-z]' AND strpos(message, parameter) > 0,
                   format('%s: message "%s" starts lower-case and names %s', description, message, parameter));
END $$;

SELECT nilus.store_run('acme', pg_temp.run_body('13000000-0000-0000-0000-000000000001', 'res-1', now())) \g /dev/null

-- limit 1..1000 and offset >= 0, on every listing.
CREATE TEMP TABLE listings (call text) ON COMMIT DROP;
INSERT INTO listings VALUES ($$nilus.list_pipelines('acme', %s)$$), ($$nilus.list_runs('acme', 'res-1', %s)$$),
                            ($$nilus.list_cdc_offsets('acme', %s)$$), ($$nilus.list_cdc_schema_history('acme', %s)$$);
SELECT pg_temp.refuses('SELECT ' || format(l.call, arg), expected)
  FROM listings l, (VALUES ('"limit" => 0', '22023 limit'), ('"limit" => -1', '22023 limit'),
                           ('"limit" => 1001', '22023 limit'), ('"limit" => 2147483647', '22023 limit'),
                           ('"offset" => -1', '22023 offset'), ('"offset" => -2147483648', '22023 offset')) AS bad(arg, expected);
SELECT is(pg_temp.error_of('SELECT ' || format(l.call, arg)), 'no error', 'accepted: ' || format(l.call, arg))
  FROM listings l, unnest(ARRAY['"limit" => 1', '"limit" => 1000', '"offset" => 0', '"offset" => 2147483647']) AS arg;

-- Timestamps and dates of the run listings.
SELECT pg_temp.refuses('SELECT ' || format(call, arg), expected)
  FROM unnest(ARRAY[$$nilus.list_pipelines('acme', %s)$$, $$nilus.list_runs('acme', 'res-1', %s)$$]) AS call,
       (VALUES ($$started_at => 'garbage'$$, '22007 started_at'),
               ($$started_at => '2026-11-28T25:00:00Z'$$, '22008 started_at'),
               ($$started_at => 'infinity'$$, '22007 started_at'),
               ($$started_at => '-infinity'$$, '22007 started_at'),
               ($$started_at_gte => 'infinity'$$, '22008 started_at_gte'),
               ($$started_at_lte => '-infinity'$$, '22008 started_at_lte')) AS bad(arg, expected);
-- started_at as an instant is RFC 3339 and nothing else, in the years
-- 0001-9999 (UTC); the typed bounds keep to the same years.
SELECT pg_temp.refuses(format('SELECT nilus.list_pipelines(%L, started_at => %L)', 'acme', v), expected)
  FROM (VALUES ('4714-11-24 BC', '22007 started_at'), ('1999-01-08 04:05:06 PST8PDT', '22007 started_at'),
               ('epoch', '22007 started_at'), ('now', '22007 started_at'),
               ('2026-11-28 10:15:00Z', '22007 started_at'), ('2026-11-28T10:15:00', '22007 started_at'),
               ('2026-11-28T10:15:00+0100', '22007 started_at'),
               ('0001-01-01T00:00:00+00:01', '22008 started_at'),
               ('9999-12-31T23:59:59-00:01', '22008 started_at')) AS bad(v, expected);
SELECT pg_temp.refuses(format('SELECT nilus.%s(%L, %s => %L::timestamptz)', f, 'acme', p, v), '22008 ' || p)
  FROM (VALUES ('list_pipelines', 'started_at_gte'), ('list_cdc_offsets', 'record_insert_ts_lte')) AS fp(f, p),
       unnest(ARRAY['0001-01-01 00:00:00+00:01', '10000-01-01 00:00:00+00', '4714-11-24 00:00:00+00 BC']) AS v;
SELECT is(pg_temp.error_of(format('SELECT nilus.list_pipelines(%L, %s)', 'acme', arg)), 'no error', 'accepted: ' || arg)
  FROM unnest(ARRAY[$$started_at => '0001-01-01T00:00:00Z'$$, $$started_at => '9999-12-31T23:59:59.999999Z'$$,
                    $$started_at => '2026-11-28t11:15:00.5+01:00'$$,
                    $$started_at_gte => '0001-01-01 00:00:00+00'$$, $$started_at_lte => '9999-12-31 23:59:59.999999+00'$$]) AS arg;
SELECT matches(pg_temp.error_of(format('SELECT nilus.list_pipelines(%L, started_at => %L)', 'acme', d)), '^2200[78] started_at$',
               'started_at => ' || d || ': a date that does not exist is a bad date (22007/22008)')
  FROM unnest(ARRAY['2026-02-30', '2026-13-01', '2026-00-10']) AS d;
SELECT pg_temp.refuses(format('SELECT nilus.%s(%L, %s => %L)', f, 'acme', p, v), '22008 ' || p)
  FROM unnest(ARRAY['list_cdc_offsets', 'list_cdc_schema_history']) AS f,
       (VALUES ('record_insert_ts_gte', 'infinity'), ('record_insert_ts_lte', '-infinity')) AS bad(p, v);

-- tenant: a path segment of letters, digits, '_', '-' and '.', 1 to 63 long; on every function.
CREATE TEMP TABLE tenant_calls (call text) ON COMMIT DROP;
INSERT INTO tenant_calls VALUES ('list_pipelines(%L)'), ('list_runs(%L, ''r'')'), ('pipeline_stats(%L, ''r'')'),
    ('list_cdc_offsets(%L)'), ('list_cdc_schema_history(%L)'), ('get_state(%L, ''p'')'), ('get_offsets(%L, ''p'')'),
    ('get_schema_history(%L, ''p'')'), ('schema_history_exists(%L, ''p'')'), ('storage_health(%L)');
SELECT pg_temp.refuses('SELECT nilus.' || format(c.call, t), '22023 tenant')
  FROM tenant_calls c, unnest(ARRAY['', 'ac me', 'acme/../globex', repeat('t', 64), E'acme\n', 'acme%2F']) AS t;
SELECT pg_temp.refuses('SELECT nilus.' || replace(c.call, '%L', 'NULL'), '22023 tenant')
  FROM tenant_calls c;
SELECT is(pg_temp.error_of(format('SELECT nilus.list_pipelines(%L)', t)), 'no error', 'tenant ' || t || ' is a valid tenant')
  FROM unnest(ARRAY[repeat('t', 63), 'Acme_2-prod.eu', '0']) AS t;

-- pipeline_name and resource_id in the path: 1 to 255 bytes, no control characters.
SELECT pg_temp.refuses(format(stmt, v), '22023 ' || p)
  FROM (VALUES ('SELECT nilus.get_state(''acme'', %L)', 'pipeline_name'), ('SELECT nilus.get_offsets(''acme'', %L)', 'pipeline_name'),
               ('SELECT nilus.list_runs(''acme'', %L)', 'resource_id'), ('SELECT nilus.pipeline_stats(''acme'', %L)', 'resource_id')) AS s(stmt, p),
       unnest(ARRAY['', repeat('x', 256), E'tab\there']) AS v;
SELECT is(pg_temp.error_of(format('SELECT nilus.schema_history_exists(%L, %L)', 'acme', v)), 'no error', 'pipeline_name ' || left(v, 20) || '... is valid')
  FROM unnest(ARRAY[repeat('x', 255), 'orders/v2 (eu) ☃']) AS v;

SELECT * FROM finish();
ROLLBACK;
