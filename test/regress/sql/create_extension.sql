-- CREATE EXTENSION installs the control file's default version and the
-- functions of the API.
CREATE EXTENSION nilus;
SELECT extversion = (SELECT default_version FROM pg_available_extensions WHERE name = 'nilus') AS default_version_installed
  FROM pg_extension WHERE extname = 'nilus';
SELECT proname, pg_get_function_identity_arguments(oid) AS arguments
  FROM pg_proc WHERE pronamespace = 'nilus'::regnamespace ORDER BY proname;
SELECT nilus.info()::jsonb ->> 'version' = extversion AS info_reports_the_version
  FROM pg_extension WHERE extname = 'nilus';
