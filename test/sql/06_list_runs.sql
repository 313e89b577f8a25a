-- list_runs: one resource's runs, the same listing as list_pipelines with
-- resource_id in the path; many runs sharing one started_at are paged in
-- run_id order without skip or repeat.
BEGIN;
\ir lib/helpers.psql
\ir lib/nested_calls.psql
SELECT plan(203);

-- 120 runs of one resource, all started at the same instant, and one other.
SELECT nilus.store_run('acme', pg_temp.run_body(md5('tie' || i)::uuid, 'res-tie', '2026-11-28 10:15:00+00',
                                                jsonb_build_object('run_as_user', 'user-' || (i % 3))))
  FROM generate_series(1, 120) AS i \g /dev/null
SELECT nilus.store_run('acme', pg_temp.run_body('06000000-0000-0000-0000-000000000001', 'res-tie', '2026-11-28 10:15:00.000001+00')) \g /dev/null

SELECT is(nilus.list_runs('acme', 'res-tie', "limit" => 2)::jsonb,
          jsonb_build_object('runs', (SELECT jsonb_agg(pg_temp.run_json(r) ORDER BY started_at DESC, run_id DESC)
                                        FROM (SELECT * FROM nilus.pipeline_run WHERE resource_id = 'res-tie'
                                               ORDER BY started_at DESC, run_id DESC LIMIT 2) r),
                             'limit', 2, 'offset', 0, 'total', 121),
          'the whole body: items under "runs", limit, offset, total');
SELECT is(nilus.list_runs('acme', 'res-tie', "limit" => 1)::jsonb -> 'runs' -> 0 ->> 'run_id',
          '06000000-0000-0000-0000-000000000001', 'one microsecond later is newer');
SELECT is((SELECT array_agg(item ->> 'run_id' ORDER BY n)
             FROM pg_temp.walk_pages($$SELECT nilus.list_runs('acme', 'res-tie', "limit" => %s, "offset" => %s)$$,
                                     'runs', page) WITH ORDINALITY AS w(item, n)),
          (SELECT array_agg(run_id::text ORDER BY started_at DESC, run_id DESC)
             FROM nilus.pipeline_run WHERE tenant = 'acme' AND resource_id = 'res-tie'),
          format('121 runs with (nearly) one started_at, pages of %s: each once, run_id descending', page))
  FROM unnest(ARRAY[1, 7, 50, 120, 121, 1000]) AS page;
SELECT is((SELECT array_agg(item ->> 'run_id' ORDER BY n)
             FROM pg_temp.walk_pages($$SELECT nilus.list_runs('acme', 'res-tie', run_as_user => 'user-1', "limit" => %s, "offset" => %s)$$,
                                     'runs', 9) WITH ORDINALITY AS w(item, n)),
          (SELECT array_agg(run_id::text ORDER BY started_at DESC, run_id DESC)
             FROM nilus.pipeline_run WHERE tenant = 'acme' AND resource_id = 'res-tie' AND run_as_user = 'user-1'),
          'tied runs of one user, pages of 9: each once, in order');
SELECT is(nilus.list_runs('acme', 'res-none')::jsonb, '{"runs": [], "limit": 50, "offset": 0, "total": 0}',
          'a resource without runs: empty list');
SELECT is(nilus.list_runs('acme', 'res-tie', NULL, NULL, NULL, NULL, NULL, NULL, NULL)::jsonb,
          nilus.list_runs('acme', 'res-tie')::jsonb, 'every optional argument NULL = not given');

-- Randomized history: list_runs(r) is list_pipelines(resource_id => r).
SELECT pg_temp.random_runs('acme', 300, 0.17) \g /dev/null
SELECT pg_temp.random_runs('globex', 50, 0.9) \g /dev/null

SELECT is(nilus.list_runs('acme', r, "limit" => 1000)::jsonb -> 'runs',
          nilus.list_pipelines('acme', resource_id => r, "limit" => 1000)::jsonb -> 'pipelines',
          'list_runs(' || r || ') lists what list_pipelines(resource_id => ' || r || ') does')
  FROM unnest(ARRAY['res-a', 'res-b', 'res-c', 'res-tie']) AS r;

SELECT is((nilus.list_runs('acme', c.resource_id, c.run_as_user, c.is_success, c.started_at,
                            c.started_at_gte, c.started_at_lte)::jsonb ->> 'total')::bigint,
          (SELECT count(*) FROM pg_temp.runs_matching('acme', c.run_as_user, c.is_success, c.resource_id,
                                                      c.started_at, c.started_at_gte, c.started_at_lte)),
          'total = count(*): ' || c.label)
  FROM pg_temp.filter_cases() c WHERE c.resource_id IS NOT NULL;

SELECT is(nilus.list_runs('acme', c.resource_id, c.run_as_user, c.is_success, c.started_at,
                          c.started_at_gte, c.started_at_lte, 10, 2)::jsonb -> 'runs',
          pg_temp.run_page('acme', c.run_as_user, c.is_success, c.resource_id, c.started_at,
                           c.started_at_gte, c.started_at_lte, 10, 2),
          'page (limit 10, offset 2) = the runs in order: ' || c.label)
  FROM pg_temp.filter_cases() c WHERE c.resource_id IS NOT NULL;

SELECT is((SELECT jsonb_agg(item ORDER BY n) FROM pg_temp.walk_pages(
              format('SELECT nilus.list_runs(%L, %L, %L, %L::boolean, %L, %L::timestamptz, %L::timestamptz, %%s, %%s)',
                     'acme', c.resource_id, c.run_as_user, c.is_success, c.started_at, c.started_at_gte, c.started_at_lte),
              'runs', 6) WITH ORDINALITY AS w(item, n)),
          pg_temp.run_page('acme', c.run_as_user, c.is_success, c.resource_id, c.started_at,
                           c.started_at_gte, c.started_at_lte, 100000, 0),
          'pages of 6 walked end to end: every run once, in order: ' || c.label)
  FROM pg_temp.filter_cases() c
 WHERE c.label IN ('res-a, no range', 'res-a, lte mid-hour', 'res-b succeeded, no range',
                   'alice on res-c, last 400 days', 'res-a, exactly the tied instant');

-- resource_id is the path's: required.
SELECT pg_temp.raises(statement, '22023 resource_id', statement)
  FROM unnest(ARRAY[$$SELECT nilus.list_runs('acme', NULL)$$, $$SELECT nilus.list_runs('acme', '')$$,
                    format('SELECT nilus.list_runs(%L, %L)', 'acme', repeat('r', 256))]) AS statement;

SELECT * FROM finish();
ROLLBACK;
