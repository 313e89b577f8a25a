-- CDC offsets: a POST is one atomic batch; records keep their array order
-- (the last record of a key is its latest); retried ids store nothing
-- twice; get_offsets answers the latest record per key; list_cdc_offsets
-- lists every record newest first with exact totals.
BEGIN;
\ir lib/helpers.psql
\ir lib/nested_calls.psql
SELECT plan(151);

-- get_offsets of a pipeline without offsets.
SELECT is(nilus.get_offsets('acme', 'orders')::jsonb, '{"pipeline_name": "orders", "offsets": []}',
          'no offsets yet: an empty list');

-- A batch: keys in array order, one key twice.
SELECT is(nilus.store_offsets('acme', 'orders', '{"resource_id": "res-1", "connector_name": "conn-a", "offsets": [
              {"offset_key": "{\"server\": \"db1\"}", "offset_val": "{\"lsn\": 100}", "id": "10000000-0000-0000-0000-000000000001"},
              {"offset_key": "{\"server\": \"db2\"}", "offset_val": "{\"lsn\": 7}", "id": "10000000-0000-0000-0000-000000000002"},
              {"offset_key": "{\"server\": \"db1\"}", "offset_val": "{\"lsn\": 150}", "id": "10000000-0000-0000-0000-000000000003"}]}')::jsonb,
          '{"stored": 3}', 'a batch of three records: stored 3');
SELECT is(nilus.get_offsets('acme', 'orders')::jsonb,
          jsonb_build_object('pipeline_name', 'orders', 'offsets', jsonb_build_array(
              jsonb_build_object('offset_key', '{"server": "db1"}', 'offset_val', '{"lsn": 150}', 'connector_name', 'conn-a',
                                 'record_insert_ts', pg_temp.rfc3339(now())),
              jsonb_build_object('offset_key', '{"server": "db2"}', 'offset_val', '{"lsn": 7}', 'connector_name', 'conn-a',
                                 'record_insert_ts', pg_temp.rfc3339(now())))),
          'get_offsets: one record per key, the last of the batch for a repeated key');
SELECT is((SELECT array_agg(id::text ORDER BY record_insert_seq) FROM nilus.cdc_offset WHERE tenant = 'acme'),
          ARRAY['10000000-0000-0000-0000-000000000001', '10000000-0000-0000-0000-000000000002',
                '10000000-0000-0000-0000-000000000003'], 'record_insert_seq follows the array');
SELECT is((SELECT count(*) FROM nilus.cdc_offset WHERE tenant = 'acme'), 3::bigint, 'records are appended, none rewritten');

-- A later batch supersedes one key; the other key stays.
SELECT is(nilus.store_offsets('acme', 'orders', '{"resource_id": "res-1", "connector_name": "conn-b", "offsets": [
              {"offset_key": "{\"server\": \"db2\"}", "offset_val": "{\"lsn\": 8}"}]}')::jsonb,
          '{"stored": 1}', 'a record without id is stored (the server makes the id)');
SELECT is((SELECT jsonb_object_agg(o ->> 'offset_key', o -> 'offset_val') FROM json_array_elements(nilus.get_offsets('acme', 'orders') -> 'offsets') o),
          '{"{\"server\": \"db1\"}": "{\"lsn\": 150}", "{\"server\": \"db2\"}": "{\"lsn\": 8}"}',
          'the later batch''s record is the latest of its key');
SELECT is((SELECT o ->> 'connector_name' FROM json_array_elements(nilus.get_offsets('acme', 'orders') -> 'offsets') o
            WHERE o ->> 'offset_key' = '{"server": "db2"}'), 'conn-b', 'with its own connector_name');
SELECT ok((SELECT id IS NOT NULL FROM nilus.cdc_offset WHERE tenant = 'acme' AND offset_val = '{"lsn": 8}'), 'the generated id is stored');

-- Retries: the same ids store nothing twice.
SELECT pg_temp.fingerprint() AS before_retry \gset
SELECT is(nilus.store_offsets('acme', 'orders', '{"resource_id": "res-1", "connector_name": "conn-a", "offsets": [
              {"offset_key": "{\"server\": \"db1\"}", "offset_val": "{\"lsn\": 100}", "id": "10000000-0000-0000-0000-000000000001"},
              {"offset_key": "{\"server\": \"db2\"}", "offset_val": "{\"lsn\": 7}", "id": "10000000-0000-0000-0000-000000000002"},
              {"offset_key": "{\"server\": \"db1\"}", "offset_val": "{\"lsn\": 150}", "id": "10000000-0000-0000-0000-000000000003"}]}')::jsonb,
          '{"stored": 0}', 'a retried batch: stored 0');
SELECT is(pg_temp.fingerprint(), :'before_retry', 'a retried batch changes nothing (the latest offsets neither)');
SELECT is(nilus.store_offsets('acme', 'orders', '{"resource_id": "res-1", "connector_name": "conn-a", "offsets": [
              {"offset_key": "{\"server\": \"db2\"}", "offset_val": "{\"lsn\": 7}", "id": "10000000-0000-0000-0000-000000000002"},
              {"offset_key": "{\"server\": \"db2\"}", "offset_val": "{\"lsn\": 9}", "id": "10000000-0000-0000-0000-000000000004"}]}')::jsonb,
          '{"stored": 1}', 'a batch half retried: stored 1');
SELECT is((SELECT o ->> 'offset_val' FROM json_array_elements(nilus.get_offsets('acme', 'orders') -> 'offsets') o
            WHERE o ->> 'offset_key' = '{"server": "db2"}'), '{"lsn": 9}', 'its new record is the latest of its key');
SELECT is(nilus.store_offsets('globex', 'orders', '{"resource_id": "res-1", "connector_name": "conn-a", "offsets": [
              {"offset_key": "k", "offset_val": "v", "id": "10000000-0000-0000-0000-000000000001"}]}')::jsonb,
          '{"stored": 1}', 'the same id in another tenant is another record');
SELECT pg_temp.rejects($$SELECT nilus.store_offsets('acme', 'orders', '{"resource_id": "res-1", "connector_name": "conn-a", "offsets": [
              {"offset_key": "k-new", "offset_val": "v"},
              {"offset_key": "{\"server\": \"db1\"}", "offset_val": "{\"lsn\": 999}", "id": "10000000-0000-0000-0000-000000000001"}]}')$$,
                       '23505 offsets[1].id', 'an id already stored with other content');

-- Values: null and text of any shape round-trip; keys are per pipeline and tenant.
SELECT is(nilus.store_offsets('acme', 'values', jsonb_build_object('resource_id', 'res-1', 'connector_name', 'conn-a',
              'offsets', jsonb_build_array(jsonb_build_object('offset_key', 'null', 'offset_val', NULL),
                                           jsonb_build_object('offset_key', 'odd', 'offset_val', E'quote " backslash \\ newline \n tab \t ☃ \u0001'),
                                           jsonb_build_object('offset_key', 'empty', 'offset_val', ''))))::jsonb,
          '{"stored": 3}', 'offset_val null, odd characters, empty');
SELECT is((SELECT jsonb_object_agg(o ->> 'offset_key', o -> 'offset_val') FROM json_array_elements(nilus.get_offsets('acme', 'values') -> 'offsets') o),
          jsonb_build_object('null', NULL, 'odd', E'quote " backslash \\ newline \n tab \t ☃ \u0001', 'empty', ''),
          'they come back byte for byte, only this pipeline''s keys');
SELECT is(json_array_length(nilus.get_offsets('globex', 'values') -> 'offsets'), 0, 'another tenant''s pipeline of the same name has none');

-- Every bad batch stores nothing: not even its good records.
SELECT pg_temp.rejects(format('SELECT nilus.store_offsets(%L, %L, %L)', tenant, pipeline, body), expected, why)
  FROM (VALUES
    ('acme', 'orders', '{"resource_id": "r", "connector_name": "c", "offsets": [{"offset_key": "a", "offset_val": "1"}, {"offset_key": "b", "offset_val": "2"}, {"offset_val": "3"}]}',
     '22023 offsets[2].offset_key', 'the third record without offset_key'),
    ('acme', 'orders', '{"resource_id": "r", "connector_name": "c", "offsets": [{"offset_key": "a", "offset_val": "1"}, {"offset_key": "b", "id": "nope"}]}',
     '22P02 offsets[1].id', 'a record whose id is no UUID'),
    ('acme', 'orders', '{"resource_id": "r", "connector_name": "c", "offsets": [{"offset_key": "a", "offset_val": "1"}, "b"]}',
     '22023 offsets[1]', 'a record that is no object'),
    ('acme', 'orders', '{"resource_id": "r", "connector_name": "c", "offsets": [{"offset_key": "a", "offset_val": "1", "partition": 0}]}',
     '22023 offsets[0].partition', 'a record with an unknown field'),
    ('acme', 'orders', '{"resource_id": "r", "connector_name": "c", "offsets": [{"offset_key": "", "offset_val": "1"}]}',
     '22023 offsets[0].offset_key', 'an empty offset_key'),
    ('acme', 'orders', '{"resource_id": "r", "connector_name": "c", "offsets": [{"offset_key": {"server": "db1"}, "offset_val": "1"}]}',
     '22023 offsets[0].offset_key', 'offset_key an object, not its text'),
    ('acme', 'orders', '{"resource_id": "r", "connector_name": "c", "offsets": [{"offset_key": "a", "offset_val": 1}]}',
     '22023 offsets[0].offset_val', 'offset_val a number'),
    ('acme', 'orders', '{"connector_name": "c", "offsets": [{"offset_key": "a", "offset_val": "1"}]}', '22023 resource_id', 'resource_id missing'),
    ('acme', 'orders', '{"resource_id": "r", "offsets": [{"offset_key": "a", "offset_val": "1"}]}', '22023 connector_name', 'connector_name missing'),
    ('acme', 'orders', '{"resource_id": "r", "connector_name": "c"}', '22023 offsets', 'offsets missing'),
    ('acme', 'orders', '{"resource_id": "r", "connector_name": "c", "offsets": {"offset_key": "a"}}', '22023 offsets', 'offsets an object'),
    ('acme', 'orders', '{"resource_id": "", "connector_name": "c", "offsets": [{"offset_key": "a", "offset_val": "1"}]}', '22023 resource_id', 'resource_id empty'),
    ('acme', 'orders', '{"resource_id": "r", "connector_name": 5, "offsets": [{"offset_key": "a", "offset_val": "1"}]}', '22023 connector_name', 'connector_name a number'),
    ('acme', 'orders', '{"resource_id": "r", "connector_name": "c", "offsets": [], "flush": true}', '22023 flush', 'an unknown field'),
    ('acme', 'orders', '[{"offset_key": "a"}]', '22023 body', 'body an array'),
    ('acme', '', '{"resource_id": "r", "connector_name": "c", "offsets": [{"offset_key": "a", "offset_val": "1"}]}', '22023 pipeline_name', 'empty pipeline_name'),
    ('a:b', 'orders', '{"resource_id": "r", "connector_name": "c", "offsets": [{"offset_key": "a", "offset_val": "1"}]}', '22023 tenant', 'tenant with a colon')
  ) AS bad(tenant, pipeline, body, expected, why);
SELECT pg_temp.rejects(format('SELECT nilus.store_offsets(%L, %L, %L)', 'acme', 'orders',
                              jsonb_build_object('resource_id', 'r', 'connector_name', 'c', 'offsets',
                                                 (SELECT jsonb_agg(jsonb_build_object('offset_key', 'k' || i, 'offset_val', 'v'))
                                                    FROM generate_series(1, 500) i) || '[{"offset_key": null}]'::jsonb)),
                       '22023 offsets[500].offset_key', 'a bad record after 500 good ones');
SELECT pg_temp.rejects(statement, expected, statement)
  FROM (VALUES ($$SELECT nilus.store_offsets('acme', 'orders', NULL)$$, '22023 body'),
               ($$SELECT nilus.get_offsets('acme', '')$$, '22023 pipeline_name'),
               ($$SELECT nilus.get_offsets('acme', NULL)$$, '22023 pipeline_name')) AS bad(statement, expected);

-- list_cdc_offsets on a randomized history of batches.
SELECT setseed(0.25) \g /dev/null
SELECT nilus.store_offsets(t, 'pipe-' || (b % 4), jsonb_build_object(
           'resource_id', 'res-' || (1 + b % 2), 'connector_name', 'conn-' || chr(97 + b % 3),
           'offsets', (SELECT jsonb_agg(jsonb_build_object('offset_key', 'key-' || (1 + floor(random() * 5)),
                                                           'offset_val', '{"pos": ' || floor(random() * 1e6) || '}'))
                         FROM generate_series(1, 1 + b % 6) AS i)))
  FROM unnest(ARRAY['acme', 'globex']) AS t, generate_series(1, 60) AS b \g /dev/null
SELECT pg_temp.spread_insert_ts('cdc_offset') \g /dev/null
SELECT cmp_ok((SELECT count(*) FROM nilus.cdc_offset WHERE tenant = 'acme'), '>', 200::bigint, 'a few hundred offset records');

SELECT is(nilus.list_cdc_offsets('acme')::jsonb,
          jsonb_build_object('offsets', pg_temp.cdc_page('cdc_offset', 'acme', NULL, NULL, NULL, NULL, NULL, 50, 0),
                             'limit', 50, 'offset', 0,
                             'total', (SELECT count(*) FROM nilus.cdc_offset WHERE tenant = 'acme')),
          'the whole body: newest 50 records, limit, offset, total');
SELECT is((nilus.list_cdc_offsets('acme', c.resource_id, c.connector_name, c.offset_key, c.gte, c.lte)::jsonb ->> 'total')::int,
          jsonb_array_length(pg_temp.cdc_page('cdc_offset', 'acme', c.resource_id, c.connector_name, c.offset_key, c.gte, c.lte, 100000, 0)),
          'total = count(*): ' || c.label)
  FROM pg_temp.cdc_cases(true) c;
SELECT is(nilus.list_cdc_offsets('acme', c.resource_id, c.connector_name, c.offset_key, c.gte, c.lte, 20, 4)::jsonb -> 'offsets',
          pg_temp.cdc_page('cdc_offset', 'acme', c.resource_id, c.connector_name, c.offset_key, c.gte, c.lte, 20, 4),
          'page (limit 20, offset 4), newest first: ' || c.label)
  FROM pg_temp.cdc_cases(true) c;
SELECT is((SELECT coalesce(jsonb_agg(item ORDER BY n), '[]') FROM pg_temp.walk_pages(
              format('SELECT nilus.list_cdc_offsets(%L, %L, %L, %L, %L::timestamptz, %L::timestamptz, %%s, %%s)',
                     'acme', c.resource_id, c.connector_name, c.offset_key, c.gte, c.lte),
              'offsets', 13) WITH ORDINALITY AS w(item, n)),
          pg_temp.cdc_page('cdc_offset', 'acme', c.resource_id, c.connector_name, c.offset_key, c.gte, c.lte, 100000, 0),
          'pages of 13 walked end to end: every record once, in order: ' || c.label)
  FROM pg_temp.cdc_cases(true) c WHERE c.label IN ('no filter, no range', 'conn-b, gte and lte', 'key-3, lte');
SELECT is(nilus.list_cdc_offsets('acme', NULL, NULL, NULL, NULL, NULL, NULL, NULL)::jsonb,
          nilus.list_cdc_offsets('acme')::jsonb, 'every optional argument NULL = not given');

SELECT * FROM finish();
ROLLBACK;
