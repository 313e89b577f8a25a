-- resource_stats and run_series (rows for analysts) and tenant_stats and
-- pipeline_series (their JSON for the HTTP API) on randomized data: equal to
-- the plain aggregates over nilus.pipeline_run, resource_stats equal to
-- pipeline_stats row by row, under the same tenant checks and row-level
-- security; bad periods and buckets name their parameter.
BEGIN;
\ir lib/helpers.psql
SELECT plan(78);
-- Days are UTC days whatever the session's zone.
SET LOCAL TimeZone = 'America/New_York';

CREATE ROLE insight16_acme LOGIN IN ROLE nilus_analyst;
CREATE ROLE insight16_api LOGIN IN ROLE nilus_api;
INSERT INTO nilus.tenant_role VALUES ('acme', 'insight16_acme');
SELECT nilus.create_token('acme', ARRAY['read'], 'insight16-acme') AS acme_token \gset
SELECT nilus.create_token('acme', ARRAY['runtime'], 'insight16-runtime') AS runtime_token \gset

SELECT pg_temp.random_runs('acme', 700, 0.17);
SELECT pg_temp.random_runs('globex', 150, 0.71);
-- More resources, so that the order has failures and names to sort by: a
-- resource renamed by its newest run, one whose newest run still runs, one
-- with only a running run, one whose runs are all older than a week.
SELECT nilus.store_run('acme', pg_temp.run_body(md5('ins' || i)::uuid, r, now() - h * interval '1 hour', b))
  FROM (VALUES (1, 'res-d', 30, '{"is_success": false, "duration_sec": 3}'::jsonb),
               (2, 'res-d', 2, '{"is_success": true, "duration_sec": 5, "pipeline_name": "d-renamed"}'),
               (3, 'res-e', 5, '{"is_success": false}'), (4, 'res-e', 1, '{}'),
               (5, 'res-f', 3, '{}'),
               (6, 'res-g', 200, '{"is_success": false, "duration_sec": 7}'),
               (7, 'res-h', 4, '{"is_success": false, "duration_sec": 1}'),
               (8, 'res-h', 6, '{"is_success": false, "duration_sec": 2}')) AS t(i, r, h, b) \g /dev/null

-- The plain aggregates, written from doc/sql.md.  PL/pgSQL: Citus plans no
-- SQL function's parameterized query over distributed tables.
CREATE FUNCTION pg_temp.expected_resources(tenant text, span interval)
RETURNS TABLE (resource_id text, pipeline_name text, total_runs bigint, successful_runs bigint,
               failed_runs bigint, success_rate double precision, avg_duration_sec double precision,
               max_duration_sec double precision, last_started_at timestamptz, last_is_success boolean)
LANGUAGE plpgsql STABLE AS $$ BEGIN RETURN QUERY
    SELECT w.resource_id, last.pipeline_name, w.total, w.ok, w.failed,
           round(100.0 * w.ok / nullif(w.total, 0), 2)::float8, w.avg, w.max, last.started_at, last.is_success
      FROM (SELECT r.resource_id, count(*) FILTER (WHERE r.is_success IS NOT NULL) AS total,
                   count(*) FILTER (WHERE r.is_success) AS ok, count(*) FILTER (WHERE NOT r.is_success) AS failed,
                   round(avg(r.duration_sec::numeric) FILTER (WHERE r.is_success IS NOT NULL), 2)::float8 AS avg,
                   max(r.duration_sec) FILTER (WHERE r.is_success IS NOT NULL) AS max
              FROM nilus.pipeline_run r
             WHERE r.tenant = expected_resources.tenant AND r.started_at BETWEEN now() - span AND now()
             GROUP BY r.resource_id) w,
           LATERAL (SELECT n.pipeline_name, n.started_at, n.is_success FROM nilus.pipeline_run n
                     WHERE n.tenant = expected_resources.tenant AND n.resource_id = w.resource_id
                       AND n.started_at <= now()
                     ORDER BY n.started_at DESC, n.run_id DESC LIMIT 1) last
     ORDER BY w.failed DESC, last.pipeline_name, w.resource_id;
END $$;
CREATE FUNCTION pg_temp.expected_series(tenant text, resource_id text, span interval, width interval)
RETURNS TABLE (bucket_start timestamptz, total_runs bigint, successful_runs bigint, failed_runs bigint,
               avg_duration_sec double precision, max_duration_sec double precision)
LANGUAGE plpgsql STABLE AS $$ BEGIN RETURN QUERY
    SELECT b, count(r.run_id), count(r.run_id) FILTER (WHERE r.is_success),
           count(r.run_id) FILTER (WHERE NOT r.is_success),
           round(avg(r.duration_sec::numeric), 2)::float8, max(r.duration_sec)
      FROM generate_series(date_bin(width, now() - span, timestamptz '1970-01-01 00:00:00+00'),
                           date_bin(width, now(), timestamptz '1970-01-01 00:00:00+00'), width) AS b
      LEFT JOIN nilus.pipeline_run r
        ON r.tenant = expected_series.tenant
       AND (expected_series.resource_id IS NULL OR r.resource_id = expected_series.resource_id)
       AND r.is_success IS NOT NULL AND r.started_at BETWEEN now() - span AND now()
       AND date_bin(width, r.started_at, timestamptz '1970-01-01 00:00:00+00') = b
     GROUP BY b ORDER BY b;
END $$;
CREATE TEMP TABLE periods (period text, span interval) ON COMMIT DROP;
INSERT INTO periods VALUES ('90m', '90 minutes'), ('1h', '1 hour'), ('24h', '24 hours'), ('7d', '168 hours'),
    ('30d', '720 hours'), ('2w', '336 hours'), ('366d', '8784 hours');

-- resource_stats
SELECT is(array(SELECT s::text FROM nilus.resource_stats('acme', p.period) s),
          array(SELECT e::text FROM pg_temp.expected_resources('acme', p.span) e),
          'resource_stats ' || p.period || ' = the plain aggregate, most failures first, then by name')
  FROM periods p ORDER BY p.span;
SELECT is(array(SELECT s::text FROM nilus.resource_stats('acme') s),
          array(SELECT s::text FROM nilus.resource_stats('acme', '24h') s), 'period defaults to 24h');
SELECT ok((SELECT count(*) FROM nilus.resource_stats('acme', '30d')) >= 7, 'the 30d fixture lists at least 7 resources');
SELECT is(array(SELECT jsonb_build_object('total_runs', total_runs, 'successful_runs', successful_runs,
                                          'failed_runs', failed_runs, 'success_rate', success_rate,
                                          'avg_duration_sec', avg_duration_sec, 'max_duration_sec', max_duration_sec)
                  FROM nilus.resource_stats('acme', p.period) ORDER BY resource_id),
          array(SELECT nilus.pipeline_stats('acme', resource_id, p.period)::jsonb -> 'stats'
                  FROM nilus.resource_stats('acme', p.period) ORDER BY resource_id),
          'resource_stats ' || p.period || ' = pipeline_stats, row by row')
  FROM periods p ORDER BY p.span;
SELECT is((SELECT array_agg(DISTINCT nilus.pipeline_stats('acme', r, '7d')::jsonb -> 'stats' ->> 'total_runs')
             FROM unnest(ARRAY['res-a', 'res-b', 'res-c', 'res-d', 'res-e', 'res-f', 'res-g', 'res-h']) r
            WHERE r NOT IN (SELECT resource_id FROM nilus.resource_stats('acme', '7d'))),
          ARRAY['0'], 'a resource resource_stats leaves out has no finished run in pipeline_stats either');
SELECT is((SELECT s::text FROM nilus.resource_stats('acme', '24h') s WHERE resource_id = 'res-d'),
          format('(res-d,d-renamed,1,1,0,100,5,5,"%s",t)', now() - interval '2 hours'),
          'the name and last run are the newest run''s');
SELECT is((SELECT (total_runs, success_rate, avg_duration_sec, last_is_success)::text
             FROM nilus.resource_stats('acme', '24h') WHERE resource_id = 'res-f'),
          '(0,,,)', 'a resource with only a running run: listed, no finished run, running last');
SELECT is((SELECT (failed_runs, last_is_success)::text FROM nilus.resource_stats('acme', '24h') WHERE resource_id = 'res-e'),
          '(1,)', 'a failure counted, the newest run still running');
SELECT is((SELECT count(*) FROM nilus.resource_stats('acme', '7d') WHERE resource_id = 'res-g'), 0::bigint,
          'a resource without a run in the period is not listed');

-- run_series
CREATE TEMP TABLE series_cases (period text, bucket text, span interval, width interval) ON COMMIT DROP;
INSERT INTO series_cases VALUES ('90m', '1h', '90 minutes', '1 hour'), ('24h', '1h', '24 hours', '1 hour'),
    ('7d', '1h', '168 hours', '1 hour'), ('7d', '1d', '168 hours', '24 hours'), ('30d', '1d', '720 hours', '24 hours'),
    ('366d', '1d', '8784 hours', '24 hours'), ('3d', NULL, '72 hours', '1 hour'), ('8d', NULL, '192 hours', '24 hours');
SELECT is(array(SELECT s::text FROM nilus.run_series('acme', r, c.period, c.bucket) s),
          array(SELECT e::text FROM pg_temp.expected_series('acme', r, c.span, c.width) e),
          format('run_series %s %s of %s = the plain aggregate, every bucket, zeros where none finished',
                 c.period, coalesce(c.bucket, '(default)'), coalesce(r, 'the tenant')))
  FROM series_cases c, unnest(ARRAY[NULL, 'res-a', 'res-c']) r;
SELECT is((SELECT (sum(total_runs), sum(failed_runs), max(max_duration_sec))::text
             FROM nilus.run_series('acme', 'res-b', '30d', '1d')),
          (SELECT (s ->> 'total_runs', s ->> 'failed_runs', s ->> 'max_duration_sec')::text
             FROM (SELECT nilus.pipeline_stats('acme', 'res-b', '30d')::jsonb -> 'stats' AS s) x),
          'a series adds up to pipeline_stats over the same period');
SELECT is((SELECT count(*) FROM nilus.run_series('acme', 'res-none', '24h', '1h') WHERE total_runs = 0), 25::bigint,
          'a resource without runs: 25 hourly buckets over 24h, all zero');
SELECT is(array(SELECT s::text FROM nilus.run_series('acme', period => '2w') s),
          array(SELECT s::text FROM nilus.run_series('acme', NULL, '2w', '1d') s), 'named arguments; 2w defaults to 1d');

-- The JSON functions of the routes.
SELECT is(nilus.tenant_stats('acme', '30d', 3, 2)::jsonb,
          jsonb_build_object('period', '30d', 'period_start', pg_temp.rfc3339(now() - interval '720 hours'),
                             'period_end', pg_temp.rfc3339(now()),
                             'resources', (SELECT jsonb_agg(to_jsonb(e) || jsonb_build_object('last_started_at', pg_temp.rfc3339(e.last_started_at)))
                                             FROM (SELECT * FROM pg_temp.expected_resources('acme', '720 hours') OFFSET 2 LIMIT 3) e),
                             'limit', 3, 'offset', 2, 'total', (SELECT count(*) FROM pg_temp.expected_resources('acme', '720 hours'))),
          'tenant_stats: a page of resource_stats'' rows in its order, with the total');
SELECT is(array(SELECT i ->> 'resource_id' FROM pg_temp.walk_pages($$SELECT nilus.tenant_stats('acme', '366d', %s, %s)$$, 'resources', 2) i),
          array(SELECT resource_id FROM nilus.resource_stats('acme', '366d')), 'tenant_stats pages walk every row once, in order');
SELECT is(nilus.tenant_stats('acme')::jsonb - 'resources' - 'period_start' - 'period_end',
          jsonb_build_object('period', '24h', 'limit', 50, 'offset', 0,
                             'total', (SELECT count(*) FROM nilus.resource_stats('acme'))),
          'tenant_stats defaults: 24h, limit 50, offset 0');
SELECT is(nilus.pipeline_series('acme', 'res-a', '7d', '1d')::jsonb,
          jsonb_build_object('resource_id', 'res-a', 'period', '7d', 'bucket', '1d',
                             'period_start', pg_temp.rfc3339(now() - interval '168 hours'),
                             'period_end', pg_temp.rfc3339(now()),
                             'series', (SELECT jsonb_agg(to_jsonb(e) || jsonb_build_object('bucket_start', pg_temp.rfc3339(e.bucket_start))
                                                         ORDER BY e.bucket_start)
                                          FROM pg_temp.expected_series('acme', 'res-a', '168 hours', '24 hours') e)),
          'pipeline_series: run_series of the resource as JSON');
SELECT is(nilus.pipeline_series('acme', 'res-a')::jsonb ->> 'bucket', '1h', 'pipeline_series defaults: 24h in hours');

-- Bad input names its parameter.
SELECT pg_temp.raises(format('SELECT * FROM nilus.%s', call), expected, call)
  FROM (VALUES ($$resource_stats('acme', '0h')$$, '22023 period'), ($$resource_stats('acme', '367d')$$, '22023 period'),
               ($$resource_stats('acme', 'week')$$, '22023 period'), ($$run_series('acme', NULL, '5y')$$, '22023 period'),
               ($$run_series('acme', 'res-a', '7d', '1w')$$, '22023 bucket'), ($$run_series('acme', 'res-a', '7d', '')$$, '22023 bucket'),
               ($$run_series('acme', '', '7d')$$, '22023 resource_id'),
               ($$tenant_stats('acme', '24')$$, '22023 period'), ($$tenant_stats('acme', '7d', 0)$$, '22023 limit'),
               ($$tenant_stats('acme', '7d', 1001)$$, '22023 limit'), ($$tenant_stats('acme', '7d', 10, -1)$$, '22023 offset'),
               ($$pipeline_series('acme', 'res-a', '7d', '2h')$$, '22023 bucket'),
               ($$pipeline_series('acme', 'res-a', '1.5d')$$, '22023 period'),
               ($$pipeline_series('acme', NULL)$$, '22023 resource_id'),
               ($$resource_stats('no such tenant!')$$, '22023 tenant')) AS t(call, expected);

-- Tenants: an analyst sees its tenant only; a token needs the read right and its tenant.
SET LOCAL ROLE insight16_acme;
SELECT is(array(SELECT s::text FROM nilus.resource_stats('acme', '30d') s),
          array(SELECT e::text FROM pg_temp.expected_resources('acme', '720 hours') e), 'an analyst of acme: acme''s rows');
SELECT pg_temp.raises(format('SELECT * FROM nilus.%s', call), '42501 tenant', 'an analyst of acme calling ' || call)
  FROM unnest(ARRAY[$$resource_stats('globex')$$, $$run_series('globex')$$, $$tenant_stats('globex')$$,
                    $$pipeline_series('globex', 'res-a')$$]) AS call;
RESET ROLE;
-- The API role calls the two JSON functions of its routes (and reads no table itself).
SELECT count(*) AS acme_30d FROM pg_temp.expected_resources('acme', '720 hours') \gset
SET LOCAL ROLE insight16_api;
SELECT nilus.authenticate(:'runtime_token') \g /dev/null
SELECT pg_temp.raises(format('SELECT * FROM nilus.%s', call), '42501', 'a token without read calling ' || call)
  FROM unnest(ARRAY[$$tenant_stats('acme')$$, $$pipeline_series('acme', 'res-a')$$]) AS call;
RESET ROLE;
SET LOCAL ROLE insight16_api;
SELECT nilus.authenticate(:'acme_token') \g /dev/null
SELECT is((nilus.tenant_stats('acme', '30d')::jsonb ->> 'total')::bigint, :acme_30d::bigint,
          'acme''s read token: acme''s stats');
SELECT pg_temp.raises(format('SELECT * FROM nilus.%s', call), '42501 tenant', 'acme''s token calling ' || call)
  FROM unnest(ARRAY[$$tenant_stats('globex')$$, $$pipeline_series('globex', 'res-a')$$]) AS call;
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
