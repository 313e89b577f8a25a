-- CDC schema history: records read back exactly as written, in insertion
-- order (batch after batch, array order within one), records of several
-- MiB byte for byte; history_data_seq is the position in the batch; exists;
-- list_cdc_schema_history newest first with exact totals.
BEGIN;
\ir lib/helpers.psql
\ir lib/nested_calls.psql
SELECT plan(118);

SELECT is(nilus.get_schema_history('acme', 'orders')::jsonb, '{"pipeline_name": "orders", "records": []}',
          'no history yet: an empty list');
SELECT is(nilus.schema_history_exists('acme', 'orders')::jsonb, '{"pipeline_name": "orders", "exists": false}',
          'exists: false before any record');

\set odd '{"source": {"server": "db1"}, "ddl": "CREATE TABLE \\"Quoted\\" (c text DEFAULT E''\\\\n'')", "note": "☃ \\u0001 tab\\tend"}'
SELECT is(nilus.store_schema_history('acme', 'orders', jsonb_build_object('resource_id', 'res-1', 'connector_name', 'conn-a',
              'records', jsonb_build_array(
                  jsonb_build_object('history_data', '{"ddl": "CREATE TABLE a (id int)"}', 'id', '11000000-0000-0000-0000-000000000001'),
                  jsonb_build_object('history_data', :'odd', 'id', '11000000-0000-0000-0000-000000000002'),
                  jsonb_build_object('history_data', '', 'id', '11000000-0000-0000-0000-000000000003'))))::jsonb,
          '{"stored": 3}', 'a batch of three records: stored 3');
SELECT is(nilus.get_schema_history('acme', 'orders')::jsonb,
          jsonb_build_object('pipeline_name', 'orders', 'records',
              (SELECT jsonb_agg(jsonb_build_object('id', id, 'history_data', history_data,
                                                   'record_insert_ts', pg_temp.rfc3339(record_insert_ts),
                                                   'record_insert_seq', record_insert_seq) ORDER BY record_insert_seq)
                 FROM nilus.cdc_schema_history WHERE tenant = 'acme' AND pipeline_name = 'orders')),
          'get_schema_history: the whole body');
SELECT is((SELECT array_agg(r ->> 'history_data' ORDER BY n)
             FROM json_array_elements(nilus.get_schema_history('acme', 'orders') -> 'records') WITH ORDINALITY AS e(r, n)),
          ARRAY['{"ddl": "CREATE TABLE a (id int)"}', :'odd', ''],
          'records in array order, history_data byte for byte (quotes, backslashes, control characters, empty)');
SELECT is(nilus.schema_history_exists('acme', 'orders')::jsonb, '{"pipeline_name": "orders", "exists": true}', 'exists: true');
SELECT is(nilus.schema_history_exists('acme', 'users')::jsonb ->> 'exists', 'false', 'exists of another pipeline: false');
SELECT is(nilus.schema_history_exists('globex', 'orders')::jsonb ->> 'exists', 'false', 'exists of the same pipeline in another tenant: false');

SELECT is(nilus.store_schema_history('acme', 'orders', '{"resource_id": "res-1", "connector_name": "conn-a",
              "records": [{"history_data": "fourth"}, {"history_data": "fifth"}]}')::jsonb, '{"stored": 2}', 'a second batch');
SELECT is((SELECT array_agg(r ->> 'history_data' ORDER BY n)
             FROM json_array_elements(nilus.get_schema_history('acme', 'orders') -> 'records') WITH ORDINALITY AS e(r, n)),
          ARRAY['{"ddl": "CREATE TABLE a (id int)"}', :'odd', '', 'fourth', 'fifth'], 'the second batch follows the first');
SELECT is((SELECT array_agg(history_data_seq ORDER BY record_insert_seq) FROM nilus.cdc_schema_history WHERE tenant = 'acme'),
          ARRAY[0, 1, 2, 0, 1], 'history_data_seq: the position within its batch');

-- Retries and conflicts by id.
SELECT pg_temp.fingerprint() AS before_retry \gset
SELECT is(nilus.store_schema_history('acme', 'orders', jsonb_build_object('resource_id', 'res-1', 'connector_name', 'conn-a',
              'records', jsonb_build_array(
                  jsonb_build_object('history_data', :'odd', 'id', '11000000-0000-0000-0000-000000000002'),
                  jsonb_build_object('history_data', '{"ddl": "CREATE TABLE a (id int)"}', 'id', '11000000-0000-0000-0000-000000000001'))))::jsonb,
          '{"stored": 0}', 'a retried batch (even reordered): stored 0');
SELECT is(pg_temp.fingerprint(), :'before_retry', 'a retried batch changes nothing');
SELECT pg_temp.rejects($$SELECT nilus.store_schema_history('acme', 'orders', '{"resource_id": "res-1", "connector_name": "conn-a",
              "records": [{"history_data": "new"}, {"history_data": "changed", "id": "11000000-0000-0000-0000-000000000003"}]}')$$,
                       '23505 records[1].id', 'an id already stored with other content');

-- Many batches of many sizes come back in the order written.
SELECT nilus.store_schema_history('acme', 'long', jsonb_build_object('resource_id', 'res-2', 'connector_name', 'conn-b',
           'records', (SELECT jsonb_agg(jsonb_build_object('history_data', format('batch %s record %s', b, i)) ORDER BY i)
                         FROM generate_series(1, 1 + (b * 7) % 11) AS i)))
  FROM generate_series(1, 40) AS b \g /dev/null
SELECT is((SELECT array_agg(r ->> 'history_data' ORDER BY n)
             FROM json_array_elements(nilus.get_schema_history('acme', 'long') -> 'records') WITH ORDINALITY AS e(r, n)),
          (SELECT array_agg(format('batch %s record %s', b, i) ORDER BY b, i)
             FROM generate_series(1, 40) AS b, generate_series(1, 1 + (b * 7) % 11) AS i),
          '40 batches of 1 to 11 records: read back in insertion order');

-- Every bad batch stores nothing.
SELECT pg_temp.rejects(format('SELECT nilus.store_schema_history(%L, %L, %L)', tenant, pipeline, body), expected, why)
  FROM (VALUES
    ('acme', 'orders', '{"resource_id": "r", "connector_name": "c", "records": [{"history_data": "a"}, {"history_data": "b"}, {"id": "11000000-0000-0000-0000-0000000000ff"}]}',
     '22023 records[2].history_data', 'the third record without history_data'),
    ('acme', 'orders', '{"resource_id": "r", "connector_name": "c", "records": [{"history_data": "a"}, {"history_data": null}]}',
     '22023 records[1].history_data', 'history_data null'),
    ('acme', 'orders', '{"resource_id": "r", "connector_name": "c", "records": [{"history_data": {"ddl": "x"}}]}',
     '22023 records[0].history_data', 'history_data an object, not its text'),
    ('acme', 'orders', '{"resource_id": "r", "connector_name": "c", "records": [{"history_data": "a", "id": "x"}]}',
     '22P02 records[0].id', 'an id that is no UUID'),
    ('acme', 'orders', '{"resource_id": "r", "connector_name": "c", "records": [{"history_data": "a", "offset_key": "k"}]}',
     '22023 records[0].offset_key', 'a record with an unknown field'),
    ('acme', 'orders', '{"resource_id": "r", "connector_name": "c", "records": ["a"]}', '22023 records[0]', 'a record that is no object'),
    ('acme', 'orders', '{"resource_id": "r", "connector_name": "c", "records": "a"}', '22023 records', 'records a string'),
    ('acme', 'orders', '{"resource_id": "r", "connector_name": "c"}', '22023 records', 'records missing'),
    ('acme', 'orders', '{"connector_name": "c", "records": [{"history_data": "a"}]}', '22023 resource_id', 'resource_id missing'),
    ('acme', 'orders', '{"resource_id": "r", "records": [{"history_data": "a"}]}', '22023 connector_name', 'connector_name missing'),
    ('acme', 'orders', '{"resource_id": "r", "connector_name": "c", "offsets": [{"history_data": "a"}]}', '22023 offsets', 'offsets instead of records'),
    ('acme', '', '{"resource_id": "r", "connector_name": "c", "records": [{"history_data": "a"}]}', '22023 pipeline_name', 'empty pipeline_name'),
    ('', 'orders', '{"resource_id": "r", "connector_name": "c", "records": [{"history_data": "a"}]}', '22023 tenant', 'empty tenant')
  ) AS bad(tenant, pipeline, body, expected, why);
SELECT pg_temp.rejects(statement, expected, statement)
  FROM (VALUES ($$SELECT nilus.store_schema_history('acme', 'orders', NULL)$$, '22023 body'),
               ($$SELECT nilus.get_schema_history('acme', '')$$, '22023 pipeline_name'),
               ($$SELECT nilus.schema_history_exists('acme', NULL)$$, '22023 pipeline_name')) AS bad(statement, expected);

-- A record of several MiB, byte for byte (its own tenant, after the
-- bad batches, so that the checks of "nothing changed" need not hash it).
CREATE TEMP TABLE big ON COMMIT DROP AS
SELECT string_agg(format('{"ddl": "CREATE TABLE \"t%s\" (c text DEFAULT ''\\"%s\\"'')", "pos": %s}', i, md5(i::text), i), E'\n') AS data
  FROM generate_series(1, 60000) AS i;
SELECT cmp_ok((SELECT octet_length(data) FROM big), '>', 5 * 1024 * 1024, 'the big record is over 5 MiB');
SELECT is(nilus.store_schema_history('bigco', 'big', jsonb_build_object('resource_id', 'res-3', 'connector_name', 'conn-c',
              'records', jsonb_build_array(jsonb_build_object('history_data', 'before'),
                                           jsonb_build_object('history_data', data),
                                           jsonb_build_object('history_data', 'after'))))::jsonb,
          '{"stored": 3}', 'a batch holding the big record')
  FROM big;
SELECT is((SELECT md5(history_data) FROM nilus.cdc_schema_history WHERE tenant = 'bigco' AND pipeline_name = 'big' AND history_data_seq = 1),
          (SELECT md5(data) FROM big), 'stored byte for byte');
SELECT is((SELECT md5(r ->> 'history_data') FROM json_array_elements(nilus.get_schema_history('bigco', 'big') -> 'records') WITH ORDINALITY AS e(r, n) WHERE n = 2),
          (SELECT md5(data) FROM big), 'get_schema_history returns it byte for byte');
SELECT is((SELECT array_agg(left(r ->> 'history_data', 6) ORDER BY n) FROM json_array_elements(nilus.get_schema_history('bigco', 'big') -> 'records') WITH ORDINALITY AS e(r, n)),
          ARRAY['before', '{"ddl"', 'after'], 'in its place among its neighbours');
SELECT is((SELECT md5(r ->> 'history_data') FROM json_array_elements(nilus.list_cdc_schema_history('bigco') -> 'schema_history') r
            WHERE (r ->> 'history_data_seq')::int = 1),
          (SELECT md5(data) FROM big), 'list_cdc_schema_history returns it byte for byte');

-- list_cdc_schema_history on a randomized history.
SELECT setseed(0.61) \g /dev/null
SELECT nilus.store_schema_history(t, 'pipe-' || (b % 3), jsonb_build_object(
           'resource_id', 'res-' || (1 + b % 2), 'connector_name', 'conn-' || chr(97 + (b / 2) % 3),
           'records', (SELECT jsonb_agg(jsonb_build_object('history_data', '{"ddl": "' || md5(random()::text) || '"}'))
                         FROM generate_series(1, 1 + floor(random() * 6)::int) AS i)))
  FROM unnest(ARRAY['acme', 'globex']) AS t, generate_series(1, 60) AS b \g /dev/null
SELECT pg_temp.spread_insert_ts('cdc_schema_history') \g /dev/null

SELECT is(nilus.list_cdc_schema_history('acme', "limit" => 5, "offset" => 1)::jsonb,
          jsonb_build_object('schema_history', pg_temp.cdc_page('cdc_schema_history', 'acme', NULL, NULL, NULL, NULL, NULL, 5, 1),
                             'limit', 5, 'offset', 1,
                             'total', (SELECT count(*) FROM nilus.cdc_schema_history WHERE tenant = 'acme')),
          'the whole body: items under "schema_history", limit, offset, total');
SELECT is((nilus.list_cdc_schema_history('acme', c.resource_id, c.connector_name, c.gte, c.lte)::jsonb ->> 'total')::int,
          jsonb_array_length(pg_temp.cdc_page('cdc_schema_history', 'acme', c.resource_id, c.connector_name, NULL, c.gte, c.lte, 100000, 0)),
          'total = count(*): ' || c.label)
  FROM pg_temp.cdc_cases(false) c;
SELECT is(nilus.list_cdc_schema_history('acme', c.resource_id, c.connector_name, c.gte, c.lte, 10, 3)::jsonb -> 'schema_history',
          pg_temp.cdc_page('cdc_schema_history', 'acme', c.resource_id, c.connector_name, NULL, c.gte, c.lte, 10, 3),
          'page (limit 10, offset 3), newest first: ' || c.label)
  FROM pg_temp.cdc_cases(false) c;
SELECT is((SELECT coalesce(jsonb_agg(item ORDER BY n), '[]') FROM pg_temp.walk_pages(
              format('SELECT nilus.list_cdc_schema_history(%L, %L, %L, %L::timestamptz, %L::timestamptz, %%s, %%s)',
                     'acme', c.resource_id, c.connector_name, c.gte, c.lte),
              'schema_history', 11) WITH ORDINALITY AS w(item, n)),
          pg_temp.cdc_page('cdc_schema_history', 'acme', c.resource_id, c.connector_name, NULL, c.gte, c.lte, 100000, 0),
          'pages of 11 walked end to end: every record once, in order: ' || c.label)
  FROM pg_temp.cdc_cases(false) c WHERE c.label IN ('no filter, no range', 'res-1, gte and lte', 'conn-b, lte');

SELECT * FROM finish();
ROLLBACK;
