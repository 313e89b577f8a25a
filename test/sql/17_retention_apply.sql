-- CALL nilus.apply_retention() in a session of its own (dblink), committing
-- batch by batch, while another session posts runs and offsets through the
-- API's functions: every acknowledged write is there afterwards, the latest
-- offsets are the last ones posted, the rollups equal the runs, and the
-- progress of the prune is visible to others while it runs.  The procedure
-- commits, so this file cannot roll back: it works in tenant 'ret-live' and
-- removes everything of it at the end.
\ir lib/helpers.psql
\ir lib/rollups.psql
SELECT plan(21);
CREATE EXTENSION dblink;

SELECT pg_temp.raises($$CALL nilus.apply_retention(0)$$, '22023 batch_size', 'apply_retention: batch_size 0');
SELECT pg_temp.raises($$CALL nilus.apply_retention(NULL)$$, '22023 batch_size', 'apply_retention: batch_size NULL');
SELECT pg_temp.raises($$CALL nilus.apply_retention(pace => 0)$$, '22023 pace', 'apply_retention: pace 0');
SELECT pg_temp.raises($$CALL nilus.apply_retention(pace => 1.5)$$, '22023 pace', 'apply_retention: pace above 1');

-- 2,000 runs over the last 400 days, and 3,000 offset records of three keys
-- over the last 300 days, 2,990 of them older than a day.
SELECT setseed(0.16) \g /dev/null
SELECT nilus.store_run('ret-live', pg_temp.run_body(gen_random_uuid(), 'res-' || (i % 3), now() - random() * interval '400 days',
                                                    jsonb_build_object('is_success', random() < 0.8, 'duration_sec', round((random() * 500)::numeric, 2),
                                                                       'run_as_user', (ARRAY['alice', 'bob'])[1 + i % 2])))
  FROM generate_series(1, 2000) i \g /dev/null
SELECT nilus.store_offsets('ret-live', 'cdc-live', jsonb_build_object('resource_id', 'res-cdc', 'connector_name', 'conn',
           'offsets', jsonb_build_array(jsonb_build_object('offset_key', 'k1', 'offset_val', 'old ' || f),
                                        jsonb_build_object('offset_key', 'k2', 'offset_val', 'old ' || f),
                                        jsonb_build_object('offset_key', 'k3', 'offset_val', 'old ' || f))))
  FROM generate_series(1, 1000) f \g /dev/null
-- Offsets are append-only: the suite's superuser lifts the guard to backdate
-- them, as a replica applying changes does (the guard does not fire there;
-- nor would an ALTER TABLE ... DISABLE TRIGGER reach a Citus cluster's shards).
-- The new values are computed in the subquery: Citus applies no stable
-- function (now(), timestamptz - interval) to a column in an UPDATE's SET.
SET session_replication_role = replica;
UPDATE nilus.cdc_offset o SET record_insert_ts = s.backdated
  FROM (SELECT id, now() - (3001 - row_number() OVER (ORDER BY record_insert_seq)) * interval '2 hours 23 minutes' AS backdated
          FROM nilus.cdc_offset WHERE tenant = 'ret-live') s
 WHERE o.tenant = 'ret-live' AND o.id = s.id;
RESET session_replication_role;
UPDATE nilus.cdc_offset_latest l SET record_insert_ts = o.record_insert_ts
  FROM nilus.cdc_offset o WHERE o.tenant = l.tenant AND o.id = l.id AND l.tenant = 'ret-live';
SELECT nilus.set_retention('ret-live', runs => '30 days', cdc_offsets => '1 day') \g /dev/null
SELECT count(*) AS old_runs FROM nilus.pipeline_run WHERE tenant = 'ret-live' AND started_at < now() - interval '30 days' \gset
SELECT count(*) AS kept_runs FROM nilus.pipeline_run WHERE tenant = 'ret-live' AND started_at >= now() - interval '30 days' \gset

CREATE TEMP TABLE acknowledged (kind text, id uuid, offset_key text, offset_val text, posted integer);
CREATE TEMP TABLE observed (old_runs bigint);
SELECT dblink_connect(name, format('dbname=%s port=%s host=%s user=%s', current_database(), current_setting('port'),
                                   split_part(current_setting('unix_socket_directories'), ',', 1), current_user))
  FROM unnest(ARRAY['pruner', 'writer']) name \g /dev/null
SELECT dblink_send_query('pruner', 'CALL nilus.apply_retention(batch_size => 25, pace => 1)') \g /dev/null

-- The writer posts, each post its own transaction, until the prune is over;
-- this session watches the old runs go.
DO $$
DECLARE
    i integer := 0;
    run uuid;
    answer json;
BEGIN
    WHILE dblink_is_busy('pruner') = 1 AND i < 100000 LOOP
        i := i + 1;
        run := gen_random_uuid();
        SELECT r INTO answer FROM dblink('writer', format('SELECT nilus.store_run(%L, %L)', 'ret-live',
                   pg_temp.run_body(run, 'res-' || (i % 3), now() - random() * interval '2 hours',
                                    jsonb_build_object('is_success', i % 4 <> 0, 'duration_sec', i % 97)))) AS t(r json);
        IF answer ->> 'run_id' = run::text THEN
            INSERT INTO acknowledged VALUES ('run', run, NULL, NULL, i);
        END IF;
        run := gen_random_uuid();
        SELECT r INTO answer FROM dblink('writer', format('SELECT nilus.store_offsets(%L, %L, %L)', 'ret-live', 'cdc-live',
                   jsonb_build_object('resource_id', 'res-cdc', 'connector_name', 'conn', 'offsets',
                                      jsonb_build_array(jsonb_build_object('id', run, 'offset_key', 'k' || (1 + i % 3),
                                                                           'offset_val', 'new ' || i))))) AS t(r json);
        IF answer ->> 'stored' = '1' THEN
            INSERT INTO acknowledged VALUES ('offset', run, 'k' || (1 + i % 3), 'new ' || i, i);
        END IF;
        INSERT INTO observed SELECT count(*) FROM nilus.pipeline_run
         WHERE tenant = 'ret-live' AND started_at < now() - interval '30 days';
    END LOOP;
END
$$;
SELECT is((SELECT status FROM dblink_get_result('pruner') AS r(status text)), 'CALL', 'the prune ran to its end');
SELECT dblink_get_result('pruner') \g /dev/null
SELECT dblink_disconnect(name) FROM unnest(ARRAY['pruner', 'writer']) name \g /dev/null

SELECT diag(format('posted while the prune ran: %s runs, %s offset records; the old runs seen %s times',
                   (SELECT count(*) FROM acknowledged WHERE kind = 'run'), (SELECT count(*) FROM acknowledged WHERE kind = 'offset'),
                   (SELECT count(*) FROM observed)));
SELECT cmp_ok((SELECT count(*) FROM acknowledged WHERE kind = 'run'), '>=', 10::bigint,
              'runs were posted while the prune ran');
SELECT cmp_ok((SELECT count(*) FROM acknowledged WHERE kind = 'offset'), '>=', 10::bigint,
              'offsets were posted while the prune ran');
SELECT ok((SELECT count(DISTINCT old_runs) FROM observed WHERE old_runs > 0 AND old_runs < :old_runs) > 0,
          'other sessions saw the old runs go batch by batch (each batch commits)');

SELECT is_empty($$SELECT id FROM acknowledged WHERE kind = 'run'
                  EXCEPT SELECT run_id FROM nilus.pipeline_run WHERE tenant = 'ret-live'$$,
                'every run acknowledged during the prune is stored');
SELECT is_empty($$SELECT id FROM acknowledged WHERE kind = 'offset'
                  EXCEPT SELECT id FROM nilus.cdc_offset WHERE tenant = 'ret-live'$$,
                'every offset record acknowledged during the prune is stored');
SELECT is((SELECT jsonb_object_agg(o ->> 'offset_key', o ->> 'offset_val')
             FROM json_array_elements(nilus.get_offsets('ret-live', 'cdc-live') -> 'offsets') o),
          (SELECT jsonb_object_agg(offset_key, offset_val) FROM
              (SELECT DISTINCT ON (offset_key) offset_key, offset_val FROM acknowledged
                WHERE kind = 'offset' ORDER BY offset_key, posted DESC) last),
          'get_offsets: the last value posted for each key');
SELECT is((SELECT count(*) FROM nilus.pipeline_run WHERE tenant = 'ret-live'),
          :kept_runs + (SELECT count(*) FROM acknowledged WHERE kind = 'run'),
          'runs: the young ones and the posted ones remain, no other');
SELECT is((SELECT count(*) FROM nilus.cdc_offset WHERE tenant = 'ret-live' AND record_insert_ts < now() - interval '1 day'), 0::bigint,
          'offsets: none older than the policy remains (newer records replaced every key)');
SELECT is_empty($$SELECT * FROM pg_temp.rollup_mismatches()$$,
                'the rollups equal GROUP BY over the runs that remain');
SELECT is(nilus.pipeline_stats('ret-live', 'res-1', '366d')::jsonb -> 'stats', pg_temp.expected_stats('ret-live', 'res-1', '8784 hours'),
          'pipeline_stats 366d = the plain aggregate');
SELECT is((SELECT array_agg(last_removed ORDER BY kind) FROM nilus.retention_status() WHERE tenant = 'ret-live'),
          ARRAY[2990, :old_runs]::bigint[], 'retention_status: what the prune removed, per kind (cdc_offsets, runs)');
SELECT is((SELECT count(*) FROM nilus.retention_status() WHERE tenant = 'ret-live' AND last_pruned_at > now() - interval '10 minutes'),
          2::bigint, 'retention_status: when');

CREATE ROLE retention_metrics_reader IN ROLE nilus_api;
SET ROLE retention_metrics_reader;
SELECT throws_ok($$SELECT * FROM nilus.retention_progress$$, '42501', NULL,
                 'the API''s role reads no table, retention_progress included (least privilege)');
SELECT results_eq($$SELECT kind, rows_removed_total, last_rows_removed, last_pruned_at IS NOT NULL FROM nilus.retention_metrics()$$,
                  format($$VALUES ('runs', %1$s::bigint, %1$s::bigint, true), ('cdc_offsets', 2990, 2990, true),
                                  ('state_versions', 0, 0, false), ('schema_history', 0, 0, false)$$, :old_runs),
                  'retention_metrics, for /metrics: the rows removed per kind over every tenant, and when');
SELECT is((SELECT count(*) FROM nilus.retention_metrics() WHERE interval_seconds IS NOT NULL), 0::bigint,
          'retention_metrics: no interval where no worker applies retention (nilus not preloaded here; test/native checks it preloaded)');
RESET ROLE;
SELECT nilus.clear_retention('ret-live') \g /dev/null
SELECT results_eq($$SELECT kind, rows_removed_total, last_rows_removed, last_pruned_at FROM nilus.retention_metrics()$$,
                  format($$VALUES ('runs', %1$s::bigint, 0::bigint, NULL::timestamptz), ('cdc_offsets', 2990, 0, NULL),
                                  ('state_versions', 0, 0, NULL), ('schema_history', 0, 0, NULL)$$, :old_runs),
                  'retention_metrics: a kind no policy limits any more has no last prune (its age raises no alert), its total stays');
DROP ROLE retention_metrics_reader;

-- Leave nothing behind.
DELETE FROM nilus.pipeline_run WHERE tenant = 'ret-live';
DELETE FROM nilus.run_rollup_resource WHERE tenant = 'ret-live';
DELETE FROM nilus.run_rollup_resource_day WHERE tenant = 'ret-live';
DELETE FROM nilus.run_rollup_tenant WHERE tenant = 'ret-live';
DELETE FROM nilus.run_rollup_tenant_day WHERE tenant = 'ret-live';
DELETE FROM nilus.run_rollup_user WHERE tenant = 'ret-live';
SET session_replication_role = replica;
DELETE FROM nilus.cdc_offset WHERE tenant = 'ret-live';
RESET session_replication_role;
DELETE FROM nilus.cdc_offset_latest WHERE tenant = 'ret-live';
DELETE FROM nilus.retention_progress WHERE tenant = 'ret-live';
SELECT nilus.clear_retention('ret-live') \g /dev/null
DROP EXTENSION dblink;

SELECT * FROM finish();
