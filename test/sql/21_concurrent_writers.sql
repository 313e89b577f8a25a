-- Writers of one tenant in sessions of their own (dblink): each backend
-- writes its own shard of the resource, tenant and user rollup rows, so a
-- writer does not wait for another's open transaction on the same second,
-- minute, hour and day, and the shards still add up to the runs, also after
-- corrections and deletions from other backends (a removed maximum), and
-- after the shards of closed buckets are folded into one row.  The sessions commit, so this
-- file cannot roll back: it works in tenant 'conc' and removes it at the end.
\ir lib/helpers.psql
\ir lib/rollups.psql
SELECT plan(30);
CREATE EXTENSION IF NOT EXISTS dblink;

SELECT dblink_connect(name, format('dbname=%s port=%s host=%s user=%s', current_database(), current_setting('port'),
                                   split_part(current_setting('unix_socket_directories'), ',', 1), current_user))
  FROM unnest(ARRAY['first', 'second', 'third', 'folder']) name \g /dev/null
-- A writer that waits fails after 5 s instead of hanging the suite.
SELECT dblink_exec(name, 'SET statement_timeout = ''5s''') FROM unnest(ARRAY['first', 'second', 'third', 'folder']) name \g /dev/null
SELECT date_trunc('minute', now() - interval '1 hour') + interval '17.25 seconds' AS at \gset

-- The first writer's transaction stays open over its run; the second posts
-- into the same resource, tenant, user, second, minute, hour and day, and must not wait.
SELECT dblink_exec('first', 'BEGIN') \g /dev/null
SELECT * FROM dblink('first', format('SELECT nilus.store_run(%L, %L)', 'conc',
                                     pg_temp.run_body(gen_random_uuid(), 'res-a', :'at',
                                                      '{"run_as_user": "alice", "is_success": true, "duration_sec": 3}')))
  AS r(answer json) \g /dev/null
SELECT lives_ok(format($$SELECT * FROM dblink('second', %L) AS r(answer json)$$,
                       format('SELECT nilus.store_run(%L, %L)', 'conc',
                              pg_temp.run_body(gen_random_uuid(), 'res-a', :'at',
                                               '{"run_as_user": "alice", "is_success": false, "duration_sec": 4}'))),
                'a writer of the same resource, tenant, user and second does not wait for another''s open transaction');
SELECT dblink_exec('first', 'COMMIT') \g /dev/null
SELECT is((SELECT count(DISTINCT shard) FROM nilus.run_rollup_tenant_minute
            WHERE tenant = 'conc' AND bucket = date_trunc('minute', :'at'::timestamptz)), 2::bigint,
          'the two backends wrote two shards of the tenant''s minute');
SELECT is((SELECT count(DISTINCT shard) FROM nilus.run_rollup_resource_second
            WHERE tenant = 'conc' AND resource_id = 'res-a' AND bucket = date_trunc('second', :'at'::timestamptz)), 2::bigint,
          '... and two shards of the resource''s second');

-- Interleaved posts and finishing posts from three sessions, each post its
-- own transaction, in the same few minutes: the shards add up to the runs.
DO $$
DECLARE
    run uuid;
    body jsonb;
BEGIN
    FOR i IN 1..300 LOOP
        run := gen_random_uuid();
        body := pg_temp.run_body(run, 'res-' || (i % 3), date_trunc('minute', now() - interval '1 hour') + (i % 180) * interval '1 second',
                                 jsonb_build_object('run_as_user', (ARRAY['alice', 'bob'])[1 + i % 2]));
        PERFORM * FROM dblink((ARRAY['first', 'second'])[1 + i % 2], format('SELECT nilus.store_run(%L, %L)', 'conc', body))
                          AS r(answer json);
        body := body || jsonb_build_object('is_success', i % 5 <> 0, 'duration_sec', (i % 17) * 1.5);
        PERFORM * FROM dblink((ARRAY['third', 'second', 'first'])[1 + i % 3], format('SELECT nilus.store_run(%L, %L)', 'conc', body))
                          AS r(answer json);
    END LOOP;
END
$$;
SELECT is_empty($$SELECT * FROM pg_temp.rollup_mismatches() WHERE row_text LIKE '(conc,%'$$,
                'after posts from three backends, every rollup of the tenant = GROUP BY over its runs (shards summed)');
SELECT cmp_ok((SELECT max(n) FROM (SELECT count(*) AS n FROM nilus.run_rollup_tenant
                                    WHERE tenant = 'conc' GROUP BY bucket) s), '>=', 3::bigint,
              'three backends wrote three shards of an hour');
-- The total is read first: on a cluster the function cannot run inside a query on the shards.
SELECT (nilus.list_pipelines('conc', run_as_user => 'bob')::jsonb ->> 'total')::bigint AS bob_total \gset
SELECT is(:bob_total::bigint,
          (SELECT count(*) FROM nilus.pipeline_run WHERE tenant = 'conc' AND run_as_user = 'bob'),
          'a listing''s total over the users'' shards = count(*)');

SELECT cmp_ok((SELECT max(n) FROM (SELECT count(*) AS n FROM nilus.run_rollup_resource
                                    WHERE tenant = 'conc' GROUP BY resource_id, bucket) s), '>=', 3::bigint,
              'three backends wrote three shards of a resource''s hour');

-- Corrections and deletions, each session a share of the runs, so that a
-- run leaves the shard of another backend than the one that counted it:
-- maxima given up (smaller durations, deletions), greater ones, moves
-- across seconds and minutes, outcomes flipped.
DO $$
DECLARE
    changes text[] := ARRAY[
        'UPDATE nilus.pipeline_run SET duration_sec = duration_sec / 3 WHERE tenant = ''conc'' AND abs(hashtext(run_id::text)) %% 7 = %s',
        'UPDATE nilus.pipeline_run SET duration_sec = duration_sec + 30 WHERE tenant = ''conc'' AND abs(hashtext(run_id::text)) %% 11 = %s',
        -- The new start as a value: Citus takes no stable function of a column in an UPDATE.
        (SELECT format('UPDATE nilus.pipeline_run r SET started_at = v.s FROM (VALUES %s) v(id, s) '
                       'WHERE r.tenant = ''conc'' AND r.run_id = v.id AND abs(hashtext(r.run_id::text)) %%%% 13 = %%s',
                       string_agg(format('(%L::uuid, %L::timestamptz)', run_id, started_at + interval '47 seconds'), ', '))
           FROM nilus.pipeline_run WHERE tenant = 'conc'),
        'UPDATE nilus.pipeline_run SET is_success = NOT is_success, duration_sec = NULL WHERE tenant = ''conc'' AND abs(hashtext(run_id::text)) %% 17 = %s',
        'DELETE FROM nilus.pipeline_run WHERE tenant = ''conc'' AND abs(hashtext(run_id::text)) %% 5 = %s'];
BEGIN
    FOR round IN 0..2 LOOP
        FOR c IN 1..array_length(changes, 1) LOOP
            PERFORM dblink_exec((ARRAY['first', 'second', 'third'])[1 + (round + c) % 3], format(changes[c], round));
        END LOOP;
    END LOOP;
END
$$;
SELECT is_empty($$SELECT * FROM pg_temp.rollup_mismatches() WHERE row_text LIKE '(conc,%'$$,
                'after corrections and deletions from three backends, every rollup of the tenant = GROUP BY over its runs');
SELECT is(nilus.pipeline_stats('conc', r, '2h')::jsonb -> 'stats', pg_temp.expected_stats('conc', r, '2 hours'),
          format('pipeline_stats(conc, %s, 2h) over shards from three backends = the plain aggregate', r))
  FROM unnest(ARRAY['res-0', 'res-1', 'res-2', 'res-a']) r;

-- A finished run of res-a by alice at `at`, posted from the session; its answer.
CREATE FUNCTION pg_temp.post_late(session text, at timestamptz, duration numeric) RETURNS json LANGUAGE sql AS $$
    SELECT answer FROM dblink(session, format('SELECT nilus.store_run(%L, %L)', 'conc',
                                              pg_temp.run_body(gen_random_uuid(), 'res-a', at,
                                                               jsonb_build_object('run_as_user', 'alice', 'is_success', true,
                                                                                  'duration_sec', duration)))) AS r(answer json)
$$;

-- The shards of closed buckets folded back into one row each (what the
-- retention worker does every interval); a late post into a folded bucket
-- is a shard of its own again, and a second fold takes it in.
CREATE FUNCTION pg_temp.closed_buckets_in_shards() RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM (
        SELECT 1 FROM nilus.run_rollup_resource_second WHERE tenant = 'conc' AND bucket <= now() - interval '1 second'
         GROUP BY resource_id, bucket HAVING count(*) > 1
        UNION ALL SELECT 1 FROM nilus.run_rollup_resource_minute WHERE tenant = 'conc' AND bucket <= now() - interval '1 minute'
         GROUP BY resource_id, bucket HAVING count(*) > 1
        UNION ALL SELECT 1 FROM nilus.run_rollup_resource WHERE tenant = 'conc' AND bucket <= now() - interval '1 hour'
         GROUP BY resource_id, bucket HAVING count(*) > 1
        UNION ALL SELECT 1 FROM nilus.run_rollup_tenant_minute WHERE tenant = 'conc' AND bucket <= now() - interval '1 minute'
         GROUP BY bucket HAVING count(*) > 1
        UNION ALL SELECT 1 FROM nilus.run_rollup_tenant WHERE tenant = 'conc' AND bucket <= now() - interval '1 hour'
         GROUP BY bucket HAVING count(*) > 1
        UNION ALL SELECT 1 FROM nilus.run_rollup_user_minute WHERE tenant = 'conc' AND bucket <= now() - interval '1 minute'
         GROUP BY run_as_user, bucket HAVING count(*) > 1
        UNION ALL SELECT 1 FROM nilus.run_rollup_user WHERE tenant = 'conc' AND bucket <= now() - interval '1 hour'
         GROUP BY run_as_user, bucket HAVING count(*) > 1
        UNION ALL SELECT 1 FROM nilus.run_rollup_resource_user_minute WHERE tenant = 'conc' AND bucket <= now() - interval '1 minute'
         GROUP BY resource_id, run_as_user, bucket HAVING count(*) > 1
        UNION ALL SELECT 1 FROM nilus.run_rollup_resource_user WHERE tenant = 'conc' AND bucket <= now() - interval '1 hour'
         GROUP BY resource_id, run_as_user, bucket HAVING count(*) > 1) s
$$;
SELECT cmp_ok(pg_temp.closed_buckets_in_shards(), '>', 0::bigint, 'before the fold, closed buckets have rows in several shards');
SELECT cmp_ok(nilus.fold_rollup_shards('conc'), '>', 0::bigint, 'fold_rollup_shards removes rows');
SELECT is(pg_temp.closed_buckets_in_shards(), 0::bigint, 'after the fold, every closed bucket of the last day is one row');
SELECT is_empty($$SELECT * FROM pg_temp.rollup_mismatches() WHERE row_text LIKE '(conc,%'$$,
                'after the fold, every rollup of the tenant = GROUP BY over its runs');
SELECT pg_temp.post_late('first', :'at', 999) \g /dev/null
SELECT cmp_ok(nilus.fold_rollup_shards('conc'), '>', 0::bigint, 'a late post into folded buckets is folded in by the next fold');
SELECT is_empty($$SELECT * FROM pg_temp.rollup_mismatches() WHERE row_text LIKE '(conc,%'$$,
                'after a late post and a second fold, every rollup of the tenant = GROUP BY over its runs');
SELECT is(nilus.pipeline_stats('conc', r, '2h')::jsonb -> 'stats', pg_temp.expected_stats('conc', r, '2 hours'),
          format('after the folds, pipeline_stats(conc, %s, 2h) = the plain aggregate', r))
  FROM unnest(ARRAY['res-0', 'res-a']) r;
SELECT (nilus.list_pipelines('conc', run_as_user => 'alice')::jsonb ->> 'total')::bigint AS alice_total \gset
SELECT is(:alice_total::bigint, (SELECT count(*) FROM nilus.pipeline_run WHERE tenant = 'conc' AND run_as_user = 'alice'),
          'after the folds, a listing''s total = count(*)');
SELECT (nilus.list_pipelines('conc', run_as_user => 'alice', resource_id => 'res-a')::jsonb ->> 'total')::bigint AS pair_total \gset
SELECT is(:pair_total::bigint, (SELECT count(*) FROM nilus.pipeline_run WHERE tenant = 'conc' AND run_as_user = 'alice'
                                   AND resource_id = 'res-a'),
          'after the folds, a listing''s total of one resource and user = count(*)');

-- The fold and writers at the same moment, both ways round.  Whether the
-- one that came second did wait is read from the server (a lock wait), so
-- that a race that did not happen cannot pass for one that went right.
CREATE FUNCTION pg_temp.waits_for_a_lock(backend int) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    FOR attempt IN 1..100 LOOP
        IF EXISTS (SELECT FROM pg_stat_activity WHERE pid = backend AND wait_event_type = 'Lock') THEN
            RETURN true;
        END IF;
        PERFORM pg_sleep(0.05);
    END LOOP;
    RETURN false;
END
$$;
SELECT (SELECT pid FROM dblink('first', 'SELECT pg_backend_pid()') AS p(pid int)) AS writer_pid,
       (SELECT pid FROM dblink('folder', 'SELECT pg_backend_pid()') AS p(pid int)) AS folder_pid \gset

-- A writer's open transaction holds its shard's rows of closed buckets: the
-- fold waits for it, then folds what it committed.
SELECT pg_temp.post_late('first', :'at', 5) \g /dev/null
SELECT dblink_exec('first', 'BEGIN') \g /dev/null
SELECT pg_temp.post_late('first', :'at', 1234) \g /dev/null
SELECT dblink_send_query('folder', 'SELECT nilus.fold_rollup_shards(''conc'')') \g /dev/null
SELECT ok(pg_temp.waits_for_a_lock(:folder_pid), 'a fold waits for a writer''s open transaction on its shard of a closed bucket');
SELECT dblink_exec('first', 'COMMIT') \g /dev/null
SELECT cmp_ok((SELECT removed FROM dblink_get_result('folder') AS f(removed bigint)), '>', 0::bigint,
              '... and folds the shard once the writer commits');
SELECT * FROM dblink_get_result('folder') AS f(removed bigint) \g /dev/null
SELECT is_empty($$SELECT * FROM pg_temp.rollup_mismatches() WHERE row_text LIKE '(conc,%'$$,
                'after a fold that waited for a writer, every rollup of the tenant = GROUP BY over its runs');

-- A fold's open transaction holds the rows it folds: a writer into those
-- buckets waits for it, then counts its run in a shard of its own.
SELECT pg_temp.post_late('first', :'at', 7) \g /dev/null
SELECT dblink_exec('folder', 'BEGIN') \g /dev/null
SELECT * FROM dblink('folder', 'SELECT nilus.fold_rollup_shards(''conc'')') AS f(removed bigint) \g /dev/null
SELECT gen_random_uuid() AS late_run \gset
SELECT dblink_send_query('first', format('SELECT nilus.store_run(%L, %L)', 'conc',
                                         pg_temp.run_body(:'late_run', 'res-a', :'at',
                                                          '{"run_as_user": "alice", "is_success": false, "duration_sec": 4321}'))) \g /dev/null
SELECT ok(pg_temp.waits_for_a_lock(:writer_pid), 'a writer into closed buckets waits for a fold''s open transaction');
SELECT dblink_exec('folder', 'COMMIT') \g /dev/null
SELECT is((SELECT answer::jsonb ->> 'run_id' FROM dblink_get_result('first') AS r(answer json)), :'late_run',
          '... and stores its run once the fold commits');
SELECT * FROM dblink_get_result('first') AS r(answer json) \g /dev/null
SELECT is_empty($$SELECT * FROM pg_temp.rollup_mismatches() WHERE row_text LIKE '(conc,%'$$,
                'after a writer that waited for a fold, every rollup of the tenant = GROUP BY over its runs');
SELECT is(nilus.pipeline_stats('conc', 'res-a', '2h')::jsonb -> 'stats', pg_temp.expected_stats('conc', 'res-a', '2 hours'),
          'after the fold and the writer raced, pipeline_stats = the plain aggregate (its greatest duration, 4321, included)');

SELECT dblink_disconnect(name) FROM unnest(ARRAY['first', 'second', 'third', 'folder']) name \g /dev/null
DELETE FROM nilus.pipeline_run WHERE tenant = 'conc';
SELECT is_empty($$SELECT * FROM pg_temp.rollup_mismatches() WHERE row_text LIKE '(conc,%'$$,
                'after the tenant''s runs are deleted, its rollups count nothing');
SELECT * FROM finish();
