-- Sample data for `make demo`: three tenants, several pipelines each, runs
-- over the last 30 days, pipeline states, CDC offsets and schema history.
-- Everything goes through the extension's own write functions (as the
-- superuser), exactly as the runtime's posts would, so rollups and latest
-- offsets are maintained as in production.  Deterministic (setseed) and a
-- few seconds to load.
--   psql -d nilus_demo -f scripts/demo-data.sql

\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SELECT setseed(0.2026);

-- What each tenant runs: batch pipelines on a schedule, and CDC connectors.
CREATE TEMP TABLE demo_pipeline (
    tenant         text,
    resource_id    text,
    pipeline_name  text,
    every          interval,   -- schedule
    avg_seconds    float8,     -- typical duration
    fail_rate      float8,
    cdc_connector  text,       -- CDC connector, NULL for batch pipelines
    users          text[]
);
INSERT INTO demo_pipeline VALUES
    ('acme',    'workflow:v1:orders-sync:public',        'orders-sync',        '2 hours',  180, 0.06, NULL,
     ARRAY['svc-nilus', 'svc-nilus', 'alice.wong']),
    ('acme',    'workflow:v1:customers-load:public',     'customers-load',     '6 hours',  420, 0.10, NULL,
     ARRAY['svc-nilus', 'raj.patel']),
    ('acme',    'workflow:v1:clickstream-ingest:public', 'clickstream-ingest', '1 hour',    95, 0.03, NULL,
     ARRAY['svc-nilus']),
    ('acme',    'service:v1:pg-orders-cdc:public',       'pg-orders-cdc',      '12 hours', 3600, 0.15, 'pg-orders-connector',
     ARRAY['svc-nilus']),
    ('globex',  'workflow:v1:ledger-export:finance',     'ledger-export',      '4 hours',  610, 0.08, NULL,
     ARRAY['svc-ledger', 'maria.gomez']),
    ('globex',  'workflow:v1:fx-rates:finance',          'fx-rates',           '1 hour',    12, 0.02, NULL,
     ARRAY['svc-ledger']),
    ('globex',  'service:v1:mysql-accounts-cdc:finance', 'mysql-accounts-cdc', '1 day',   7200, 0.10, 'mysql-accounts-connector',
     ARRAY['svc-ledger']),
    ('initech', 'workflow:v1:tps-reports:ops',           'tps-reports',        '1 day',   1500, 0.25, NULL,
     ARRAY['bill.lumbergh', 'peter.gibbons', 'svc-ops']),
    ('initech', 'workflow:v1:inventory-snapshot:ops',    'inventory-snapshot', '3 hours',  240, 0.05, NULL,
     ARRAY['svc-ops']),
    ('initech', 'service:v1:mongo-tickets-cdc:ops',      'mongo-tickets-cdc',  '8 hours', 2400, 0.12, 'mongo-tickets-connector',
     ARRAY['svc-ops']);

-- Runs: one per schedule slot over 30 days (with jitter), each posted when it
-- starts and again when it ends.  Runs whose end lies in the future are
-- still running and were posted only once.
DO $runs$
DECLARE
    p         demo_pipeline;
    slot      timestamptz;
    started   timestamptz;
    seconds   float8;
    run       jsonb;
    ok        boolean;
    extracted bigint;
    errors    text[] := ARRAY[
        'connection to source timed out after 30s',
        'column "discount_code" of relation "orders" does not exist',
        'sink rejected batch: quota exceeded',
        'schema drift: field "amount" changed type from integer to string',
        'authentication failed for depot "icebase"'];
BEGIN
    FOR p IN SELECT * FROM demo_pipeline LOOP
        slot := date_trunc('hour', now() - interval '30 days');
        WHILE slot < now() LOOP
            started := slot + random() * least(p.every, interval '20 minutes');
            EXIT WHEN started >= now();
            seconds := round((p.avg_seconds * (0.5 + random()))::numeric, 3);
            run := jsonb_build_object(
                'run_id', gen_random_uuid(),
                'resource_id', p.resource_id,
                'pipeline_name', p.pipeline_name,
                'run_as_user', p.users[1 + floor(random() * cardinality(p.users))::int],
                'started_at', started,
                'metadata', jsonb_build_object(
                    'engine', 'nilus 1.4',
                    'trigger', CASE WHEN random() < 0.9 THEN 'schedule' ELSE 'manual' END));
            PERFORM nilus.store_run(p.tenant, run);
            IF started + seconds * interval '1 second' < now() THEN
                ok := random() >= p.fail_rate;
                extracted := floor(random() * 200000)::bigint;
                run := run || jsonb_build_object(
                    'finished_at', started + seconds * interval '1 second',
                    'is_success', ok,
                    'records', jsonb_build_object(
                        'extracted', extracted,
                        'normalized', CASE WHEN ok THEN extracted ELSE extracted / 3 END,
                        'loaded', CASE WHEN ok THEN extracted ELSE 0 END),
                    'error', CASE WHEN ok THEN NULL
                                  ELSE errors[1 + floor(random() * cardinality(errors))::int] END);
                -- Half of the runtimes report their own duration.
                IF random() < 0.5 THEN
                    run := run || jsonb_build_object('duration_sec', seconds);
                END IF;
                PERFORM nilus.store_run(p.tenant, run);
            END IF;
            slot := slot + p.every;
        END LOOP;
        -- Most pipelines also have a manually started run going on right now.
        IF random() < 0.7 THEN
            PERFORM nilus.store_run(p.tenant, jsonb_build_object(
                'run_id', gen_random_uuid(),
                'resource_id', p.resource_id,
                'pipeline_name', p.pipeline_name,
                'run_as_user', p.users[cardinality(p.users)],
                'started_at', now() - random() * least(p.avg_seconds, 900) * interval '1 second',
                'metadata', jsonb_build_object('engine', 'nilus 1.4', 'trigger', 'manual')));
        END IF;
    END LOOP;
END
$runs$;

-- Pipeline states: what each pipeline resumes from, one version per recent
-- run; failed runs leave a state that is not the one to resume from.
DO $states$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT tenant, pipeline_name, run_id, is_success, row_number() OVER w AS n
          FROM (SELECT *, row_number() OVER (PARTITION BY tenant, pipeline_name
                                             ORDER BY started_at DESC) AS recent
                  FROM nilus.pipeline_run WHERE is_success IS NOT NULL) last_runs
         WHERE recent <= 6
        WINDOW w AS (PARTITION BY tenant, pipeline_name ORDER BY started_at)
    LOOP
        PERFORM nilus.store_state(r.tenant, r.pipeline_name, jsonb_build_object(
            'state', CASE WHEN r.n % 2 = 0
                          -- Many runtimes keep a compressed, base64-encoded state.
                          THEN to_jsonb(translate(encode(convert_to(format('{"cursor":%s,"run":"%s"}',
                                                                 r.n * 1000, r.run_id), 'UTF8'), 'base64'), E'\n', ''))
                          ELSE jsonb_build_object('cursor', r.n * 1000,
                                                  'watermark', now() - (7 - r.n) * interval '2 hours',
                                                  'tables', jsonb_build_array('public.orders', 'public.items'))
                     END,
            'run_id', r.run_id,
            'is_success', r.is_success));
    END LOOP;
END
$states$;

-- CDC offsets: each connector flushes its offsets every few seconds, a few
-- keys (one per server or partition) per flush.  One flush per transaction
-- (\gexec), as a connector posts them.
SELECT format('SELECT nilus.store_offsets(%L, %L, %L::jsonb)', p.tenant, p.pipeline_name,
              jsonb_build_object(
                  'resource_id', p.resource_id,
                  'connector_name', p.cdc_connector,
                  'offsets', (SELECT jsonb_agg(jsonb_build_object(
                                  'offset_key', jsonb_build_object('server', p.pipeline_name,
                                                                   'partition', k)::text,
                                  'offset_val', jsonb_build_object(
                                      'lsn', 24000000 + flush * 4096 + k * 17,
                                      'txId', 900000 + flush,
                                      'ts_usec', (extract(epoch FROM now()) * 1e6)::bigint
                                                 - (200 - flush) * 5000000)::text)
                                ORDER BY k)
                                FROM generate_series(0, 1 + flush % 2) k)))
  FROM demo_pipeline p, generate_series(1, 200) flush
 WHERE p.cdc_connector IS NOT NULL
 ORDER BY flush, p.tenant
\gexec

-- CDC schema history: the connector's initial snapshot of the table
-- definitions, then the DDL it saw later, in order.
SELECT format('SELECT nilus.store_schema_history(%L, %L, %L::jsonb)', p.tenant, p.pipeline_name,
              jsonb_build_object(
                  'resource_id', p.resource_id,
                  'connector_name', p.cdc_connector,
                  'records', (SELECT jsonb_agg(jsonb_build_object('history_data', jsonb_build_object(
                                  'source', jsonb_build_object('server', p.pipeline_name),
                                  'position', jsonb_build_object('lsn', 24000000 + batch * 100000 + t),
                                  'databaseName', 'app',
                                  'ddl', CASE WHEN batch = 0
                                              THEN format('CREATE TABLE app.%s (id bigint PRIMARY KEY, '
                                                          'payload jsonb, updated_at timestamptz)', tbl)
                                              ELSE format('ALTER TABLE app.%s ADD COLUMN c%s text', tbl, batch)
                                         END,
                                  'tableChanges', jsonb_build_array(jsonb_build_object(
                                      'type', CASE WHEN batch = 0 THEN 'CREATE' ELSE 'ALTER' END,
                                      'id', format('"app"."%s"', tbl))))::text)
                                ORDER BY t)
                                FROM unnest(ARRAY['orders', 'items', 'customers', 'tickets'])
                                     WITH ORDINALITY AS tables(tbl, t)
                               WHERE batch = 0 OR t = 1 + batch % 4)))
  FROM demo_pipeline p, generate_series(0, 5) batch
 WHERE p.cdc_connector IS NOT NULL
 ORDER BY batch, p.tenant
\gexec

DROP TABLE demo_pipeline;
ANALYZE nilus.pipeline_run, nilus.cdc_offset, nilus.cdc_schema_history, nilus.pipeline_state;
