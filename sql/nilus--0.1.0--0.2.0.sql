-- nilus 0.1.0 -> 0.2.0: daily rollups beside the hourly ones.
--
-- A window of days was read as one hourly row per hour (and per shard): 720
-- rows for 30 days of a busy resource.  Whole UTC days now come from one row
-- per day, the hours at either end from the hourly rows and the partial
-- hours from the runs, so the rows read follow the window's days plus at
-- most 46 hours, however dense the history.
\echo Use "ALTER EXTENSION nilus UPDATE TO '0.2.0'" to load this file. \quit

CREATE TABLE nilus.run_rollup_resource_day (LIKE nilus.run_rollup_resource INCLUDING ALL);
CREATE TABLE nilus.run_rollup_tenant_day (LIKE nilus.run_rollup_tenant INCLUDING ALL);
COMMENT ON TABLE nilus.run_rollup_resource_day IS 'run_rollup_resource by UTC day';
COMMENT ON TABLE nilus.run_rollup_tenant_day IS 'run_rollup_tenant by UTC day';

INSERT INTO nilus.run_rollup_resource_day
SELECT tenant, resource_id, date_trunc('day', bucket, 'UTC'), sum(runs), sum(succeeded), sum(failed),
       sum(durations), sum(duration_sum), max(duration_max)
  FROM nilus.run_rollup_resource GROUP BY 1, 2, 3;
INSERT INTO nilus.run_rollup_tenant_day
SELECT tenant, date_trunc('day', bucket, 'UTC'), shard, sum(runs), sum(succeeded), sum(failed)
  FROM nilus.run_rollup_tenant GROUP BY 1, 2, 3;

DO $rls$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['run_rollup_resource_day', 'run_rollup_tenant_day']
    LOOP
        EXECUTE format('ALTER TABLE nilus.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON nilus.%I
                            USING (nilus.tenant_visible(tenant))
                            WITH CHECK (nilus.tenant_visible(tenant))', t);
        EXECUTE format('GRANT SELECT ON nilus.%I TO nilus_analyst, nilus_api', t);
        EXECUTE format('GRANT INSERT, UPDATE, DELETE ON nilus.%I TO nilus_api', t);
    END LOOP;
END
$rls$;

CREATE OR REPLACE FUNCTION nilus.pipeline_run_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE nilus.run_rollup_resource, nilus.run_rollup_tenant, nilus.run_rollup_user,
             nilus.run_rollup_resource_day, nilus.run_rollup_tenant_day;
    RETURN NULL;
END
$$;
