-- health, info and storage_health: the service-level bodies.
BEGIN;
\ir lib/helpers.psql
SELECT plan(19);

\set rfc3339 '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d*[1-9])?Z$'

SELECT is(nilus.health()::jsonb - 'checked_at',
          jsonb_build_object('status', 'ok', 'database', 'ok',
                             'extension_version', (SELECT extversion FROM pg_extension WHERE extname = 'nilus')),
          'health: ok, with the installed extension version');
SELECT matches(nilus.health()::jsonb ->> 'checked_at', :'rfc3339', 'health: checked_at is RFC 3339 UTC');
SELECT is((nilus.health()::jsonb ->> 'checked_at')::timestamptz BETWEEN now() AND clock_timestamp(), true,
          'health: checked_at is the time of the check');

-- The library's version is the control file's default_version (one source of truth).
SELECT is(nilus.info()::jsonb - 'build',
          jsonb_build_object('service', 'nilus-manager',
                             'version', (SELECT default_version FROM pg_available_extensions WHERE name = 'nilus'),
                             'extension_version', (SELECT extversion FROM pg_extension WHERE extname = 'nilus')),
          'info: service, version (the control file''s), extension version');
SELECT is(nilus.info()::jsonb #>> '{build,library_version}',
          (SELECT default_version FROM pg_available_extensions WHERE name = 'nilus'),
          'info: the library''s version is the control file''s default_version');
SELECT is(nilus.info()::jsonb -> 'build' ->> 'postgresql_running', current_setting('server_version'),
          'info: the PostgreSQL it runs on');
SELECT is(jsonb_typeof(nilus.info()::jsonb -> 'build'), 'object', 'info: build details as an object');

-- storage_health per tenant.
SELECT is(nilus.storage_health('acme')::jsonb - 'checked_at' #- '{offset_storage,latency_ms}' #- '{schema_history_storage,latency_ms}',
          '{"status": "ok", "tenant": "acme", "writable": true,
            "offset_storage": {"status": "ok", "last_record_insert_ts": null},
            "schema_history_storage": {"status": "ok", "last_record_insert_ts": null}}',
          'storage_health of a tenant without CDC records: ok, nothing written yet');
SELECT nilus.store_offsets('acme', 'p', '{"resource_id": "r", "connector_name": "c", "offsets": [{"offset_key": "k", "offset_val": "v"}]}') \g /dev/null
SELECT nilus.store_schema_history('globex', 'p', '{"resource_id": "r", "connector_name": "c", "records": [{"history_data": "h"}]}') \g /dev/null
SELECT is(nilus.storage_health('acme')::jsonb #>> '{offset_storage,last_record_insert_ts}', pg_temp.rfc3339(now()),
          'storage_health: when the tenant''s offsets were last written');
SELECT is(nilus.storage_health('acme')::jsonb #> '{schema_history_storage,last_record_insert_ts}', 'null'::jsonb,
          'storage_health: another tenant''s schema history does not count');
SELECT is(nilus.storage_health('globex')::jsonb #>> '{schema_history_storage,last_record_insert_ts}', pg_temp.rfc3339(now()),
          'storage_health of globex: its schema history');
SELECT is(jsonb_typeof(nilus.storage_health('acme')::jsonb #> '{offset_storage,latency_ms}'), 'number',
          'storage_health: probe latency in milliseconds');
SELECT matches(nilus.storage_health('acme')::jsonb ->> 'checked_at', :'rfc3339', 'storage_health: checked_at is RFC 3339 UTC');
SELECT pg_temp.raises(statement, '22023 tenant', statement)
  FROM unnest(ARRAY[$$SELECT nilus.storage_health('')$$, $$SELECT nilus.storage_health(NULL)$$,
                    format('SELECT nilus.storage_health(%L)', repeat('t', 64))]) AS statement;

-- Any role may ask for health and info: they reveal no tenant.
CREATE ROLE health12_analyst LOGIN IN ROLE nilus_analyst;
SET LOCAL ROLE health12_analyst;
SELECT is(nilus.health()::jsonb ->> 'status', 'ok', 'an analyst without tenants reads health');
SELECT is(nilus.info()::jsonb ->> 'service', 'nilus-manager', 'an analyst without tenants reads info');
SELECT pg_temp.raises($$SELECT nilus.storage_health('acme')$$, '42501 tenant', 'an analyst without tenants cannot read acme''s storage health');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
