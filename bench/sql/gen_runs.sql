-- Loads pipeline runs for one tenant within one time range, through
-- nilus.store_run exactly as the runtime posts them: once when a run starts,
-- again when it finishes (runs still going at now() are posted only once).
-- psql variables: tenant, runs, range_start, range_end, resources, users, batch.
--
-- Runs arrive in time order, batch after batch, as in production: the
-- tables and indexes get the physical order production gives them (the
-- newest runs side by side), which the listings' cost depends on.  Jobs
-- loading the same tenant in parallel must get disjoint, hour-aligned ranges:
-- they then never update the same rollup row, so never wait on (or deadlock
-- with) each other.
\set ON_ERROR_STOP 1
SET nilus_bench.tenant = :'tenant';
SET nilus_bench.runs = :'runs';
SET nilus_bench.range_start = :'range_start';
SET nilus_bench.range_end = :'range_end';
SET nilus_bench.resources = :'resources';
SET nilus_bench.users = :'users';
SET nilus_bench.batch = :'batch';

CREATE TEMP TABLE gen_run (
    run_id      uuid,
    res         int,
    usr         int,
    started_at  timestamptz,
    finished_at timestamptz,
    ok          boolean,
    give_dur    boolean,
    extracted   bigint
);

DO $gen$
DECLARE
    tenant     text := current_setting('nilus_bench.tenant');
    total      bigint := current_setting('nilus_bench.runs')::bigint;
    t0         timestamptz := current_setting('nilus_bench.range_start')::timestamptz;
    t1         timestamptz := current_setting('nilus_bench.range_end')::timestamptz;
    resources  int := current_setting('nilus_bench.resources')::int;
    users      int := current_setting('nilus_bench.users')::int;
    batch      int := current_setting('nilus_bench.batch')::int;
    span       float8 := extract(epoch FROM t1 - t0);
    done       bigint := 0;
    n          int;
    slice_from float8;
    slice_len  float8;
    r          record;
BEGIN
    WHILE done < total LOOP
        n := least(batch, total - done);
        -- This batch's share of the range: its runs start within it.
        slice_from := span * done / total;
        slice_len := span * n / total;
        TRUNCATE gen_run;
        -- Some resources run far more often than others (random()^2 skews the
        -- pick); each resource mostly runs as its owner; durations are
        -- exponential around a per-resource mean; failure rates differ by
        -- resource (2% to 10%).
        INSERT INTO gen_run
        SELECT gen_random_uuid(), res,
               CASE WHEN random() < 0.8 THEN 1 + res % users ELSE 1 + floor(random() * users)::int END,
               s, s + make_interval(secs => round((-ln(1.0 - random()) * (20 + 13 * res))::numeric, 3)),
               random() >= 0.02 * (1 + res % 5), random() < 0.5,
               floor(random() * 100000)::bigint
        FROM (SELECT 1 + floor(resources * random() ^ 2)::int AS res,
                     t0 + make_interval(secs => slice_from + random() * slice_len) AS s
              FROM generate_series(1, n)) g
        ORDER BY s;

        -- One transaction per post, as the runtime's posts are: a batch in
        -- one transaction would update each rollup row hundreds of times
        -- before any version could be pruned.
        FOR r IN SELECT * FROM gen_run ORDER BY started_at LOOP
            PERFORM nilus.store_run(tenant, jsonb_build_object(
                        'run_id', r.run_id,
                        'resource_id', 'workflow-' || lpad(r.res::text, 2, '0'),
                        'pipeline_name', 'pipeline-' || lpad(r.res::text, 2, '0'),
                        'run_as_user', 'user-' || lpad(r.usr::text, 2, '0'),
                        'started_at', r.started_at,
                        'metadata', jsonb_build_object('nilus_version', '0.9.3',
                                                       'worker', 'worker-' || (r.res % 4),
                                                       'trigger', CASE WHEN r.res % 3 = 0 THEN 'manual' ELSE 'schedule' END)));
            COMMIT;
        END LOOP;

        FOR r IN SELECT * FROM gen_run WHERE finished_at <= now() ORDER BY finished_at LOOP
            PERFORM nilus.store_run(tenant, jsonb_build_object(
                        'run_id', r.run_id,
                        'resource_id', 'workflow-' || lpad(r.res::text, 2, '0'),
                        'pipeline_name', 'pipeline-' || lpad(r.res::text, 2, '0'),
                        'started_at', r.started_at,
                        'finished_at', r.finished_at,
                        'is_success', r.ok,
                        'records', CASE WHEN r.ok
                            THEN jsonb_build_object('extracted', r.extracted, 'normalized', r.extracted, 'loaded', r.extracted)
                            ELSE jsonb_build_object('extracted', r.extracted, 'normalized', r.extracted / 2, 'loaded', 0) END)
                    || CASE WHEN r.give_dur
                            THEN jsonb_build_object('duration_sec', round(extract(epoch FROM r.finished_at - r.started_at), 3))
                            ELSE '{}' END
                    || CASE WHEN r.ok THEN '{}'
                            ELSE jsonb_build_object('error', (ARRAY[
                                'psycopg2.OperationalError: could not connect to server: Connection timed out',
                                'botocore.exceptions.ClientError: An error occurred (SlowDown) when calling the PutObject operation',
                                'KeyError: ''customer_id'' in normalize step'])[1 + r.res % 3]) END);
            COMMIT;
        END LOOP;
        done := done + n;
        IF current_setting('nilus_bench.progress', true) = 'on' AND done % 100000 < n THEN
            RAISE NOTICE '% runs % at %', tenant, done, clock_timestamp();
        END IF;
    END LOOP;
END
$gen$;
