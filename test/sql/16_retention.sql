-- Retention: policies and their checks, then nilus.prune_batch (what each
-- transaction of CALL nilus.apply_retention() runs) over randomized history
-- of several tenants: what remains is what the policies keep, the rollups,
-- stats and listing totals equal plain aggregates over it, and what the
-- runtime resumes from (get_offsets, schema_history_exists, get_state)
-- answers exactly as before.  The procedure itself, with its commits and
-- concurrent writers, is 17_retention_apply.sql.
BEGIN;
\ir lib/helpers.psql
\ir lib/rollups.psql
SELECT plan(454);
-- Buckets are UTC hours and days whatever the session's zone.
SET LOCAL TimeZone = 'Asia/Kolkata';

------------------------------------------------------------------------------
-- Policies
------------------------------------------------------------------------------
SELECT results_eq('SELECT tenant, runs, cdc_offsets, state_versions, schema_history FROM nilus.retention_policy',
                  $$VALUES ('*', NULL::interval, NULL::interval, NULL::integer, NULL::interval)$$,
                  'shipped: one default row that keeps everything');
SELECT is_empty('SELECT * FROM nilus.retention_work()', 'shipped: nothing to prune');

SELECT pg_temp.rejects($$SELECT nilus.set_retention(NULL, runs => '1 day')$$, '22023 tenant', 'set_retention without tenant');
SELECT pg_temp.rejects($$SELECT nilus.set_retention('acme', runs => '59 minutes')$$, '22023 runs',
                       'set_retention: runs under an hour');
SELECT pg_temp.rejects($$SELECT nilus.set_retention('acme', cdc_offsets => '-1 day')$$, '22023 cdc_offsets',
                       'set_retention: a negative cdc_offsets');
SELECT pg_temp.rejects($$SELECT nilus.set_retention('acme', schema_history => '1 second')$$, '22023 schema_history',
                       'set_retention: schema_history under an hour');
SELECT pg_temp.rejects($$SELECT nilus.set_retention('acme', state_versions => -1)$$, '22023 state_versions',
                       'set_retention: a negative state_versions');
SELECT pg_temp.rejects($$SELECT nilus.prune_batch('acme', 'logs')$$, '22023 kind', 'prune_batch: an unknown kind');
SELECT pg_temp.rejects($$SELECT nilus.prune_batch('acme', 'runs', 0)$$, '22023 batch_size', 'prune_batch: batch_size 0');
SELECT pg_temp.rejects($$SELECT nilus.prune_batch('bad tenant', 'runs')$$, '22023 tenant', 'prune_batch: a bad tenant');

SELECT is((SELECT (p.tenant, p.runs, p.cdc_offsets, p.state_versions, p.schema_history)::text
             FROM nilus.set_retention('acme', runs => '30 days', state_versions => 3) p),
          '(acme,"30 days",,3,)', 'set_retention returns the stored row');
SELECT is((SELECT (p.tenant, p.runs, p.cdc_offsets, p.state_versions, p.schema_history)::text
             FROM nilus.set_retention('acme', cdc_offsets => '7 days') p),
          '(acme,,"7 days",,)', 'set_retention again replaces the whole row (an omitted kind: for ever)');
SELECT is(nilus.clear_retention('acme'), true, 'clear_retention: the row was there');
SELECT is(nilus.clear_retention('acme'), false, 'clear_retention: no row left');

-- Rights: like tokens, administration stays with the owner; analysts read
-- the policies of their tenants and the default.
CREATE ROLE retention_analyst IN ROLE nilus_analyst;
INSERT INTO nilus.tenant_role VALUES ('acme', 'retention_analyst');
SELECT nilus.set_retention('acme', runs => '30 days') \g /dev/null
SELECT nilus.set_retention('globex', runs => '60 days') \g /dev/null
SET LOCAL ROLE retention_analyst;
SELECT is(pg_temp.error_of($$SELECT nilus.set_retention('acme', runs => '1 day')$$), '42501', 'an analyst cannot set a policy');
SELECT is(pg_temp.error_of($$SELECT nilus.clear_retention('acme')$$), '42501', 'an analyst cannot clear a policy');
SELECT is(pg_temp.error_of($$SELECT nilus.prune_batch('acme', 'runs')$$), '42501', 'an analyst cannot prune');
SELECT is(pg_temp.error_of($$CALL nilus.apply_retention()$$), '42501', 'an analyst cannot apply retention');
SELECT is(pg_temp.error_of($$UPDATE nilus.retention_policy SET runs = NULL$$), '42501', 'an analyst cannot write policies');
SELECT results_eq('SELECT tenant FROM nilus.retention_policy ORDER BY 1', $$VALUES ('*'), ('acme')$$,
                  'an analyst sees the default and the policies of its tenants only');
RESET ROLE;
SELECT nilus.clear_retention(t) FROM unnest(ARRAY['acme', 'globex']) t \g /dev/null

------------------------------------------------------------------------------
-- Randomized history of five tenants over 400 days
------------------------------------------------------------------------------
SELECT pg_temp.random_runs(t, 160, s) FROM (VALUES ('ret-a', 0.31), ('ret-b', 0.32), ('ret-c', 0.33),
                                                   ('ret-keep', 0.34), ('ret-none', 0.35)) AS v(t, s) \g /dev/null

-- Offsets: Debezium flushes of two or three keys to three pipelines; then
-- spread over 400 days (the latest-offset rows move with their records).
SELECT nilus.store_offsets(t, 'cdc-' || p, jsonb_build_object(
           'resource_id', 'res-' || p, 'connector_name', 'conn-' || p,
           'offsets', (SELECT jsonb_agg(jsonb_build_object('offset_key', 'key-' || k,
                                                           'offset_val', format('{"lsn": %s}', f * 10 + k)))
                         FROM generate_series(1, 2 + p % 2) k WHERE random() < 0.8 OR k = 1)))
  FROM unnest(ARRAY['ret-a', 'ret-b', 'ret-c', 'ret-keep', 'ret-none']) t, generate_series(1, 3) p,
       generate_series(1, 40) f \g /dev/null
-- Offsets and schema history are append-only: the suite's superuser lifts
-- the guard to backdate the fixtures (the file rolls back), as a replica
-- applying changes does (the guard does not fire there; nor would an ALTER
-- TABLE ... DISABLE TRIGGER reach a Citus cluster's shards).
-- The new values are computed in the subqueries: Citus applies no stable
-- function (now(), timestamptz - interval) to a column in an UPDATE's SET.
SET LOCAL session_replication_role = replica;
UPDATE nilus.cdc_offset o SET record_insert_ts = s.backdated
  FROM (SELECT id, tenant, now() - (row_number() OVER (PARTITION BY tenant, pipeline_name ORDER BY record_insert_seq DESC) - 1)
                                   * interval '2 days 1 hour' - interval '1 second' AS backdated
          FROM nilus.cdc_offset) s
 WHERE o.tenant = s.tenant AND o.id = s.id;
UPDATE nilus.cdc_offset_latest l SET record_insert_ts = o.record_insert_ts
  FROM nilus.cdc_offset o WHERE o.tenant = l.tenant AND o.id = l.id;
-- A key whose latest record is itself old: it stays, however old.
SELECT nilus.store_offsets(t, 'cdc-idle', '{"resource_id": "res-idle", "connector_name": "conn-idle",
                                             "offsets": [{"offset_key": "k", "offset_val": "1"}, {"offset_key": "k", "offset_val": "2"}]}')
  FROM unnest(ARRAY['ret-a', 'ret-b', 'ret-c']) t \g /dev/null
UPDATE nilus.cdc_offset SET record_insert_ts = now() - interval '399 days' WHERE pipeline_name = 'cdc-idle';
UPDATE nilus.cdc_offset_latest SET record_insert_ts = now() - interval '399 days' WHERE pipeline_name = 'cdc-idle';

-- States: versions of three pipelines, a fifth of them unsuccessful, one
-- pipeline whose newest versions failed, one that never succeeded.
SELECT nilus.store_state(t, 'batch-' || p, jsonb_build_object('state', format('%s/%s', p, v),
                                                              'is_success', CASE p WHEN 3 THEN false
                                                                                   WHEN 2 THEN v < 12 ELSE random() > 0.2 END))
  FROM unnest(ARRAY['ret-a', 'ret-b', 'ret-c', 'ret-keep', 'ret-none']) t, generate_series(1, 3) p,
       generate_series(1, 15) v \g /dev/null

-- Schema history of two pipelines, spread over 400 days.
SELECT nilus.store_schema_history(t, 'cdc-' || p, jsonb_build_object(
           'resource_id', 'res-' || p, 'connector_name', 'conn-' || p,
           'records', (SELECT jsonb_agg(jsonb_build_object('history_data', format('{"ddl": "%s"}', i))) FROM generate_series(1, 3) i)))
  FROM unnest(ARRAY['ret-a', 'ret-b', 'ret-c', 'ret-keep', 'ret-none']) t, generate_series(1, 2) p, generate_series(1, 4) b \g /dev/null
UPDATE nilus.cdc_schema_history h SET record_insert_ts = s.backdated
  FROM (SELECT id, tenant, now() - (row_number() OVER (PARTITION BY tenant, pipeline_name ORDER BY record_insert_seq DESC) - 1)
                                   * interval '17 days' AS backdated
          FROM nilus.cdc_schema_history) s
 WHERE h.tenant = s.tenant AND h.id = s.id;
SET LOCAL session_replication_role = origin;

-- The policies: two tenants of their own, one keeping everything by its own
-- row, the default for the rest (ret-c, ret-none).
SELECT nilus.set_retention('ret-a', runs => '30 days', cdc_offsets => '10 days', state_versions => 2) \g /dev/null
SELECT nilus.set_retention('ret-b', runs => '200 days', cdc_offsets => '100 days', state_versions => 0,
                           schema_history => '30 days') \g /dev/null
SELECT nilus.set_retention('ret-keep') \g /dev/null
SELECT nilus.set_retention('*', runs => '90 days', state_versions => 5) \g /dev/null
CREATE TEMP TABLE policy AS
    SELECT t AS tenant, p.runs, p.cdc_offsets, p.state_versions, p.schema_history
      FROM unnest(ARRAY['ret-a', 'ret-b', 'ret-c', 'ret-keep', 'ret-none']) t, nilus.effective_retention(t) p;

SELECT results_eq($$SELECT tenant, array_agg(kind ORDER BY kind) FROM nilus.retention_work()
                     WHERE tenant LIKE 'ret-%' GROUP BY 1 ORDER BY 1$$,
                  $$VALUES ('ret-a', ARRAY['cdc_offsets', 'runs', 'state_versions']),
                           ('ret-b', ARRAY['cdc_offsets', 'runs', 'schema_history', 'state_versions']),
                           ('ret-c', ARRAY['runs', 'state_versions']), ('ret-none', ARRAY['runs', 'state_versions'])$$,
                  'retention_work: the kinds each tenant''s policy limits (its own row, else the default)');

-- What the runtime resumes from, and everything, before.
CREATE TEMP TABLE resume_before AS
    SELECT tenant, pipeline_name, nilus.get_offsets(tenant, pipeline_name)::jsonb AS offsets,
           nilus.schema_history_exists(tenant, pipeline_name)::jsonb AS history_exists,
           pg_temp.error_of(format('SELECT nilus.get_state(%L, %L)', tenant, pipeline_name)) AS state_error,
           (SELECT s.state FROM nilus.pipeline_state s WHERE s.tenant = p.tenant AND s.pipeline_name = p.pipeline_name
               AND s.is_success ORDER BY s.version DESC LIMIT 1) AS state
      FROM (SELECT tenant, pipeline_name FROM nilus.cdc_offset UNION SELECT tenant, pipeline_name FROM nilus.pipeline_state
            UNION SELECT tenant, pipeline_name FROM nilus.cdc_schema_history) p;
-- The rollup rows of minutes, hours and days wholly before a tenant's cutoff for
-- runs; and those of them that count nothing before the prune (the trigger
-- leaves a bucket's shards adding up to zero when a run leaves it).
CREATE FUNCTION pg_temp.rollup_rows_before_cutoff()
RETURNS TABLE (rollup text, tenant text, key text, bucket timestamptz, counts_nothing boolean) LANGUAGE sql AS $$
    SELECT 'resource', r.tenant, r.resource_id, r.bucket, sum(r.runs) = 0 FROM nilus.run_rollup_resource r JOIN policy p USING (tenant)
     WHERE r.bucket < now() - p.runs - interval '1 hour' GROUP BY 1, 2, 3, 4
    UNION ALL SELECT 'resource_day', r.tenant, r.resource_id, r.bucket, sum(r.runs) = 0 FROM nilus.run_rollup_resource_day r JOIN policy p USING (tenant)
     WHERE r.bucket < now() - p.runs - interval '1 day' GROUP BY 1, 2, 3, 4
    UNION ALL SELECT 'tenant', r.tenant, NULL, r.bucket, sum(r.runs) = 0 FROM nilus.run_rollup_tenant r JOIN policy p USING (tenant)
     WHERE r.bucket < now() - p.runs - interval '1 hour' GROUP BY 1, 2, 3, 4
    UNION ALL SELECT 'tenant_day', r.tenant, NULL, r.bucket, sum(r.runs) = 0 FROM nilus.run_rollup_tenant_day r JOIN policy p USING (tenant)
     WHERE r.bucket < now() - p.runs - interval '1 day' GROUP BY 1, 2, 3, 4
    UNION ALL SELECT 'user', r.tenant, r.run_as_user, r.bucket, sum(r.runs) = 0 FROM nilus.run_rollup_user r JOIN policy p USING (tenant)
     WHERE r.bucket < now() - p.runs - interval '1 hour' GROUP BY 1, 2, 3, 4
    UNION ALL SELECT 'resource_minute', r.tenant, r.resource_id, r.bucket, sum(r.runs) = 0 FROM nilus.run_rollup_resource_minute r JOIN policy p USING (tenant)
     WHERE r.bucket < now() - p.runs - interval '1 minute' GROUP BY 1, 2, 3, 4
    UNION ALL SELECT 'resource_second', r.tenant, r.resource_id, r.bucket, sum(r.runs) = 0 FROM nilus.run_rollup_resource_second r JOIN policy p USING (tenant)
     WHERE r.bucket < now() - p.runs - interval '1 second' GROUP BY 1, 2, 3, 4
    UNION ALL SELECT 'tenant_minute', r.tenant, NULL, r.bucket, sum(r.runs) = 0 FROM nilus.run_rollup_tenant_minute r JOIN policy p USING (tenant)
     WHERE r.bucket < now() - p.runs - interval '1 minute' GROUP BY 1, 2, 3, 4
    UNION ALL SELECT 'user_minute', r.tenant, r.run_as_user, r.bucket, sum(r.runs) = 0 FROM nilus.run_rollup_user_minute r JOIN policy p USING (tenant)
     WHERE r.bucket < now() - p.runs - interval '1 minute' GROUP BY 1, 2, 3, 4
    UNION ALL SELECT 'resource_user_' || r.grain, r.tenant, r.resource_id || ' ' || r.run_as_user, r.bucket, sum(r.runs) = 0
      FROM (SELECT 'minute' AS grain, interval '1 minute' AS width, * FROM nilus.run_rollup_resource_user_minute
            UNION ALL SELECT 'hour', interval '1 hour', * FROM nilus.run_rollup_resource_user
            UNION ALL SELECT 'day', interval '1 day', * FROM nilus.run_rollup_resource_user_day) r JOIN policy p USING (tenant)
     WHERE r.bucket < now() - p.runs - r.width GROUP BY 1, 2, 3, 4
$$;
CREATE TEMP TABLE empty_rollup_rows_before AS SELECT * FROM pg_temp.rollup_rows_before_cutoff() WHERE counts_nothing;
SELECT ok((SELECT count(*) FROM pg_temp.rollup_rows_before_cutoff() WHERE NOT counts_nothing) > 0,
          'before the prune, rollup rows count runs in the hours and days to be pruned');
CREATE TEMP TABLE runs_before AS SELECT * FROM nilus.pipeline_run;
CREATE TEMP TABLE offsets_before AS SELECT * FROM nilus.cdc_offset;
CREATE TEMP TABLE states_before AS SELECT * FROM nilus.pipeline_state;
CREATE TEMP TABLE history_before AS SELECT * FROM nilus.cdc_schema_history;

-- Every batch of every (tenant, kind), as the procedure runs them (small
-- batches, so that hours and days are split between them).
CREATE FUNCTION pg_temp.prune_all(batch_size integer, run_started_at timestamptz) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    work record;
    removed bigint;
    total bigint := 0;
BEGIN
    FOR work IN SELECT * FROM nilus.retention_work() LOOP
        LOOP
            removed := nilus.prune_batch(work.tenant, work.kind, batch_size, run_started_at);
            total := total + removed;
            EXIT WHEN removed < batch_size;
        END LOOP;
    END LOOP;
    RETURN total;
END
$$;
SELECT pg_temp.prune_all(7, now()) AS removed \gset
SELECT ok(:removed > 0, 'the policies removed something');

------------------------------------------------------------------------------
-- What remains is what the policies keep
------------------------------------------------------------------------------
SELECT results_eq($$SELECT * FROM nilus.pipeline_run ORDER BY tenant, run_id$$,
                  $$SELECT r.* FROM runs_before r JOIN policy p USING (tenant)
                     WHERE p.runs IS NULL OR r.started_at >= now() - p.runs ORDER BY tenant, run_id$$,
                  'runs: exactly those started within the policy remain, finished or not');
SELECT results_eq($$SELECT * FROM nilus.cdc_offset ORDER BY tenant, id$$,
                  $$SELECT o.* FROM offsets_before o JOIN policy p USING (tenant)
                     WHERE p.cdc_offsets IS NULL OR o.record_insert_ts >= now() - p.cdc_offsets
                        OR NOT EXISTS (SELECT 1 FROM offsets_before n WHERE n.tenant = o.tenant AND n.pipeline_name = o.pipeline_name
                                          AND n.offset_key = o.offset_key AND n.record_insert_seq > o.record_insert_seq)
                     ORDER BY tenant, id$$,
                  'offsets: those inserted within the policy remain, and the latest record of every key');
SELECT ok((SELECT count(*) FROM nilus.cdc_offset o JOIN policy p USING (tenant)
            WHERE o.record_insert_ts < now() - p.cdc_offsets) > 0, 'old latest records of keys were kept');
SELECT results_eq($$SELECT * FROM nilus.pipeline_state ORDER BY tenant, pipeline_name, version$$,
                  $$SELECT s.* FROM states_before s JOIN policy p USING (tenant)
                     WHERE p.state_versions IS NULL
                        OR s.version = (SELECT max(version) FROM states_before o WHERE o.tenant = s.tenant
                                           AND o.pipeline_name = s.pipeline_name AND o.is_success)
                        OR (SELECT count(*) FROM states_before n WHERE n.tenant = s.tenant AND n.pipeline_name = s.pipeline_name
                               AND n.version > s.version
                               AND n.version IS DISTINCT FROM (SELECT max(version) FROM states_before o WHERE o.tenant = s.tenant
                                                                  AND o.pipeline_name = s.pipeline_name AND o.is_success))
                           < p.state_versions
                     ORDER BY tenant, pipeline_name, version$$,
                  'states: the latest successful version and the policy''s count of others remain');
SELECT results_eq($$SELECT * FROM nilus.cdc_schema_history ORDER BY tenant, id$$,
                  $$SELECT h.* FROM history_before h JOIN policy p USING (tenant)
                     WHERE p.schema_history IS NULL OR h.record_insert_ts >= now() - p.schema_history
                        OR NOT EXISTS (SELECT 1 FROM history_before n WHERE n.tenant = h.tenant
                                          AND n.pipeline_name = h.pipeline_name AND n.record_insert_seq > h.record_insert_seq)
                     ORDER BY tenant, id$$,
                  'schema history: removed only where a policy says so, never the newest record of a pipeline');
SELECT ok((SELECT count(*) FROM history_before WHERE tenant = 'ret-b') > (SELECT count(*) FROM nilus.cdc_schema_history WHERE tenant = 'ret-b'),
          'schema history: ret-b''s explicit policy removed records');
SELECT results_eq($$SELECT tenant, kind, last_removed, total_removed FROM nilus.retention_progress ORDER BY 1, 2$$,
                  $$SELECT w.tenant, w.kind, n, n FROM nilus.retention_work() w, LATERAL (SELECT CASE w.kind
                        WHEN 'runs' THEN (SELECT count(*) FROM runs_before b WHERE b.tenant = w.tenant) - (SELECT count(*) FROM nilus.pipeline_run r WHERE r.tenant = w.tenant)
                        WHEN 'cdc_offsets' THEN (SELECT count(*) FROM offsets_before b WHERE b.tenant = w.tenant) - (SELECT count(*) FROM nilus.cdc_offset r WHERE r.tenant = w.tenant)
                        WHEN 'state_versions' THEN (SELECT count(*) FROM states_before b WHERE b.tenant = w.tenant) - (SELECT count(*) FROM nilus.pipeline_state r WHERE r.tenant = w.tenant)
                        ELSE (SELECT count(*) FROM history_before b WHERE b.tenant = w.tenant) - (SELECT count(*) FROM nilus.cdc_schema_history r WHERE r.tenant = w.tenant) END) AS c(n)
                     ORDER BY 1, 2$$,
                  'retention_progress: the rows removed per tenant and kind');
SELECT results_eq($$SELECT tenant, kind, keep, last_pruned_at = now() FROM nilus.retention_status() WHERE tenant = 'ret-b'$$,
                  $$VALUES ('ret-b', 'cdc_offsets', '100 days', true), ('ret-b', 'runs', '200 days', true),
                           ('ret-b', 'schema_history', '30 days', true), ('ret-b', 'state_versions', '0', true)$$,
                  'retention_status: the policy in force and the time of the last prune, per kind');

------------------------------------------------------------------------------
-- Rollups, stats and totals equal plain aggregates over what remains
------------------------------------------------------------------------------
SELECT is_empty('SELECT * FROM pg_temp.rollup_mismatches()',
                'every rollup (resource, tenant, user; by minute, hourly and daily) = GROUP BY over the runs that remain');
SELECT is_empty($$SELECT * FROM pg_temp.rollup_rows_before_cutoff() EXCEPT SELECT * FROM empty_rollup_rows_before$$,
                'no rollup row is left for the minutes, hours and days that were pruned whole (but those the trigger had emptied before)');

SELECT is(nilus.pipeline_stats(t, r, p)::jsonb -> 'stats', pg_temp.expected_stats(t, r, s),
          format('after pruning, pipeline_stats(%s, %s, %s) = the plain aggregate', t, r, p))
  FROM unnest(ARRAY['ret-a', 'ret-b', 'ret-c']) t, unnest(ARRAY['res-a', 'res-b', 'res-c']) r,
       (VALUES ('24h', interval '24 hours'), ('7d', interval '168 hours'), ('31d', interval '744 hours'),
               ('100d', interval '2400 hours'), ('366d', interval '8784 hours')) AS v(p, s);

SELECT is((nilus.list_pipelines(t, run_as_user => c.run_as_user, is_success => c.is_success, resource_id => c.resource_id,
                                started_at => c.started_at, started_at_gte => c.started_at_gte,
                                started_at_lte => c.started_at_lte)::jsonb ->> 'total')::bigint,
          (SELECT count(*) FROM pg_temp.runs_matching(t, c.run_as_user, c.is_success, c.resource_id, c.started_at,
                                                      c.started_at_gte, c.started_at_lte)),
          format('after pruning, list_pipelines total (%s, %s) = count(*)', t, c.label))
  FROM unnest(ARRAY['ret-a', 'ret-c']) t, pg_temp.filter_cases() c;
SELECT is((nilus.list_pipelines(t, started_at_gte => now() - d)::jsonb ->> 'total')::bigint,
          (SELECT count(*) FROM nilus.pipeline_run r WHERE r.tenant = t AND r.started_at >= now() - d),
          format('after pruning, list_pipelines total from %s ago (%s) = count(*)', d, t))
  FROM unnest(ARRAY['ret-a', 'ret-b', 'ret-c']) t,
       unnest(ARRAY[interval '29 days 23 hours 30 minutes', interval '30 days 30 minutes', interval '95 days',
                    interval '400 days']) d;

------------------------------------------------------------------------------
-- What the runtime resumes from answers as before
------------------------------------------------------------------------------
SELECT is_empty($$SELECT tenant, pipeline_name FROM resume_before b
                   WHERE nilus.get_offsets(tenant, pipeline_name)::jsonb IS DISTINCT FROM b.offsets$$,
                'get_offsets answers exactly as before for every pipeline');
SELECT is_empty($$SELECT tenant, pipeline_name FROM resume_before b
                   WHERE nilus.schema_history_exists(tenant, pipeline_name)::jsonb IS DISTINCT FROM b.history_exists$$,
                'schema_history_exists answers exactly as before for every pipeline');
SELECT is_empty($$SELECT tenant, pipeline_name FROM resume_before b
                   WHERE pg_temp.error_of(format('SELECT nilus.get_state(%L, %L)', tenant, pipeline_name)) IS DISTINCT FROM b.state_error
                      OR (b.state_error = 'no error' AND nilus.get_state(tenant, pipeline_name)::jsonb -> 'state' IS DISTINCT FROM b.state)$$,
                'get_state answers exactly as before for every pipeline (404 where it was)');
SELECT ok((SELECT count(*) FROM resume_before WHERE state_error = 'P0002') > 0, 'some pipelines had no successful state');

-- A second pass finds nothing, and says so.
SELECT is(pg_temp.prune_all(7, now() + interval '1 second'), 0::bigint, 'a second pass removes nothing');
SELECT is_empty($$SELECT * FROM nilus.retention_progress WHERE last_removed <> 0$$,
                'the second pass is recorded with nothing removed');

-- The setting that schedules it (defined when the library loads).
SELECT is(current_setting('nilus.retention_interval'), '1h', 'nilus.retention_interval defaults to 1h');
SELECT is(pg_temp.error_of($$SET nilus.retention_interval = '5min'$$), '55P02',
          'nilus.retention_interval is a server setting (postgresql.conf, ALTER SYSTEM)');

SELECT * FROM finish();
ROLLBACK;
