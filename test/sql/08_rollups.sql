-- The hourly rollups (per resource, per tenant, per user, per resource and
-- user; rows split in shards that readers add up), the minute ones (the same
-- four) and the daily ones (but users') equal GROUP BY
-- aggregates over nilus.pipeline_run per UTC minute, hour and day after
-- random inserts, posts, corrections through store_run and straight UPDATEs
-- (across buckets, resources, users, and on one server tenants), and deletions; listing
-- totals and stats built on them stay exact, also with ranges that end at
-- random instants inside a dense hour and at now.
BEGIN;
\ir lib/helpers.psql
\ir lib/rollups.psql
\ir lib/nested_calls.psql
SELECT plan(704);
-- Buckets are UTC hours whatever the session's zone (this one is UTC+05:30).
SET LOCAL TimeZone = 'Asia/Kolkata';

-- Eight assertions: each rollup equals its aggregate, and buckets emptied
-- of runs hold nothing else.
CREATE FUNCTION pg_temp.rollups_match(stage text) RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN
    RETURN NEXT is_empty($q$SELECT * FROM pg_temp.rollup_mismatches() WHERE rollup = 'resource'$q$,
                         stage || ': run_rollup_resource = GROUP BY tenant, resource_id, hour');
    RETURN NEXT is_empty($q$SELECT * FROM pg_temp.rollup_mismatches() WHERE rollup = 'tenant'$q$,
                         stage || ': run_rollup_tenant (shards summed) = GROUP BY tenant, hour');
    RETURN NEXT is_empty($q$SELECT * FROM pg_temp.rollup_mismatches() WHERE rollup = 'user'$q$,
                         stage || ': run_rollup_user (shards summed) = GROUP BY tenant, run_as_user, hour');
    RETURN NEXT is_empty($q$SELECT * FROM pg_temp.rollup_mismatches() WHERE rollup = 'resource_day'$q$,
                         stage || ': run_rollup_resource_day = GROUP BY tenant, resource_id, day');
    RETURN NEXT is_empty($q$SELECT * FROM pg_temp.rollup_mismatches() WHERE rollup = 'tenant_day'$q$,
                         stage || ': run_rollup_tenant_day (shards summed) = GROUP BY tenant, day');
    RETURN NEXT is_empty($q$SELECT * FROM pg_temp.rollup_mismatches() WHERE rollup ~ '(minute|resource_user)'$q$,
                         stage || ': the minute rollups (resource, tenant, user) and those per resource and user '
                         '(minute, hour, day) = GROUP BY over the runs');
    RETURN NEXT is((SELECT count(*) FROM (SELECT 1 FROM (SELECT 'hour' AS grain, * FROM nilus.run_rollup_resource
                                                         UNION ALL SELECT 'day', * FROM nilus.run_rollup_resource_day
                                                         UNION ALL SELECT 'minute', * FROM nilus.run_rollup_resource_minute) r
                                           GROUP BY grain, tenant, resource_id, bucket
                                          HAVING sum(runs) = 0 AND ((sum(succeeded), sum(failed), sum(durations), sum(duration_sum))
                                                                    <> (0, 0, 0, 0) OR max(duration_max) IS NOT NULL)) z),
                   0::bigint, stage || ': resource buckets (minutes, hours, days) without runs hold no counts, sums or maximum');
    RETURN NEXT is((SELECT count(*) FROM (SELECT 1 FROM nilus.run_rollup_tenant GROUP BY tenant, bucket
                                          HAVING sum(runs) = 0 AND (sum(succeeded) <> 0 OR sum(failed) <> 0)
                                          UNION ALL
                                          SELECT 1 FROM nilus.run_rollup_tenant_day GROUP BY tenant, bucket
                                          HAVING sum(runs) = 0 AND (sum(succeeded) <> 0 OR sum(failed) <> 0)
                                          UNION ALL
                                          SELECT 1 FROM nilus.run_rollup_user GROUP BY tenant, run_as_user, bucket
                                          HAVING sum(runs) = 0 AND (sum(succeeded) <> 0 OR sum(failed) <> 0)
                                          UNION ALL
                                          SELECT 1 FROM nilus.run_rollup_tenant_minute GROUP BY tenant, bucket
                                          HAVING sum(runs) = 0 AND (sum(succeeded) <> 0 OR sum(failed) <> 0)
                                          UNION ALL
                                          SELECT 1 FROM nilus.run_rollup_user_minute GROUP BY tenant, run_as_user, bucket
                                          HAVING sum(runs) = 0 AND (sum(succeeded) <> 0 OR sum(failed) <> 0)
                                          UNION ALL
                                          SELECT 1 FROM (SELECT 'minute' AS grain, * FROM nilus.run_rollup_resource_user_minute
                                                         UNION ALL SELECT 'hour', * FROM nilus.run_rollup_resource_user
                                                         UNION ALL SELECT 'day', * FROM nilus.run_rollup_resource_user_day) r
                                          GROUP BY grain, tenant, resource_id, run_as_user, bucket
                                          HAVING sum(runs) = 0 AND (sum(succeeded) <> 0 OR sum(failed) <> 0)) z),
                   0::bigint, stage || ': tenant (minutes, hours, days), user and resource-and-user buckets without runs hold no counts');
END $$;

-- Listing totals on the common filters, built on the rollups.
CREATE FUNCTION pg_temp.totals_match(stage text) RETURNS SETOF text LANGUAGE sql AS $$
    SELECT is((nilus.list_pipelines(t, c.run_as_user, c.is_success, c.resource_id, c.started_at,
                                    c.started_at_gte, c.started_at_lte)::jsonb ->> 'total')::bigint,
              (SELECT count(*) FROM pg_temp.runs_matching(t, c.run_as_user, c.is_success, c.resource_id,
                                                          c.started_at, c.started_at_gte, c.started_at_lte)),
              stage || ', ' || t || ': total = count(*): ' || c.label)
      FROM pg_temp.filter_cases() c, unnest(ARRAY['acme', 'globex']) AS t
     WHERE (c.label ~ '(no range|mid-hour|hour boundar)' AND c.label !~ '^user ')
        OR (c.label ~ '^user ' AND c.resource_id IS NOT NULL AND c.run_as_user IS NOT NULL)
$$;

SELECT pg_temp.random_runs('acme', 500, 0.11) \g /dev/null
SELECT pg_temp.random_runs('globex', 200, 0.12) \g /dev/null
SELECT cmp_ok((SELECT count(DISTINCT (tenant, resource_id, date_trunc('hour', started_at, 'UTC'))) FROM nilus.pipeline_run),
              '>', 300::bigint, 'runs spread over hundreds of buckets');
SELECT pg_temp.rollups_match('after random posts, corrections and deletions');
SELECT pg_temp.totals_match('after random posts');

-- Round two, straight on the table.  Each correction draws its runs (and
-- their new values) into pick first and applies them by (tenant, run_id):
-- an UPDATE of a distributed table (make check-citus) takes no random(), nor
-- a stable function of a column.
CREATE TEMP TABLE pick (tenant text, run_id uuid, resource_id text, started_at timestamptz,
                        is_success boolean, duration_sec float8) ON COMMIT DROP;
CREATE FUNCTION pg_temp.pick(runs text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE pg_temp.pick;
    EXECUTE 'INSERT INTO pg_temp.pick ' || runs;
END $$;
SELECT setseed(0.5) \g /dev/null
SELECT pg_temp.pick($$SELECT tenant, run_id, NULL, started_at + (random() - 0.5) * interval '10 hours'
                        FROM nilus.pipeline_run WHERE finished_at IS NULL AND random() < 0.3$$);    -- across buckets
UPDATE nilus.pipeline_run r SET started_at = k.started_at FROM pick k WHERE (r.tenant, r.run_id) = (k.tenant, k.run_id);
SELECT pg_temp.pick($$SELECT tenant, run_id, NULL, date_trunc('hour', started_at, 'UTC')
                        FROM nilus.pipeline_run WHERE finished_at IS NULL AND random() < 0.1$$);    -- onto a bucket's first instant
UPDATE nilus.pipeline_run r SET started_at = k.started_at FROM pick k WHERE (r.tenant, r.run_id) = (k.tenant, k.run_id);
SELECT pg_temp.pick($$SELECT tenant, run_id, NULL, date_trunc('hour', started_at, 'UTC') - interval '1 microsecond'
                        FROM nilus.pipeline_run WHERE finished_at IS NULL AND random() < 0.1$$);    -- onto a bucket's last instant
UPDATE nilus.pipeline_run r SET started_at = k.started_at FROM pick k WHERE (r.tenant, r.run_id) = (k.tenant, k.run_id);
SELECT pg_temp.pick($$SELECT tenant, run_id FROM nilus.pipeline_run WHERE random() < 0.15$$);     -- to and from no user
UPDATE nilus.pipeline_run r SET run_as_user = CASE WHEN r.run_as_user IS NULL THEN 'dave' ELSE NULL END
  FROM pick k WHERE (r.tenant, r.run_id) = (k.tenant, k.run_id);
SELECT pg_temp.pick($$SELECT tenant, run_id FROM nilus.pipeline_run WHERE random() < 0.05$$);     -- back to running
UPDATE nilus.pipeline_run r SET is_success = NULL, duration_sec = NULL FROM pick k WHERE (r.tenant, r.run_id) = (k.tenant, k.run_id);
SELECT pg_temp.pick($$SELECT tenant, run_id, NULL, NULL, random() < 0.5, CASE WHEN random() < 0.5 THEN NULL ELSE 42.125 END
                        FROM nilus.pipeline_run WHERE is_success IS NULL AND random() < 0.5$$);    -- finished later
UPDATE nilus.pipeline_run r SET is_success = k.is_success, duration_sec = k.duration_sec
  FROM pick k WHERE (r.tenant, r.run_id) = (k.tenant, k.run_id);
SELECT pg_temp.pick($$SELECT tenant, run_id FROM nilus.pipeline_run WHERE is_success AND random() < 0.05$$);
UPDATE nilus.pipeline_run r SET duration_sec = 0 FROM pick k WHERE (r.tenant, r.run_id) = (k.tenant, k.run_id);
-- Moved between tenants: on a Citus cluster the tenant is the distribution
-- column, which no UPDATE may change (test/citus/run.sh).
SELECT pg_temp.pick($$SELECT tenant, run_id FROM nilus.pipeline_run WHERE random() < 0.05$$);
DO $$ BEGIN
    IF current_setting('citus.version', true) IS NULL THEN
        UPDATE nilus.pipeline_run r SET tenant = CASE r.tenant WHEN 'acme' THEN 'globex' ELSE 'acme' END
          FROM pg_temp.pick k WHERE (r.tenant, r.run_id) = (k.tenant, k.run_id);
    END IF;
END $$;
UPDATE nilus.pipeline_run SET error = error;                                      -- touches every row, changes nothing
DELETE FROM nilus.pipeline_run WHERE resource_id = 'res-c' AND tenant = 'globex';
SELECT pg_temp.pick($$SELECT tenant, run_id FROM nilus.pipeline_run WHERE random() < 0.05$$);
DELETE FROM nilus.pipeline_run r USING pick k WHERE (r.tenant, r.run_id) = (k.tenant, k.run_id);
-- ... and through store_run: corrections of started_at, outcome and duration.
SELECT pg_temp.pick($$SELECT tenant, run_id, resource_id, started_at, is_success FROM nilus.pipeline_run WHERE random() < 0.1$$);
SELECT nilus.store_run(k.tenant, pg_temp.run_body(k.run_id, k.resource_id, k.started_at - interval '90 minutes',
                                                  jsonb_build_object('is_success', NOT coalesce(k.is_success, false),
                                                                     'duration_sec', 7.5)))
  FROM pick k \g /dev/null
SELECT pg_temp.rollups_match('after straight UPDATEs, DELETEs and more posts');
SELECT pg_temp.totals_match('after straight UPDATEs');

-- A dense hour: 4000 runs in the 70 minutes before now (about 60 a minute,
-- most of one resource), then totals whose range ends (and begins) at
-- random instants inside it, on every filter the rollups answer, and stats
-- whose window starts at random minutes of it (the instant within the
-- minute is now's); again after corrections within and across minutes and
-- deletions.  A total's edges are read as partial minutes, a stats call's
-- as partial seconds, the rest from the second, minute, hourly and daily rows.
-- PL/pgSQL, a case at a time: Citus plans no correlated subquery over a
-- distributed table (make check-citus).
CREATE FUNCTION pg_temp.dense_totals(stage text, cases integer) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    c record;
BEGIN
    FOR c IN
        WITH c AS (
            SELECT i, (ARRAY[NULL, 'dense-a', 'dense-b', NULL, NULL, 'dense-a', 'dense-b'])[1 + i % 7] AS resource_id,
                   (ARRAY[NULL, NULL, NULL, 'ursula', 'vic', 'vic', 'ursula'])[1 + i % 7] AS run_as_user,
                   (ARRAY[NULL, true, false, NULL])[1 + i % 4] AS is_success,
                   now() - random() * interval '75 minutes' AS lte,
                   random() AS gte_share
              FROM generate_series(1, cases) i)
        SELECT *, CASE WHEN i % 3 = 0 THEN lte - gte_share * interval '80 minutes' END AS gte FROM c ORDER BY i
    LOOP
        RETURN NEXT is((nilus.list_pipelines('dense', run_as_user => c.run_as_user, is_success => c.is_success,
                                             resource_id => c.resource_id, started_at_gte => c.gte,
                                             started_at_lte => c.lte)::jsonb ->> 'total')::bigint,
                       (SELECT count(*) FROM nilus.pipeline_run r WHERE r.tenant = 'dense'
                           AND (c.resource_id IS NULL OR r.resource_id = c.resource_id)
                           AND (c.run_as_user IS NULL OR r.run_as_user = c.run_as_user)
                           AND (c.is_success IS NULL OR r.is_success = c.is_success)
                           AND (c.gte IS NULL OR r.started_at >= c.gte) AND r.started_at <= c.lte),
                       format('%s: dense total = count(*) (resource %s, user %s, is_success %s, %s .. %s)', stage,
                              c.resource_id, c.run_as_user, c.is_success, c.gte, c.lte));
    END LOOP;
END $$;
-- Totals filtered on a resource and a user (their own rollups) whose range
-- ends at now, in the minute of now (with and without runs after the range
-- in it), on and a microsecond before minute boundaries, with long and
-- short edges, within one minute, and on runs' own starts.
CREATE FUNCTION pg_temp.pair_edge_totals(stage text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    m constant timestamptz := date_trunc('minute', now());
    first_start timestamptz;
    last_start timestamptz;
    c record;
BEGIN
    -- Statement by statement: Citus plans no subquery over a distributed table in the loop's query.
    SELECT min(started_at), max(started_at) INTO first_start, last_start
      FROM (SELECT started_at FROM nilus.pipeline_run WHERE tenant = 'dense' AND resource_id = 'dense-a'
               AND run_as_user = 'ursula' AND started_at < now() - interval '5 minutes'
             ORDER BY started_at OFFSET 50 LIMIT 300) s;
    FOR c IN
        SELECT * FROM (VALUES ('dense-a', 'ursula'), ('dense-b', 'vic')) p(resource_id, run_as_user),
                      (VALUES (NULL::boolean), (true)) o(is_success),
                      (VALUES ('lte now', NULL::timestamptz, now()),
                              ('lte in the minute of now, after now', NULL, now() + interval '20 seconds'),
                              ('lte minutes after now', NULL, m + interval '3 minutes 10 seconds'),
                              ('lte on the minute of now', NULL, m),
                              ('lte a microsecond before the minute of now', NULL, m - interval '1 microsecond'),
                              ('long lower edge, lte now', m - interval '10 minutes' + interval '7 seconds', now()),
                              ('long edges', m - interval '40 minutes' + interval '52.5 seconds',
                               m - interval '3 minutes' + interval '48.25 seconds'),
                              ('short edges', m - interval '50 minutes' + interval '2 seconds',
                               m - interval '20 minutes' + interval '3.5 seconds'),
                              ('within one minute', m - interval '25 minutes' + interval '5 seconds',
                               m - interval '25 minutes' + interval '50 seconds'),
                              ('gte after now', now() + interval '1 second', NULL),
                              ('no range', NULL, NULL),
                              ('on runs'' starts', first_start, last_start),
                              ('a microsecond inside runs'' starts', first_start + interval '1 microsecond',
                               last_start - interval '1 microsecond')) r(label, gte, lte)
    LOOP
        RETURN NEXT is((nilus.list_pipelines('dense', run_as_user => c.run_as_user, is_success => c.is_success,
                                             resource_id => c.resource_id, started_at_gte => c.gte,
                                             started_at_lte => c.lte)::jsonb ->> 'total')::bigint,
                       (SELECT count(*) FROM nilus.pipeline_run r WHERE r.tenant = 'dense'
                           AND r.resource_id = c.resource_id AND r.run_as_user = c.run_as_user
                           AND (c.is_success IS NULL OR r.is_success = c.is_success)
                           AND (c.gte IS NULL OR r.started_at >= c.gte) AND (c.lte IS NULL OR r.started_at <= c.lte)),
                       format('%s: total of resource %s and user %s (is_success %s) = count(*): %s', stage,
                              c.resource_id, c.run_as_user, c.is_success, c.label));
    END LOOP;
END $$;
CREATE FUNCTION pg_temp.dense_stats(stage text) RETURNS SETOF text LANGUAGE sql AS $$
    SELECT is(nilus.pipeline_stats('dense', r, m || 'm')::jsonb -> 'stats', pg_temp.expected_stats('dense', r, m * interval '1 minute'),
              format('%s: pipeline_stats(dense, %s, %sm) = the plain aggregate', stage, r, m))
      FROM unnest(ARRAY['dense-a', 'dense-b']) r, unnest(ARRAY[1, 2, 7, 13, 29, 30, 31, 44, 59, 60, 61, 67, 71, 90]) m
$$;
SELECT setseed(0.16) \g /dev/null
INSERT INTO nilus.pipeline_run (tenant, run_id, resource_id, pipeline_name, run_as_user, started_at, is_success, duration_sec)
SELECT 'dense', gen_random_uuid(), CASE WHEN random() < 0.8 THEN 'dense-a' ELSE 'dense-b' END, 'p',
       (ARRAY['ursula', 'vic', NULL])[1 + (random() * 2.99)::int], now() - random() * interval '70 minutes',
       CASE WHEN random() < 0.1 THEN NULL ELSE random() < 0.8 END,
       CASE WHEN random() < 0.1 THEN NULL ELSE round((random() * 600)::numeric, 3)::float8 END
  FROM generate_series(1, 4000);
-- A few on minute and second boundaries, exactly.
SELECT pg_temp.pick($$SELECT tenant, run_id, NULL, date_trunc('minute', started_at, 'UTC')
                        FROM nilus.pipeline_run WHERE tenant = 'dense' AND random() < 0.02$$);
UPDATE nilus.pipeline_run r SET started_at = k.started_at FROM pick k WHERE (r.tenant, r.run_id) = (k.tenant, k.run_id);
SELECT pg_temp.pick($$SELECT tenant, run_id, NULL, date_trunc('second', started_at, 'UTC')
                        FROM nilus.pipeline_run WHERE tenant = 'dense' AND random() < 0.05$$);
UPDATE nilus.pipeline_run r SET started_at = k.started_at FROM pick k WHERE (r.tenant, r.run_id) = (k.tenant, k.run_id);
-- Runs starting within the next 40 seconds, of one resource and user only.
INSERT INTO nilus.pipeline_run (tenant, run_id, resource_id, pipeline_name, run_as_user, started_at, is_success)
SELECT 'dense', gen_random_uuid(), 'dense-a', 'p', 'ursula', now() + random() * interval '40 seconds', random() < 0.5
  FROM generate_series(1, 20);
SELECT cmp_ok((SELECT max(runs) FROM nilus.run_rollup_resource_minute WHERE tenant = 'dense'), '>=', 40::bigint,
              'the dense resource has 40 runs or more in a minute');
SELECT cmp_ok((SELECT max(runs) FROM nilus.run_rollup_resource_user_minute WHERE tenant = 'dense'), '>=', 10::bigint,
              'a resource and user of the dense hour have 10 runs or more in a minute');
SELECT pg_temp.dense_totals('dense hour', 60);
SELECT pg_temp.pair_edge_totals('dense hour');
SELECT pg_temp.dense_stats('dense hour');
SELECT pg_temp.pick($$SELECT tenant, run_id, NULL, started_at + (random() - 0.5) * interval '4 minutes'
                        FROM nilus.pipeline_run WHERE tenant = 'dense' AND random() < 0.2$$);       -- within and across minutes
UPDATE nilus.pipeline_run r SET started_at = k.started_at FROM pick k WHERE (r.tenant, r.run_id) = (k.tenant, k.run_id);
SELECT pg_temp.pick($$SELECT tenant, run_id FROM nilus.pipeline_run WHERE tenant = 'dense' AND random() < 0.1$$);
UPDATE nilus.pipeline_run r SET is_success = NOT r.is_success, duration_sec = r.duration_sec / 2
  FROM pick k WHERE (r.tenant, r.run_id) = (k.tenant, k.run_id);                 -- corrected outcomes, smaller maxima
SELECT pg_temp.pick($$SELECT tenant, run_id FROM nilus.pipeline_run WHERE tenant = 'dense' AND random() < 0.05$$);
UPDATE nilus.pipeline_run r SET run_as_user = 'vic' FROM pick k WHERE (r.tenant, r.run_id) = (k.tenant, k.run_id);
SELECT pg_temp.pick($$SELECT tenant, run_id FROM nilus.pipeline_run WHERE tenant = 'dense' AND random() < 0.1$$);
DELETE FROM nilus.pipeline_run r USING pick k WHERE (r.tenant, r.run_id) = (k.tenant, k.run_id);
SELECT pg_temp.pick($$SELECT tenant, run_id, resource_id, started_at FROM nilus.pipeline_run
                       WHERE tenant = 'dense' AND random() < 0.05$$);
SELECT nilus.store_run('dense', pg_temp.run_body(k.run_id, k.resource_id, k.started_at - interval '30 seconds',
                                                 jsonb_build_object('is_success', true, 'duration_sec', 1.5)))
  FROM pick k \g /dev/null
SELECT is_empty('SELECT * FROM pg_temp.rollup_mismatches()', 'after corrections and deletions in the dense hour, every rollup = GROUP BY');
SELECT pg_temp.dense_totals('dense hour corrected', 60);
SELECT pg_temp.pair_edge_totals('dense hour corrected');
SELECT pg_temp.dense_stats('dense hour corrected');
DELETE FROM nilus.pipeline_run WHERE tenant = 'dense';

-- One run's posts and corrections in one bucket: the finishing post and
-- corrections that keep the run in its rows add the difference (and leave
-- the tenant and user rows alone when their counts do not change); a
-- duration that may be the maximum giving way to a smaller one or none, or
-- a move to another resource, has the maximum recomputed.
-- PL/pgSQL: Citus plans no SQL function's parameterized query over a distributed table.
CREATE FUNCTION pg_temp.bucket_of(resource text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    RETURN (SELECT format('%s runs, %s succeeded, %s failed, %s durations, sum %s, max %s',
                          runs, succeeded, failed, durations, duration_sum::float8, coalesce(duration_max::text, 'none'))
              FROM nilus.run_rollup_resource
             WHERE tenant = 'initech' AND resource_id = resource AND bucket = '2024-03-01T10:00:00Z');
END $$;
CREATE FUNCTION pg_temp.post(run integer, resource text, extra jsonb) RETURNS void LANGUAGE sql AS $$
    SELECT FROM nilus.store_run('initech', pg_temp.run_body(format('00000000-0000-0000-0000-%s', lpad(run::text, 12, '0'))::uuid,
                                                           resource, '2024-03-01T10:05:00Z', extra))
$$;
CREATE FUNCTION pg_temp.count_rows() RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(ctid::text, ' ' ORDER BY ctid) FROM (SELECT ctid FROM nilus.run_rollup_tenant WHERE tenant = 'initech'
                                                          UNION ALL SELECT ctid FROM nilus.run_rollup_user WHERE tenant = 'initech'
                                                          UNION ALL SELECT ctid FROM nilus.run_rollup_resource_user WHERE tenant = 'initech') z
$$;
SELECT pg_temp.post(2, 'res-x', '{"run_as_user": "erin", "is_success": true, "duration_sec": 30}') \g /dev/null
SELECT pg_temp.post(1, 'res-x', '{"run_as_user": "erin"}') \g /dev/null
SELECT is(pg_temp.bucket_of('res-x'), '2 runs, 1 succeeded, 0 failed, 1 durations, sum 30, max 30', 'one run finished, one started');
SELECT pg_temp.post(1, 'res-x', '{"is_success": true, "duration_sec": 50}') \g /dev/null
SELECT is(pg_temp.bucket_of('res-x'), '2 runs, 2 succeeded, 0 failed, 2 durations, sum 80, max 50', 'finishing post: a new maximum');
SELECT pg_temp.count_rows() AS count_rows \gset
SELECT pg_temp.post(1, 'res-x', '{"is_success": true, "duration_sec": 55.5}') \g /dev/null
SELECT is(pg_temp.bucket_of('res-x'), '2 runs, 2 succeeded, 0 failed, 2 durations, sum 85.5, max 55.5', 'correction to a greater duration');
SELECT is(pg_temp.count_rows(), :'count_rows', 'a correction of the duration alone leaves the tenant, user, and resource and user rows alone');
SELECT pg_temp.post(1, 'res-x', '{"is_success": false, "duration_sec": 20}') \g /dev/null
SELECT is(pg_temp.bucket_of('res-x'), '2 runs, 1 succeeded, 1 failed, 2 durations, sum 50, max 30', 'correction of the maximum to a smaller duration');
SELECT pg_temp.post(1, 'res-x', '{"is_success": true, "duration_sec": 20}') \g /dev/null
SELECT is(pg_temp.bucket_of('res-x'), '2 runs, 2 succeeded, 0 failed, 2 durations, sum 50, max 30', 'correction of the outcome alone');
UPDATE nilus.pipeline_run SET duration_sec = NULL WHERE tenant = 'initech' AND run_id = '00000000-0000-0000-0000-000000000002';
SELECT is(pg_temp.bucket_of('res-x'), '2 runs, 2 succeeded, 0 failed, 1 durations, sum 20, max 20', 'the maximum''s duration cleared');
SELECT pg_temp.post(1, 'res-x', '{"is_success": true}') \g /dev/null
SELECT is(pg_temp.bucket_of('res-x'), '2 runs, 2 succeeded, 0 failed, 0 durations, sum 0, max none', 'the last duration cleared');
SELECT pg_temp.post(1, 'res-y', '{"is_success": true, "duration_sec": 10}') \g /dev/null
SELECT is(pg_temp.bucket_of('res-x'), '1 runs, 1 succeeded, 0 failed, 0 durations, sum 0, max none', 'a run moved to another resource leaves its bucket');
SELECT is(pg_temp.bucket_of('res-y'), '1 runs, 1 succeeded, 0 failed, 1 durations, sum 10, max 10', '... and joins the other''s');
SELECT pg_temp.rollups_match('after one run''s posts and corrections');

-- Every run of a resource deleted at once, then everything.
DELETE FROM nilus.pipeline_run WHERE resource_id = 'res-a';
SELECT pg_temp.rollups_match('after deleting a whole resource');
SELECT is(nilus.pipeline_stats('acme', 'res-a', '366d')::jsonb -> 'stats' ->> 'total_runs', '0', 'a deleted resource has no stats');
DELETE FROM nilus.pipeline_run;
SELECT pg_temp.rollups_match('after deleting every run');
SELECT pg_temp.random_runs('acme', 100, 0.99) \g /dev/null
TRUNCATE nilus.pipeline_run;
SELECT pg_temp.rollups_match('after TRUNCATE');
SELECT is(nilus.list_pipelines('acme')::jsonb ->> 'total', '0', 'after TRUNCATE no run is counted');

SELECT * FROM finish();
ROLLBACK;
