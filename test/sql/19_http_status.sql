-- nilus.http_status(), the database-native API's status: the update to 0.3.0
-- adds it, for superusers and pg_monitor only.  This cluster does not preload
-- nilus: the function says so (test/native/run.py covers a preloading one).
BEGIN;
SELECT plan(6);

DROP EXTENSION nilus;
CREATE EXTENSION nilus VERSION '0.2.0';
SELECT hasnt_function('nilus', 'http_status', '0.2.0 has no nilus.http_status()');
ALTER EXTENSION nilus UPDATE TO '0.3.0';
SELECT is(pg_get_function_arguments(to_regprocedure('nilus.http_status()')),
          'OUT pid integer, OUT listen text, OUT metrics_listen text, OUT started_at timestamp with time zone, '
          'OUT restarts bigint, OUT last_exit text, OUT running boolean',
          'the update adds nilus.http_status() and its columns');

CREATE ROLE tap_plain;
CREATE ROLE tap_monitor IN ROLE pg_monitor;
SELECT ok(NOT has_function_privilege('tap_plain', 'nilus.http_status()', 'EXECUTE'),
          'a role without pg_monitor may not call it');
SELECT ok(has_function_privilege('tap_monitor', 'nilus.http_status()', 'EXECUTE'),
          'a member of pg_monitor may');
SELECT throws_ok('SELECT * FROM nilus.http_status()', '55000', 'nilus is not in shared_preload_libraries',
                 'without shared_preload_libraries it says what is missing');
SELECT is((SELECT count(*) FROM pg_settings WHERE name LIKE 'nilus.http%' OR name = 'nilus.metrics_listen'),
          0::bigint, 'without shared_preload_libraries the API''s settings are not defined (they configure its worker)');

SELECT * FROM finish();
ROLLBACK;
