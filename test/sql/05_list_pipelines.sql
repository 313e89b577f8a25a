-- list_pipelines: a tenant's runs, newest started_at first (run_id breaking
-- ties), every filter, exact totals equal to count(*) on randomized data,
-- pages walked end to end without skip or repeat.
BEGIN;
\ir lib/helpers.psql
SELECT plan(388);
-- started_at=YYYY-MM-DD is a UTC day whatever the session's zone.
SET LOCAL TimeZone = 'America/New_York';

-- The exact body, on three runs of their own tenant.
SELECT nilus.store_run('tiny', b) FROM unnest(ARRAY[
    '{"run_id": "05000000-0000-0000-0000-00000000000a", "resource_id": "res-1", "pipeline_name": "orders",
      "run_as_user": "alice", "started_at": "2026-11-28T10:15:00Z", "finished_at": "2026-11-28T10:16:30.5Z",
      "is_success": true, "records": {"extracted": 3, "loaded": 3}, "metadata": {"k": "v"}}',
    '{"run_id": "05000000-0000-0000-0000-00000000000b", "resource_id": "res-2", "pipeline_name": "users",
      "started_at": "2026-11-28T10:15:00Z", "is_success": false, "error": "boom", "duration_sec": 12.5}',
    '{"run_id": "05000000-0000-0000-0000-00000000000c", "resource_id": "res-1", "pipeline_name": "orders",
      "run_as_user": "bob", "started_at": "2026-11-27T08:00:00.123Z"}']::jsonb[]) AS b \g /dev/null

\set run_a '{"run_id": "05000000-0000-0000-0000-00000000000a", "resource_id": "res-1", "pipeline_name": "orders", "run_as_user": "alice", "started_at": "2026-11-28T10:15:00Z", "finished_at": "2026-11-28T10:16:30.5Z", "is_success": true, "duration_sec": 90.5, "error": null, "records": {"extracted": 3, "loaded": 3}, "metadata": {"k": "v"}}'
\set run_b '{"run_id": "05000000-0000-0000-0000-00000000000b", "resource_id": "res-2", "pipeline_name": "users", "run_as_user": null, "started_at": "2026-11-28T10:15:00Z", "finished_at": null, "is_success": false, "duration_sec": 12.5, "error": "boom", "records": null, "metadata": {}}'
\set run_c '{"run_id": "05000000-0000-0000-0000-00000000000c", "resource_id": "res-1", "pipeline_name": "orders", "run_as_user": "bob", "started_at": "2026-11-27T08:00:00.123Z", "finished_at": null, "is_success": null, "duration_sec": null, "error": null, "records": null, "metadata": {}}'

SELECT is(nilus.list_pipelines('tiny')::jsonb,
          jsonb_build_object('pipelines', jsonb_build_array(:'run_b'::jsonb, :'run_a'::jsonb, :'run_c'::jsonb),
                             'limit', 50, 'offset', 0, 'total', 3),
          'the whole body: runs newest first, run_id DESC within the same started_at, limit 50, offset 0, total');
SELECT is(nilus.list_pipelines('tiny', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)::jsonb,
          nilus.list_pipelines('tiny')::jsonb, 'every optional argument NULL = not given');
SELECT is(nilus.list_pipelines('tiny', "limit" => 2)::jsonb,
          jsonb_build_object('pipelines', jsonb_build_array(:'run_b'::jsonb, :'run_a'::jsonb),
                             'limit', 2, 'offset', 0, 'total', 3), 'limit 2: first page');
SELECT is(nilus.list_pipelines('tiny', "limit" => 2, "offset" => 2)::jsonb,
          jsonb_build_object('pipelines', jsonb_build_array(:'run_c'::jsonb), 'limit', 2, 'offset', 2, 'total', 3),
          'limit 2 offset 2: last page');
SELECT is(nilus.list_pipelines('tiny', "offset" => 3)::jsonb,
          '{"pipelines": [], "limit": 50, "offset": 3, "total": 3}', 'an offset at the end: no items, same total');
SELECT is(nilus.list_pipelines('tiny', "offset" => 2147483647)::jsonb,
          '{"pipelines": [], "limit": 50, "offset": 2147483647, "total": 3}', 'the largest offset');
SELECT is(nilus.list_pipelines('tiny', is_success => false)::jsonb,
          jsonb_build_object('pipelines', jsonb_build_array(:'run_b'::jsonb), 'limit', 50, 'offset', 0, 'total', 1),
          'is_success => false: only failed runs (not running ones)');
SELECT is(nilus.list_pipelines('tiny', run_as_user => 'bob', resource_id => 'res-1')::jsonb,
          jsonb_build_object('pipelines', jsonb_build_array(:'run_c'::jsonb), 'limit', 50, 'offset', 0, 'total', 1),
          'run_as_user and resource_id together');
SELECT is(nilus.list_pipelines('tiny', started_at => '2026-11-27')::jsonb -> 'pipelines',
          jsonb_build_array(:'run_c'::jsonb), 'started_at as a date: that UTC day');
SELECT is(nilus.list_pipelines('tiny', started_at => '2026-11-28T11:15:00+01:00')::jsonb -> 'pipelines',
          jsonb_build_array(:'run_b'::jsonb, :'run_a'::jsonb), 'started_at as a timestamp: that exact instant');
SELECT is(nilus.list_pipelines('tiny', started_at => '2026-11-27T08:00:00.123Z')::jsonb ->> 'total',
          '1', 'started_at exact to the millisecond');
SELECT is(nilus.list_pipelines('tiny', started_at => '2026-11-27T08:00:00Z')::jsonb ->> 'total',
          '0', 'started_at exact: a different instant matches nothing');
SELECT is(nilus.list_pipelines('tiny', started_at_gte => '2026-11-28 10:15:00+00', started_at_lte => '2026-11-28 10:15:00+00')::jsonb ->> 'total',
          '2', 'started_at_gte and started_at_lte are inclusive');
SELECT is(nilus.list_pipelines('tiny', started_at_gte => '2026-11-28 10:15:00.000001+00')::jsonb ->> 'total',
          '0', 'started_at_gte one microsecond later excludes');
SELECT is(nilus.list_pipelines('tiny', started_at_lte => '2026-11-28 10:14:59.999999+00')::jsonb ->> 'total',
          '1', 'started_at_lte one microsecond earlier excludes');
SELECT is(nilus.list_pipelines('nobody-here')::jsonb, '{"pipelines": [], "limit": 50, "offset": 0, "total": 0}',
          'a tenant without runs: empty list, total 0');
SELECT is(nilus.list_pipelines('tiny', "limit" => 1)::jsonb -> 'pipelines', jsonb_build_array(:'run_b'::jsonb), 'limit 1');
SELECT is(json_array_length(nilus.list_pipelines('tiny', "limit" => 1000) -> 'pipelines'), 3, 'limit 1000');
SELECT matches(nilus.list_pipelines('tiny', started_at => '2026-11-27')::text,
               '"started_at":"2026-11-27T08:00:00.123Z"', 'timestamps are written as RFC 3339 UTC text');

-- Randomized history: two tenants, one must never show in the other's listing.
SELECT pg_temp.random_runs('acme', 400, 0.42) \g /dev/null
SELECT pg_temp.random_runs('globex', 80, -0.3) \g /dev/null
SELECT cmp_ok((SELECT count(*) FROM nilus.pipeline_run WHERE tenant = 'acme'), '>', 300::bigint, 'acme has a few hundred runs');
SELECT cmp_ok((SELECT count(*) FROM nilus.pipeline_run WHERE tenant = 'acme' AND started_at = pg_temp.tie_start()),
              '>=', 30::bigint, 'many acme runs share one started_at');
SELECT cmp_ok((SELECT count(*) FROM pg_temp.filter_cases() c
                WHERE EXISTS (SELECT FROM pg_temp.runs_matching('acme', c.run_as_user, c.is_success, c.resource_id,
                                                                 c.started_at, c.started_at_gte, c.started_at_lte))),
              '>=', 100::bigint, 'most filter cases select runs');

SELECT is((nilus.list_pipelines('acme', c.run_as_user, c.is_success, c.resource_id, c.started_at,
                                 c.started_at_gte, c.started_at_lte)::jsonb ->> 'total')::bigint,
          (SELECT count(*) FROM pg_temp.runs_matching('acme', c.run_as_user, c.is_success, c.resource_id,
                                                      c.started_at, c.started_at_gte, c.started_at_lte)),
          'total = count(*): ' || c.label)
  FROM pg_temp.filter_cases() c;

SELECT is(nilus.list_pipelines('acme', c.run_as_user, c.is_success, c.resource_id, c.started_at,
                               c.started_at_gte, c.started_at_lte, 25, 3)::jsonb -> 'pipelines',
          pg_temp.run_page('acme', c.run_as_user, c.is_success, c.resource_id, c.started_at,
                           c.started_at_gte, c.started_at_lte, 25, 3),
          'page (limit 25, offset 3) = the runs in order: ' || c.label)
  FROM pg_temp.filter_cases() c;

-- A range ending at now: the hour of now comes from its rollup row when no run of
-- the filter lies after the range in that hour, and run by run when one does.
SELECT nilus.store_run('now-edge', pg_temp.run_body(md5('now-edge' || i)::uuid, r, s,
                                                    jsonb_build_object('run_as_user', u, 'is_success', o)))
  FROM (VALUES (1, 'res-1', 'alice', true, now()),
               (2, 'res-1', 'bob', false, now() - interval '1 microsecond'),
               (3, 'res-2', 'alice', false, greatest(date_trunc('hour', now()), now() - interval '10 minutes')),
               (4, 'res-2', 'bob', true, now() - interval '2 hours'),
               (5, 'res-1', 'alice', false, now() + interval '1 microsecond'),
               (6, 'res-2', 'bob', true, now() + interval '1 microsecond')) AS t(i, r, u, o, s) \g /dev/null
CREATE TEMP TABLE now_filters (label text, run_as_user text, is_success boolean, resource_id text);
INSERT INTO now_filters VALUES ('no filter', NULL, NULL, NULL), ('failed', NULL, false, NULL),
                               ('res-1', NULL, NULL, 'res-1'), ('alice', 'alice', NULL, NULL);
CREATE FUNCTION pg_temp.now_totals_match(stage text) RETURNS SETOF text LANGUAGE sql AS $$
    SELECT is((nilus.list_pipelines('now-edge', f.run_as_user, f.is_success, f.resource_id,
                                    started_at_gte => now() - interval '1 day',
                                    started_at_lte => now())::jsonb ->> 'total')::bigint,
              (SELECT count(*) FROM pg_temp.runs_matching('now-edge', f.run_as_user, f.is_success, f.resource_id,
                                                          NULL, now() - interval '1 day', now())),
              'range ending at now, ' || stage || ': total = count(*): ' || f.label)
      FROM now_filters f
$$;
SELECT pg_temp.now_totals_match('runs a microsecond after now');
DELETE FROM nilus.pipeline_run WHERE run_id = md5('now-edge5')::uuid;
SELECT pg_temp.now_totals_match('one after now left (res-2, bob, succeeded)');
DELETE FROM nilus.pipeline_run WHERE run_id = md5('now-edge6')::uuid;
SELECT pg_temp.now_totals_match('none after now');

-- Pages walked end to end, page boundaries falling inside the tied runs.
SELECT is((SELECT jsonb_agg(item ORDER BY n) FROM pg_temp.walk_pages(
              format('SELECT nilus.list_pipelines(%L, %L, %L::boolean, %L, %L, %L::timestamptz, %L::timestamptz, %%s, %%s)',
                     'acme', c.run_as_user, c.is_success, c.resource_id, c.started_at, c.started_at_gte, c.started_at_lte),
              'pipelines', 7) WITH ORDINALITY AS w(item, n)),
          pg_temp.run_page('acme', c.run_as_user, c.is_success, c.resource_id, c.started_at,
                           c.started_at_gte, c.started_at_lte, 100000, 0),
          'pages of 7 walked end to end: every run once, in order: ' || c.label)
  FROM pg_temp.filter_cases() c
 WHERE c.label IN ('no filter, no range', 'failed, no range', 'res-a, gte and lte mid-hour',
                   'bob, last 400 days', 'no filter, within one hour', 'no filter, exactly the tied instant');

SELECT * FROM finish();
ROLLBACK;
