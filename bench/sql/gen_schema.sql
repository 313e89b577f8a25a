-- Loads one CDC pipeline's schema history through nilus.store_schema_history:
-- Debezium DDL events of a few KiB each, posted a few at a time, and one large
-- (about 1 MiB) snapshot of many tables, as a connector's first start writes.
-- psql variables: tenant, pipeline, resource_id, connector, records.
\set ON_ERROR_STOP 1
SET nilus_bench.tenant = :'tenant';
SET nilus_bench.pipeline = :'pipeline';
SET nilus_bench.resource_id = :'resource_id';
SET nilus_bench.connector = :'connector';
SET nilus_bench.records = :'records';

-- One DDL event; columns sets its size (about 60 bytes a column).
CREATE FUNCTION pg_temp.ddl_event(connector text, seq int, columns int) RETURNS text
LANGUAGE sql AS $$
    SELECT jsonb_build_object(
        'source', jsonb_build_object('server', connector),
        'position', jsonb_build_object('lsn', seq * 4096, 'txId', 500000 + seq),
        'ts_ms', 1700000000000 + seq * 1000,
        'databaseName', 'orders',
        'ddl', format('CREATE TABLE public.t%s (%s)', seq,
                      (SELECT string_agg(format('c%s numeric(18,2)', c), ', ') FROM generate_series(1, columns) c)),
        'tableChanges', jsonb_build_array(jsonb_build_object(
            'type', 'CREATE', 'id', format('"public"."t%s"', seq),
            'table', jsonb_build_object('columns',
                (SELECT jsonb_agg(jsonb_build_object('name', 'c' || c, 'typeName', 'numeric', 'length', 18, 'scale', 2))
                 FROM generate_series(1, columns) c)))))::text
$$;

DO $gen$
DECLARE
    tenant     text := current_setting('nilus_bench.tenant');
    pipeline   text := current_setting('nilus_bench.pipeline');
    resource   text := current_setting('nilus_bench.resource_id');
    connector  text := current_setting('nilus_bench.connector');
    total      int := current_setting('nilus_bench.records')::int;
    per_post   constant int := 5;
    done       int := 0;
BEGIN
    PERFORM nilus.store_schema_history(tenant, pipeline, jsonb_build_object(
                'resource_id', resource, 'connector_name', connector,
                'records', jsonb_build_array(jsonb_build_object('history_data', pg_temp.ddl_event(connector, 0, 9000)))));
    WHILE done < total - 1 LOOP
        PERFORM nilus.store_schema_history(tenant, pipeline, jsonb_build_object(
                    'resource_id', resource, 'connector_name', connector,
                    'records', (SELECT jsonb_agg(jsonb_build_object('history_data', pg_temp.ddl_event(connector, s, 20 + s % 50)) ORDER BY s)
                                FROM generate_series(done + 1, least(done + per_post, total - 1)) s)));
        done := least(done + per_post, total - 1);
    END LOOP;
END
$gen$;
