-- store_run: the runtime posts a run at start and again at finish; the post
-- is an idempotent upsert by (tenant, run_id) answering the stored run and
-- "created"; unknown fields go to metadata; duration_sec is the runtime's
-- or finished_at - started_at; timestamps come back as RFC 3339 UTC.
BEGIN;
\ir lib/helpers.psql
SELECT plan(246);
-- Output must be UTC whatever the session's zone.
SET LOCAL TimeZone = 'Asia/Kolkata';

-- Posted at start.
SELECT is(nilus.store_run('acme', '{"run_id": "04000000-0000-0000-0000-000000000001", "resource_id": "res-1",
                                    "pipeline_name": "orders", "run_as_user": "alice",
                                    "started_at": "2026-11-28T10:15:00Z",
                                    "records": {"extracted": 10, "normalized": 10, "loaded": 9},
                                    "metadata": {"source": "pg"}, "workflow": "wf-1"}')::jsonb,
          '{"run_id": "04000000-0000-0000-0000-000000000001", "resource_id": "res-1", "pipeline_name": "orders",
            "run_as_user": "alice", "started_at": "2026-11-28T10:15:00Z", "finished_at": null,
            "is_success": null, "duration_sec": null, "error": null,
            "records": {"extracted": 10, "normalized": 10, "loaded": 9},
            "metadata": {"source": "pg", "workflow": "wf-1"}, "created": true}',
          'a new run: the stored run with created true, unknown fields in metadata, records as given');
SELECT results_eq(
    $$SELECT tenant, resource_id, pipeline_name, run_as_user, started_at, finished_at, is_success,
             duration_sec, error, records, metadata
        FROM nilus.pipeline_run WHERE run_id = '04000000-0000-0000-0000-000000000001'$$,
    $$VALUES ('acme', 'res-1', 'orders', 'alice', '2026-11-28 10:15:00+00'::timestamptz, NULL::timestamptz,
              NULL::boolean, NULL::float8, NULL::text, '{"extracted": 10, "normalized": 10, "loaded": 9}'::jsonb,
              '{"source": "pg", "workflow": "wf-1"}'::jsonb)$$,
    'the run is stored under its tenant as posted');

-- Posted again at finish, without run_as_user and records: they are kept.
SELECT is(nilus.store_run('acme', '{"run_id": "04000000-0000-0000-0000-000000000001", "resource_id": "res-1",
                                    "pipeline_name": "orders", "started_at": "2026-11-28T10:15:00Z",
                                    "finished_at": "2026-11-28T10:16:30.25Z", "is_success": true}')::jsonb,
          '{"run_id": "04000000-0000-0000-0000-000000000001", "resource_id": "res-1", "pipeline_name": "orders",
            "run_as_user": "alice", "started_at": "2026-11-28T10:15:00Z", "finished_at": "2026-11-28T10:16:30.25Z",
            "is_success": true, "duration_sec": 90.25, "error": null,
            "records": {"extracted": 10, "normalized": 10, "loaded": 9},
            "metadata": {"source": "pg", "workflow": "wf-1"}, "created": false}',
          'the finish post updates the run: created false, duration_sec = finished_at - started_at');
SELECT is((SELECT count(*) FROM nilus.pipeline_run WHERE run_id = '04000000-0000-0000-0000-000000000001'),
          1::bigint, 'still one row for the run');
SELECT is((SELECT finished_at FROM nilus.pipeline_run WHERE run_id = '04000000-0000-0000-0000-000000000001'),
          '2026-11-28 10:16:30.25+00'::timestamptz, 'finished_at stored exactly');

-- A repeated identical post changes nothing at all (as if the first was in an earlier transaction).
UPDATE nilus.pipeline_run SET updated_at = now() - interval '1 hour'
 WHERE run_id = '04000000-0000-0000-0000-000000000001';
SELECT pg_temp.fingerprint() AS before_repost \gset
SELECT ctid AS ctid_before FROM nilus.pipeline_run WHERE run_id = '04000000-0000-0000-0000-000000000001' \gset
SELECT is((nilus.store_run('acme', '{"run_id": "04000000-0000-0000-0000-000000000001", "resource_id": "res-1",
                                     "pipeline_name": "orders", "started_at": "2026-11-28T10:15:00Z",
                                     "finished_at": "2026-11-28T10:16:30.25Z", "is_success": true}')::jsonb ->> 'created')::boolean,
          false, 'an identical repost answers created false');
SELECT is(pg_temp.fingerprint(), :'before_repost', 'an identical repost changes nothing (runs, rollups, updated_at)');
SELECT is((SELECT ctid::text FROM nilus.pipeline_run WHERE run_id = '04000000-0000-0000-0000-000000000001'),
          :'ctid_before', 'an identical repost writes no new row version');
SELECT is(nilus.store_run('acme', '{"run_id": "04000000-0000-0000-0000-000000000001", "resource_id": "res-1",
                                    "pipeline_name": "orders", "run_as_user": "alice", "started_at": "2026-11-28T10:15:00Z",
                                    "finished_at": "2026-11-28T10:16:30.25Z", "is_success": true,
                                    "records": {"extracted": 10, "normalized": 10, "loaded": 9},
                                    "metadata": {"source": "pg"}, "workflow": "wf-1"}')::jsonb ->> 'created',
          'false', 'a repost repeating every stored field answers created false');
SELECT is(pg_temp.fingerprint(), :'before_repost', 'a repost repeating every stored field changes nothing');

-- A correcting post changes what it gives and bumps updated_at.
SELECT is(nilus.store_run('acme', '{"run_id": "04000000-0000-0000-0000-000000000001", "resource_id": "res-1",
                                    "pipeline_name": "orders", "started_at": "2026-11-28T10:15:00Z",
                                    "is_success": false, "error": "load failed", "duration_sec": 75}')::jsonb
          - 'records' - 'metadata',
          '{"run_id": "04000000-0000-0000-0000-000000000001", "resource_id": "res-1", "pipeline_name": "orders",
            "run_as_user": "alice", "started_at": "2026-11-28T10:15:00Z", "finished_at": "2026-11-28T10:16:30.25Z",
            "is_success": false, "duration_sec": 75, "error": "load failed", "created": false}',
          'a correction: outcome, error and the runtime''s own duration_sec replace the stored ones');
SELECT is((SELECT updated_at FROM nilus.pipeline_run WHERE run_id = '04000000-0000-0000-0000-000000000001'),
          now(), 'a correction bumps updated_at');
SELECT is((SELECT created_at FROM nilus.pipeline_run WHERE run_id = '04000000-0000-0000-0000-000000000001'),
          now(), 'created_at stays');
SELECT is(nilus.store_run('acme', '{"run_id": "04000000-0000-0000-0000-000000000001", "resource_id": "res-1",
                                    "pipeline_name": "orders", "started_at": "2026-11-28T10:00:00Z",
                                    "error": null}')::jsonb - 'records' - 'metadata',
          '{"run_id": "04000000-0000-0000-0000-000000000001", "resource_id": "res-1", "pipeline_name": "orders",
            "run_as_user": "alice", "started_at": "2026-11-28T10:00:00Z", "finished_at": "2026-11-28T10:16:30.25Z",
            "is_success": false, "duration_sec": 990.25, "error": null, "created": false}',
          'a corrected started_at recomputes duration_sec; an explicit null clears error');
SELECT is((SELECT (runs, failed, durations, duration_sum, duration_max)::text FROM nilus.run_rollup_resource
            WHERE tenant = 'acme' AND resource_id = 'res-1' AND bucket = '2026-11-28 10:00:00+00'),
          (1, 1, 1, 990.25, 990.25)::text, 'the rollup counts the corrected run once, with its new values');

-- duration_sec: computed, given, or absent.
SELECT is(nilus.store_run('acme', pg_temp.run_body('04000000-0000-0000-0000-000000000002', 'res-2', '2026-11-28 23:59:59.5+00',
                                                   '{"finished_at": "2026-11-29T00:00:01.25Z", "is_success": true}'))::jsonb ->> 'duration_sec',
          '1.75', 'duration_sec computed across midnight with fractions');
SELECT is(nilus.store_run('acme', pg_temp.run_body('04000000-0000-0000-0000-000000000003', 'res-2', '2026-11-28 10:00:00+00',
                                                   '{"finished_at": "2026-11-28T10:00:10Z", "is_success": true, "duration_sec": 3.5}'))::jsonb ->> 'duration_sec',
          '3.5', 'the runtime''s duration_sec is stored as given, not recomputed');
SELECT is(nilus.store_run('acme', pg_temp.run_body('04000000-0000-0000-0000-000000000004', 'res-2', '2026-11-28 10:00:00+00',
                                                   '{"is_success": false}'))::jsonb -> 'duration_sec',
          'null'::jsonb, 'finished without finished_at or duration_sec: duration_sec null');
SELECT is(nilus.store_run('acme', pg_temp.run_body('04000000-0000-0000-0000-000000000005', 'res-2', '2026-11-28 10:00:00+00',
                                                   '{"finished_at": "2026-11-28T10:00:00Z", "is_success": true}'))::jsonb -> 'duration_sec',
          '0'::jsonb, 'finished the instant it started: duration_sec 0');
SELECT is(nilus.store_run('acme', pg_temp.run_body('04000000-0000-0000-0000-000000000006', 'res-2', '2026-11-28 10:00:00+00',
                                                   '{"duration_sec": 0.001, "is_success": true}'))::jsonb -> 'duration_sec',
          '0.001'::jsonb, 'a small duration_sec round-trips');

-- Timestamps: any offset in, UTC out, fractional seconds only when non-zero;
-- RFC 3339 at its edges: fractions of any length rounded to the microsecond,
-- offsets up to 23:59, a leap second, the years 0001 and 9999.
SELECT is(nilus.store_run('acme', pg_temp.run_body('04000000-0000-0000-0000-000000000010', 'res-3', now())
                                  || jsonb_build_object('started_at', given))::jsonb ->> 'started_at',
          expected, 'started_at ' || given || ' comes back as ' || expected)
  FROM (VALUES ('2026-11-28T12:15:00+02:00', '2026-11-28T10:15:00Z'),
               ('2026-11-28T10:15:00.123456Z', '2026-11-28T10:15:00.123456Z'),
               ('2026-11-28T10:15:00.100Z', '2026-11-28T10:15:00.1Z'),
               ('2026-11-28T10:15:00.000Z', '2026-11-28T10:15:00Z'),
               ('2026-11-28T04:45:00.5-05:30', '2026-11-28T10:15:00.5Z'),
               ('2026-11-28t10:15:00z', '2026-11-28T10:15:00Z'),
               ('2026-11-28T10:15:00.123456789Z', '2026-11-28T10:15:00.123457Z'),
               ('2026-11-28T10:15:00.9999996Z', '2026-11-28T10:15:01Z'),
               ('2026-11-28T10:15:00-00:00', '2026-11-28T10:15:00Z'),
               ('2026-11-28T23:45:00-23:59', '2026-11-29T23:44:00Z'),
               ('2026-11-28T00:15:00+23:59', '2026-11-27T00:16:00Z'),
               ('2024-02-29T12:00:00Z', '2024-02-29T12:00:00Z'),
               ('2016-12-31T23:59:60Z', '2017-01-01T00:00:00Z'),
               ('0001-01-01T00:00:00Z', '0001-01-01T00:00:00Z'),
               ('0001-01-01T01:00:00+01:00', '0001-01-01T00:00:00Z'),
               ('9999-12-31T23:59:59.999999Z', '9999-12-31T23:59:59.999999Z'),
               ('1999-12-31T23:59:59.999999Z', '1999-12-31T23:59:59.999999Z')) AS t(given, expected);
SELECT is((SELECT started_at FROM nilus.pipeline_run WHERE run_id = '04000000-0000-0000-0000-000000000010'),
          '1999-12-31 23:59:59.999999+00'::timestamptz, 'the stored started_at is the instant given');

-- Anything else is refused, naming the field: PostgreSQL's other input forms
-- (22007), and days, times and instants that do not exist or cannot be
-- written back in RFC 3339 (22008).
SELECT pg_temp.rejects(format('SELECT nilus.store_run(%L, %L)', 'acme',
                              pg_temp.run_body('04000000-0000-0000-0000-0000000000f2', 'res-3', '2026-11-28 10:00:00+00')
                              || jsonb_build_object(field, given)),
                       expected || ' ' || field, field || ' ' || given)
  FROM unnest(ARRAY['started_at', 'finished_at']) AS field,
       (VALUES ('4714-11-24 BC', '22007'), ('1999-01-08 04:05:06 PST8PDT', '22007'), ('infinity', '22007'),
               ('-infinity', '22007'), ('epoch', '22007'), ('now', '22007'), ('today', '22007'),
               ('2026-11-28 10:15:00Z', '22007'), ('2026-11-28T10:15:00', '22007'), ('2026-11-28', '22007'),
               ('2026-11-28T10:15Z', '22007'), ('2026-11-28T10:15:00.Z', '22007'), ('2026-11-28T10:15:00+0200', '22007'),
               ('2026-11-28T10:15:00+02', '22007'), ('2026-11-28T10:15:00+24:00', '22007'),
               ('+2026-11-28T10:15:00Z', '22007'), ('20261128T101500Z', '22007'), ('12026-11-28T10:15:00Z', '22007'),
               (' 2026-11-28T10:15:00Z', '22007'), ('2026-11-28T10:15:00Z ', '22007'), ('2026-11-28T10:15:00 UTC', '22007'),
               ('2026-11-28T10:15:00Z[Europe/Paris]', '22007'), ('2026-11-28T10:15:00 +01:00', '22007'), ('', '22007'),
               ('2026-02-29T00:00:00Z', '22008'), ('2026-04-31T00:00:00Z', '22008'), ('2026-11-28T24:00:00Z', '22008'),
               ('2026-11-28T10:60:00Z', '22008'), ('2026-11-28T10:15:61Z', '22008'), ('0000-12-31T23:59:59Z', '22008'),
               ('0001-01-01T00:00:00+00:01', '22008'), ('9999-12-31T23:59:59-00:01', '22008'),
               ('9999-12-31T23:59:59.9999995Z', '22008')) AS bad(given, expected);
SELECT ok(pg_temp.message_of(format('SELECT nilus.store_run(%L, %L)', 'acme',
                                    pg_temp.run_body('04000000-0000-0000-0000-0000000000f2', 'res-3', now())
                                    || '{"started_at": "1999-01-08 04:05:06 PST8PDT"}')) ~ '^started_at must be an RFC 3339 timestamp',
          'the message says what started_at must be');

-- run_id is a UUID, whatever its spelling; tenants are separate.
SELECT is(nilus.store_run('acme', pg_temp.run_body('04000000-0000-0000-0000-00000000000a', 'res-3', '2026-11-28 10:00:00+00')
                                  || '{"run_id": "04000000-0000-0000-0000-00000000000A"}')::jsonb ->> 'run_id',
          '04000000-0000-0000-0000-00000000000a', 'an upper-case run_id comes back lower-case');
SELECT is(nilus.store_run('acme', pg_temp.run_body('04000000-0000-0000-0000-00000000000a', 'res-3', '2026-11-28 10:00:00+00'))::jsonb ->> 'created',
          'false', 'the same UUID in lower case is the same run');
SELECT is(nilus.store_run('globex', pg_temp.run_body('04000000-0000-0000-0000-00000000000a', 'res-3', '2026-11-28 10:00:00+00'))::jsonb ->> 'created',
          'true', 'the same run_id in another tenant is another run');
SELECT is((SELECT count(*) FROM nilus.pipeline_run WHERE run_id = '04000000-0000-0000-0000-00000000000a'),
          2::bigint, 'one run per tenant');
SELECT is(nilus.store_run('acme', pg_temp.run_body('04000000-0000-0000-0000-000000000011', 'res-3', '2026-11-28 10:00:00+00',
                                                   '{"metadata": {"nested": {"a": [1, 2]}}, "retries": 3, "tags": ["x"]}'))::jsonb -> 'metadata',
          '{"nested": {"a": [1, 2]}, "retries": 3, "tags": ["x"]}'::jsonb, 'unknown fields of any JSON type join metadata');

-- Bad bodies: each names the field, stores nothing.
SELECT pg_temp.rejects(format('SELECT nilus.store_run(%L, %L)', tenant, body), expected, why)
  FROM (VALUES
    ('acme', '{"resource_id": "r", "pipeline_name": "p", "started_at": "2026-11-28T10:00:00Z"}', '22023 run_id', 'run_id missing'),
    ('acme', '{"run_id": "04000000-0000-0000-0000-0000000000f1", "pipeline_name": "p", "started_at": "2026-11-28T10:00:00Z"}', '22023 resource_id', 'resource_id missing'),
    ('acme', '{"run_id": "04000000-0000-0000-0000-0000000000f1", "resource_id": "r", "started_at": "2026-11-28T10:00:00Z"}', '22023 pipeline_name', 'pipeline_name missing'),
    ('acme', '{"run_id": "04000000-0000-0000-0000-0000000000f1", "resource_id": "r", "pipeline_name": "p"}', '22023 started_at', 'started_at missing'),
    ('acme', '{"run_id": null, "resource_id": "r", "pipeline_name": "p", "started_at": "2026-11-28T10:00:00Z"}', '22023 run_id', 'run_id null'),
    ('acme', '{"run_id": "not-a-uuid", "resource_id": "r", "pipeline_name": "p", "started_at": "2026-11-28T10:00:00Z"}', '22P02 run_id', 'run_id not a UUID'),
    ('acme', '{"run_id": "04000000-0000-0000-0000-0000000000f", "resource_id": "r", "pipeline_name": "p", "started_at": "2026-11-28T10:00:00Z"}', '22P02 run_id', 'run_id one digit short'),
    ('acme', '{"run_id": 42, "resource_id": "r", "pipeline_name": "p", "started_at": "2026-11-28T10:00:00Z"}', '22023 run_id', 'run_id a number'),
    ('acme', '{"run_id": "04000000-0000-0000-0000-0000000000f1", "resource_id": 7, "pipeline_name": "p", "started_at": "2026-11-28T10:00:00Z"}', '22023 resource_id', 'resource_id a number'),
    ('acme', '{"run_id": "04000000-0000-0000-0000-0000000000f1", "resource_id": "", "pipeline_name": "p", "started_at": "2026-11-28T10:00:00Z"}', '22023 resource_id', 'resource_id empty'),
    ('acme', format('{"run_id": "04000000-0000-0000-0000-0000000000f1", "resource_id": "r", "pipeline_name": "%s", "started_at": "2026-11-28T10:00:00Z"}', repeat('p', 256)), '22023 pipeline_name', 'pipeline_name of 256 characters'),
    ('acme', '{"run_id": "04000000-0000-0000-0000-0000000000f1", "resource_id": "r", "pipeline_name": "p", "started_at": "garbage"}', '22007 started_at', 'started_at not a timestamp'),
    ('acme', '{"run_id": "04000000-0000-0000-0000-0000000000f1", "resource_id": "r", "pipeline_name": "p", "started_at": "tomorrow"}', '22007 started_at', 'started_at a word PostgreSQL would read as a date'),
    ('acme', '{"run_id": "04000000-0000-0000-0000-0000000000f1", "resource_id": "r", "pipeline_name": "p", "started_at": "2026-13-01T00:00:00Z"}', '22008 started_at', 'started_at month 13'),
    ('acme', '{"run_id": "04000000-0000-0000-0000-0000000000f1", "resource_id": "r", "pipeline_name": "p", "started_at": "2026-02-30T00:00:00Z"}', '22008 started_at', 'started_at February 30'),
    ('acme', '{"run_id": "04000000-0000-0000-0000-0000000000f1", "resource_id": "r", "pipeline_name": "p", "started_at": "infinity"}', '22007 started_at', 'started_at infinity'),
    ('acme', '{"run_id": "04000000-0000-0000-0000-0000000000f1", "resource_id": "r", "pipeline_name": "p", "started_at": 1764324900}', '22023 started_at', 'started_at a number'),
    ('acme', '{"run_id": "04000000-0000-0000-0000-0000000000f1", "resource_id": "r", "pipeline_name": "p", "started_at": "2026-11-28T10:00:00Z", "finished_at": "2026-11-28T09:59:59.999999Z"}', '22023 finished_at', 'finished_at before started_at'),
    ('acme', '{"run_id": "04000000-0000-0000-0000-0000000000f1", "resource_id": "r", "pipeline_name": "p", "started_at": "2026-11-28T10:00:00Z", "finished_at": "soon"}', '22007 finished_at', 'finished_at not a timestamp'),
    ('acme', '{"run_id": "04000000-0000-0000-0000-0000000000f1", "resource_id": "r", "pipeline_name": "p", "started_at": "2026-11-28T10:00:00Z", "is_success": "yes"}', '22023 is_success', 'is_success a string'),
    ('acme', '{"run_id": "04000000-0000-0000-0000-0000000000f1", "resource_id": "r", "pipeline_name": "p", "started_at": "2026-11-28T10:00:00Z", "is_success": 1}', '22023 is_success', 'is_success a number'),
    ('acme', '{"run_id": "04000000-0000-0000-0000-0000000000f1", "resource_id": "r", "pipeline_name": "p", "started_at": "2026-11-28T10:00:00Z", "duration_sec": -1}', '22023 duration_sec', 'duration_sec negative'),
    ('acme', '{"run_id": "04000000-0000-0000-0000-0000000000f1", "resource_id": "r", "pipeline_name": "p", "started_at": "2026-11-28T10:00:00Z", "duration_sec": "10"}', '22023 duration_sec', 'duration_sec a string'),
    ('acme', '{"run_id": "04000000-0000-0000-0000-0000000000f1", "resource_id": "r", "pipeline_name": "p", "started_at": "2026-11-28T10:00:00Z", "duration_sec": 1e400}', '22023 duration_sec', 'duration_sec beyond double precision'),
    ('acme', '{"run_id": "04000000-0000-0000-0000-0000000000f1", "resource_id": "r", "pipeline_name": "p", "started_at": "2026-11-28T10:00:00Z", "records": [1, 2]}', '22023 records', 'records an array'),
    ('acme', '{"run_id": "04000000-0000-0000-0000-0000000000f1", "resource_id": "r", "pipeline_name": "p", "started_at": "2026-11-28T10:00:00Z", "metadata": "x"}', '22023 metadata', 'metadata a string'),
    ('acme', '{"run_id": "04000000-0000-0000-0000-0000000000f1", "resource_id": "r", "pipeline_name": "p", "started_at": "2026-11-28T10:00:00Z", "error": {"code": 1}}', '22023 error', 'error an object'),
    ('acme', '[{"run_id": "04000000-0000-0000-0000-0000000000f1"}]', '22023 body', 'body an array'),
    ('acme', '"run"', '22023 body', 'body a string'),
    ('', '{"run_id": "04000000-0000-0000-0000-0000000000f1", "resource_id": "r", "pipeline_name": "p", "started_at": "2026-11-28T10:00:00Z"}', '22023 tenant', 'empty tenant'),
    ('ac me', '{"run_id": "04000000-0000-0000-0000-0000000000f1", "resource_id": "r", "pipeline_name": "p", "started_at": "2026-11-28T10:00:00Z"}', '22023 tenant', 'tenant with a space')
  ) AS bad(tenant, body, expected, why);
SELECT pg_temp.rejects($$SELECT nilus.store_run('acme', NULL)$$, '22023 body', 'body NULL');
SELECT pg_temp.rejects($$SELECT nilus.store_run(NULL, '{"run_id": "04000000-0000-0000-0000-0000000000f1", "resource_id": "r", "pipeline_name": "p", "started_at": "2026-11-28T10:00:00Z"}')$$,
                       '22023 tenant', 'tenant NULL');
-- A correction that would leave the stored finish before the new start.
SELECT pg_temp.rejects($$SELECT nilus.store_run('acme', '{"run_id": "04000000-0000-0000-0000-000000000002", "resource_id": "res-2",
                                                          "pipeline_name": "pipe-res-2", "started_at": "2026-11-29T00:00:02Z"}')$$,
                       '22023 started_at', 'a correction whose started_at falls after the stored finished_at');
SELECT ok(pg_temp.message_of($$SELECT nilus.store_run('acme', '{"pipeline_name": "p"}')$$)
          ~ 'run_id' AND pg_temp.message_of($$SELECT nilus.store_run('acme', '{"pipeline_name": "p"}')$$) ~ 'resource_id'
          AND pg_temp.message_of($$SELECT nilus.store_run('acme', '{"pipeline_name": "p"}')$$) ~ 'started_at',
          'the message names every missing field');
SELECT ok(pg_temp.message_of($$SELECT nilus.store_run('acme', '{"pipeline_name": "p"}')$$) !~ 'pipeline_name',
          'the message does not name fields that are present');

SELECT * FROM finish();
ROLLBACK;
