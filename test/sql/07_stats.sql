-- pipeline_stats equals the plain aggregate over nilus.pipeline_run (finished
-- runs of the resource with started_at in [now - period, now]) on
-- randomized data, after posts at start and finish, corrections through
-- store_run and straight UPDATEs, and deletions.
BEGIN;
\ir lib/helpers.psql
SELECT plan(177);

-- Periods as doc/http-api.md spells them and the interval each means (hours, not
-- days, so that no time zone's DST changes them).
CREATE TEMP TABLE periods (period text, span interval) ON COMMIT DROP;
INSERT INTO periods VALUES ('30m', '30 minutes'), ('1m', '1 minute'), ('90m', '90 minutes'),
    ('1h', '1 hour'), ('24h', '24 hours'), ('48h', '48 hours'), ('1d', '24 hours'), ('7d', '168 hours'),
    ('30d', '720 hours'), ('1w', '168 hours'), ('2w', '336 hours'), ('52w', '8736 hours'),
    ('366d', '8784 hours'), ('8784h', '8784 hours'), ('527040m', '8784 hours');
CREATE TEMP TABLE resources (resource_id text) ON COMMIT DROP;
INSERT INTO resources VALUES ('res-a'), ('res-b'), ('res-c'), ('res-none');

-- Hand-made cases first, with their numbers written out.
SELECT is(nilus.pipeline_stats('acme', 'res-empty', '7d')::jsonb,
          jsonb_build_object('resource_id', 'res-empty', 'period', '7d',
                             'period_start', pg_temp.rfc3339(now() - interval '168 hours'),
                             'period_end', pg_temp.rfc3339(now()),
                             'stats', '{"total_runs": 0, "successful_runs": 0, "failed_runs": 0, "success_rate": null,
                                       "avg_duration_sec": null, "max_duration_sec": null}'::jsonb),
          'no runs: zero counts, null rate and durations; period_start/_end are now - period and now');
SELECT is(nilus.pipeline_stats('acme', 'res-empty')::jsonb ->> 'period', '24h', 'period defaults to 24h');
SELECT is(nilus.pipeline_stats('acme', 'res-empty', NULL)::jsonb ->> 'period_start',
          pg_temp.rfc3339(now() - interval '24 hours'), 'period NULL = not given = 24h');

-- res-round: 2 of 3 succeeded; durations 1, 2, 2 (and a running run, and a finished run without duration).
SELECT nilus.store_run('acme', pg_temp.run_body(md5('round' || i)::uuid, 'res-round', now() - i * interval '1 hour', b))
  FROM (VALUES (1, '{"is_success": true, "duration_sec": 1}'::jsonb), (2, '{"is_success": true, "duration_sec": 2}'),
               (3, '{"is_success": false, "duration_sec": 2}'), (4, '{}'), (5, '{"is_success": false}')) AS t(i, b) \g /dev/null
SELECT is(nilus.pipeline_stats('acme', 'res-round', '3h')::jsonb -> 'stats',
          '{"total_runs": 3, "successful_runs": 2, "failed_runs": 1, "success_rate": 66.67,
            "avg_duration_sec": 1.67, "max_duration_sec": 2}', 'rates and averages rounded to 2 decimals');
SELECT is(nilus.pipeline_stats('acme', 'res-round', '5h')::jsonb -> 'stats',
          '{"total_runs": 4, "successful_runs": 2, "failed_runs": 2, "success_rate": 50,
            "avg_duration_sec": 1.67, "max_duration_sec": 2}', 'a finished run without duration counts, but not in the durations');
SELECT is(nilus.pipeline_stats('acme', 'res-round', '4h')::jsonb -> 'stats' ->> 'total_runs', '3',
          'a running run is not counted');
SELECT matches(nilus.pipeline_stats('acme', 'res-round', '3h')::text,
               '"success_rate":66.67,"avg_duration_sec":1.67', 'numbers are JSON numbers');

-- res-edge: the window is [now - period, now], both ends included.
SELECT nilus.store_run('acme', pg_temp.run_body(md5('edge' || i)::uuid, 'res-edge', s,
                                                jsonb_build_object('is_success', true, 'duration_sec', d)))
  FROM (VALUES (1, now(), 1), (2, now() - interval '24 hours', 2),
               (3, now() - interval '24 hours 1 microsecond', 300),
               (4, now() + interval '1 microsecond', 400)) AS t(i, s, d) \g /dev/null
SELECT is(nilus.pipeline_stats('acme', 'res-edge', '24h')::jsonb -> 'stats',
          '{"total_runs": 2, "successful_runs": 2, "failed_runs": 0, "success_rate": 100,
            "avg_duration_sec": 1.5, "max_duration_sec": 2}',
          'runs at now and at now - 24h count; a microsecond outside either end does not');

-- res-max: the maximum follows corrections and deletions of the run that held it.
SELECT nilus.store_run('acme', pg_temp.run_body(md5('max' || i)::uuid, 'res-max', date_trunc('hour', now()) - interval '2 hours' + i * interval '1 minute',
                                                jsonb_build_object('is_success', true, 'duration_sec', d)))
  FROM (VALUES (1, 10), (2, 500), (3, 20)) AS t(i, d) \g /dev/null
SELECT is(nilus.pipeline_stats('acme', 'res-max', '24h')::jsonb -> 'stats' -> 'max_duration_sec', '500'::jsonb, 'max of 10, 500, 20');
UPDATE nilus.pipeline_run SET duration_sec = 5 WHERE run_id = md5('max2')::uuid;
SELECT is(nilus.pipeline_stats('acme', 'res-max', '24h')::jsonb -> 'stats',
          '{"total_runs": 3, "successful_runs": 3, "failed_runs": 0, "success_rate": 100,
            "avg_duration_sec": 11.67, "max_duration_sec": 20}', 'the maximum lowered by an UPDATE');
DELETE FROM nilus.pipeline_run WHERE run_id = md5('max3')::uuid;
SELECT is(nilus.pipeline_stats('acme', 'res-max', '24h')::jsonb -> 'stats' -> 'max_duration_sec', '10'::jsonb,
          'the maximum run deleted');
SELECT nilus.store_run('acme', pg_temp.run_body(md5('max1')::uuid, 'res-max', date_trunc('hour', now()) - interval '2 hours' + interval '1 minute',
                                                '{"is_success": null, "duration_sec": null}')) \g /dev/null
SELECT is(nilus.pipeline_stats('acme', 'res-max', '24h')::jsonb -> 'stats',
          '{"total_runs": 1, "successful_runs": 1, "failed_runs": 0, "success_rate": 100,
            "avg_duration_sec": 5, "max_duration_sec": 5}', 'a run reposted as running leaves the stats');
SELECT nilus.store_run('acme', pg_temp.run_body(md5('max2')::uuid, 'res-max', now() - interval '30 hours',
                                                '{"is_success": false}')) \g /dev/null
SELECT is(nilus.pipeline_stats('acme', 'res-max', '24h')::jsonb -> 'stats' ->> 'total_runs', '0',
          'a run whose started_at is corrected out of the window leaves it');
SELECT is(nilus.pipeline_stats('acme', 'res-max', '48h')::jsonb -> 'stats',
          '{"total_runs": 1, "successful_runs": 0, "failed_runs": 1, "success_rate": 0,
            "avg_duration_sec": null, "max_duration_sec": null}',
          '... and enters the wider window with its new outcome (and no duration: the post gave none, nor finished_at)');

-- Randomized history.
SELECT pg_temp.random_runs('acme', 600, 0.31) \g /dev/null
SELECT pg_temp.random_runs('globex', 100, 0.32) \g /dev/null
SELECT cmp_ok((SELECT count(*) FROM nilus.pipeline_run WHERE tenant = 'acme' AND is_success IS NOT NULL
                  AND started_at > now() - interval '24 hours'), '>', 50::bigint, 'many finished runs in the last 24h');
SELECT cmp_ok((SELECT count(*) FROM nilus.pipeline_run WHERE tenant = 'acme' AND is_success IS NOT NULL
                  AND duration_sec IS NULL), '>', 5::bigint, 'finished runs without duration exist');

SELECT is(nilus.pipeline_stats('acme', r.resource_id, p.period)::jsonb,
          jsonb_build_object('resource_id', r.resource_id, 'period', p.period,
                             'period_start', pg_temp.rfc3339(now() - p.span), 'period_end', pg_temp.rfc3339(now()),
                             'stats', pg_temp.expected_stats('acme', r.resource_id, p.span)),
          format('stats of %s over %s = the plain aggregate', r.resource_id, p.period))
  FROM resources r, periods p ORDER BY r.resource_id, p.span, p.period;

-- More corrections, straight on the table: runs moved across hour buckets
-- and across the windows' edges, outcomes flipped, durations changed, runs deleted.
-- Each correction draws its runs (and new start times) first and applies them
-- by run_id: an UPDATE of a distributed table (make check-citus) takes no
-- random(), nor now() beside a column.
SELECT setseed(0.77) \g /dev/null
CREATE TEMP TABLE pick (run_id uuid, started_at timestamptz) ON COMMIT DROP;
INSERT INTO pick SELECT run_id, now() - p.span
  FROM nilus.pipeline_run, periods p WHERE tenant = 'acme' AND is_success IS NOT NULL AND finished_at IS NULL AND random() < 0.05;
UPDATE nilus.pipeline_run r SET started_at = k.started_at FROM pick k WHERE r.tenant = 'acme' AND r.run_id = k.run_id;
TRUNCATE pick;
INSERT INTO pick SELECT run_id, now() - p.span - interval '1 microsecond'
  FROM nilus.pipeline_run, periods p WHERE tenant = 'acme' AND is_success IS NOT NULL AND finished_at IS NULL AND random() < 0.05;
UPDATE nilus.pipeline_run r SET started_at = k.started_at FROM pick k WHERE r.tenant = 'acme' AND r.run_id = k.run_id;
TRUNCATE pick;
INSERT INTO pick SELECT run_id FROM nilus.pipeline_run WHERE tenant = 'acme' AND random() < 0.2;
UPDATE nilus.pipeline_run r SET is_success = NOT is_success, duration_sec = duration_sec * 3 + 1
  FROM pick k WHERE r.tenant = 'acme' AND r.run_id = k.run_id;
TRUNCATE pick;
INSERT INTO pick SELECT run_id, started_at - random() * interval '6 hours'
  FROM nilus.pipeline_run WHERE tenant = 'acme' AND finished_at IS NULL AND random() < 0.3;
UPDATE nilus.pipeline_run r SET started_at = k.started_at FROM pick k WHERE r.tenant = 'acme' AND r.run_id = k.run_id;
TRUNCATE pick;
INSERT INTO pick SELECT run_id FROM nilus.pipeline_run WHERE tenant = 'acme' AND random() < 0.1;
UPDATE nilus.pipeline_run r SET resource_id = CASE resource_id WHEN 'res-a' THEN 'res-b' ELSE 'res-a' END
  FROM pick k WHERE r.tenant = 'acme' AND r.run_id = k.run_id;
DELETE FROM nilus.pipeline_run
 WHERE tenant = 'acme' AND run_id IN (SELECT run_id FROM nilus.pipeline_run WHERE tenant = 'acme' AND is_success
                                       ORDER BY duration_sec DESC NULLS LAST LIMIT 5);
TRUNCATE pick;
INSERT INTO pick SELECT run_id FROM nilus.pipeline_run WHERE tenant = 'acme' AND random() < 0.05;
DELETE FROM nilus.pipeline_run r USING pick k WHERE r.tenant = 'acme' AND r.run_id = k.run_id;

SELECT is(nilus.pipeline_stats('acme', r.resource_id, p.period)::jsonb -> 'stats',
          pg_temp.expected_stats('acme', r.resource_id, p.span),
          format('after corrections and deletions, stats of %s over %s = the plain aggregate', r.resource_id, p.period))
  FROM resources r, periods p ORDER BY r.resource_id, p.span, p.period;
SELECT is(nilus.pipeline_stats('globex', r.resource_id, p.period)::jsonb -> 'stats',
          pg_temp.expected_stats('globex', r.resource_id, p.span),
          format('globex: stats of %s over %s = the plain aggregate', r.resource_id, p.period))
  FROM resources r, periods p WHERE p.period IN ('30m', '24h', '7d', '2w', '366d') ORDER BY r.resource_id, p.span, p.period;

-- Bad periods (and resource ids): 22023 naming the parameter.
SELECT pg_temp.raises(format('SELECT nilus.pipeline_stats(%L, %L, %L)', 'acme', 'res-a', period), '22023 period',
                       format('period %L', period))
  FROM unnest(ARRAY['0d', '0m', '367d', '53w', '8785h', '527041m', '1y', 'abc', '-1h', '', '24', 'h',
                    ' 24h', '24h ', '1.5h', '+1h', '1d1h', '99999999999999999999d']) AS period;
SELECT pg_temp.raises(statement, expected, statement)
  FROM (VALUES ($$SELECT nilus.pipeline_stats('acme', NULL, '24h')$$, '22023 resource_id'),
               ($$SELECT nilus.pipeline_stats('acme', '', '24h')$$, '22023 resource_id'),
               ($$SELECT nilus.pipeline_stats('', 'res-a', '24h')$$, '22023 tenant')) AS bad(statement, expected);

SELECT * FROM finish();
ROLLBACK;
