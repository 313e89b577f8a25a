-- nilus 0.2.0 -> 0.3.0.  Each part of this version has its own section.
\echo Use "ALTER EXTENSION nilus UPDATE TO '0.3.0'" to load this file. \quit

------------------------------------------------------------------------------
-- retention (issue 12)
--
-- Policies say how long each kind of data is kept; CALL nilus.apply_retention()
-- removes what they allow in batches, each its own transaction, and keeps
-- the run rollups equal to the runs that remain (extension/retention.c).
-- What the runtime needs to resume is never removed: the latest offset
-- record of a key, the latest successful state of a pipeline, the newest
-- schema-history record of a pipeline.  Shipped default: keep everything.
------------------------------------------------------------------------------

-- One row per tenant, or '*' for every tenant without a row of its own (a
-- tenant's row replaces the default as a whole).  NULL keeps that kind for
-- ever.  A control table like tenant_role: written by its owner only.
CREATE TABLE nilus.retention_policy (
    tenant          text PRIMARY KEY CHECK (tenant <> ''),
    runs            interval CHECK (runs >= interval '1 hour'),
    cdc_offsets     interval CHECK (cdc_offsets >= interval '1 hour'),
    state_versions  integer CHECK (state_versions >= 0),
    schema_history  interval CHECK (schema_history >= interval '1 hour'),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE nilus.retention_policy IS
    'How long each kind of data is kept, per tenant (''*'': the default); NULL = for ever';
COMMENT ON COLUMN nilus.retention_policy.runs IS
    'runs that started longer ago than this are removed, finished or not';
COMMENT ON COLUMN nilus.retention_policy.cdc_offsets IS
    'offset records inserted longer ago are removed, except the latest record of each key';
COMMENT ON COLUMN nilus.retention_policy.state_versions IS
    'state versions kept per pipeline besides the latest successful one (never removed)';
COMMENT ON COLUMN nilus.retention_policy.schema_history IS
    'schema-history records inserted longer ago are removed, except the newest of each pipeline';
INSERT INTO nilus.retention_policy (tenant) VALUES ('*');

-- What apply_retention did, per tenant and kind: the last apply it took part
-- in (run_started_at), its last batch, the rows it removed and in all.
CREATE TABLE nilus.retention_progress (
    tenant          text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('runs', 'cdc_offsets', 'state_versions', 'schema_history')),
    run_started_at  timestamptz NOT NULL,
    last_pruned_at  timestamptz NOT NULL,
    last_removed    bigint NOT NULL,
    total_removed   bigint NOT NULL,
    PRIMARY KEY (tenant, kind)
);

-- Finds old offset records without reading the history that is kept.  IF NOT
-- EXISTS: on a large history an operator may build it beforehand with
-- CREATE INDEX CONCURRENTLY (the README says how) instead of in the update.
CREATE INDEX IF NOT EXISTS cdc_offset_by_insert_ts ON nilus.cdc_offset (tenant, record_insert_ts);

-- The policy that applies to a tenant: its own row, else the default.
-- PL/pgSQL rather than SQL: Citus cannot plan a SQL function's parameterized
-- statement over its tables (on a cluster retention_policy is a reference table).
CREATE FUNCTION nilus.effective_retention(tenant text) RETURNS nilus.retention_policy
LANGUAGE plpgsql STABLE AS $$
DECLARE
    policy nilus.retention_policy;
BEGIN
    SELECT p.* INTO policy FROM nilus.retention_policy p
     WHERE p.tenant IN (effective_retention.tenant, '*')
     ORDER BY p.tenant = '*' LIMIT 1;
    RETURN policy;
END
$$;

-- Every tenant that has data, found by skipping through the tenant-leading
-- indexes (one probe per tenant and table, however long the history).  On a
-- Citus cluster, where a distributed query cannot recurse, the same skip
-- runs in each shard (run_command_on_shards, over connections of its own:
-- committed rows only, all apply_retention needs) and the shards' tenants
-- are joined.
CREATE FUNCTION nilus.data_tenants() RETURNS SETOF text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    tab regclass;
    skip constant text :=
        'WITH RECURSIVE t(tenant) AS (SELECT min(tenant) FROM %1$s'
        '  UNION ALL SELECT (SELECT min(tenant) FROM %1$s WHERE tenant > t.tenant) FROM t WHERE t.tenant IS NOT NULL)'
        'SELECT tenant FROM t WHERE tenant IS NOT NULL';
    distributed boolean;
    shard record;
BEGIN
    FOREACH tab IN ARRAY ARRAY['nilus.pipeline_run', 'nilus.cdc_offset', 'nilus.pipeline_state_head',
                               'nilus.cdc_schema_history']::regclass[] LOOP
        distributed := to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL;
        IF distributed THEN
            EXECUTE 'SELECT EXISTS (SELECT FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1)'
               INTO distributed USING tab;
        END IF;
        IF NOT distributed THEN
            RETURN QUERY EXECUTE format(skip, tab);
            CONTINUE;
        END IF;
        -- %1$s: the shard's name, which run_command_on_shards puts in with format().
        FOR shard IN SELECT * FROM run_command_on_shards(tab, format('SELECT coalesce(array_agg(tenant), ''{}'') FROM (%s) s',
                                                                      format(skip, '%1$s'))) LOOP
            IF NOT shard.success THEN
                RAISE EXCEPTION 'nilus: the tenants of shard % of % could not be listed: %', shard.shardid, tab, shard.result;
            END IF;
            RETURN QUERY SELECT unnest(shard.result::text[]);
        END LOOP;
    END LOOP;
END
$$;

-- The (tenant, kind) pairs a policy limits, in the order apply_retention
-- works through them: tenants with a row of their own, and, when the
-- default limits anything, every tenant that has data.
CREATE FUNCTION nilus.retention_work() RETURNS TABLE (tenant text, kind text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    default_limits boolean;
    tenants text[];
BEGIN
    -- Statement by statement, each one Citus can plan over its tables.
    SELECT num_nonnulls(p.runs, p.cdc_offsets, p.state_versions, p.schema_history) > 0 INTO default_limits
      FROM nilus.retention_policy p WHERE p.tenant = '*';
    tenants := ARRAY(SELECT p.tenant FROM nilus.retention_policy p WHERE p.tenant <> '*');
    IF default_limits THEN
        tenants := tenants || ARRAY(SELECT nilus.data_tenants());
    END IF;
    RETURN QUERY
    SELECT t.tenant, k.kind
      FROM (SELECT DISTINCT unnest(tenants) AS tenant) t, nilus.effective_retention(t.tenant) p,
           LATERAL (VALUES (1, 'runs', p.runs IS NOT NULL),
                           (2, 'cdc_offsets', p.cdc_offsets IS NOT NULL),
                           (3, 'state_versions', p.state_versions IS NOT NULL),
                           (4, 'schema_history', p.schema_history IS NOT NULL)) AS k(n, kind, limited)
     WHERE k.limited
     ORDER BY t.tenant COLLATE "C", k.n;
END
$$;

-- One batch of one tenant's kind, in the caller's transaction: removes up
-- to batch_size rows the policy allows, records them in retention_progress
-- under the apply that started at run_started_at, returns how many.  Fewer
-- than batch_size: nothing is left to remove.
CREATE FUNCTION nilus.prune_batch(tenant text, kind text, batch_size integer DEFAULT 1000,
                                  run_started_at timestamptz DEFAULT now())
RETURNS bigint AS 'MODULE_PATHNAME', 'nilus_prune_batch' LANGUAGE C VOLATILE;

-- Every batch of every (tenant, kind) a policy limits, each batch its own
-- transaction (so call it outside a transaction block); says per tenant
-- and kind what it removed.  pace: the share of the time it works; after a
-- batch it rests (1 - pace) / pace times as long as the batch took, so that
-- on a small machine the API keeps the cores and the WAL it needs.  A batch
-- that deadlocks with a writer of the same old hour is tried again, up to 3
-- times.
CREATE PROCEDURE nilus.apply_retention(batch_size integer DEFAULT 1000, pace real DEFAULT 0.5)
LANGUAGE plpgsql AS $$
DECLARE
    started timestamptz := now();
    work record;
    removed bigint;
    total bigint;
    failures integer;
    batch_started timestamptz;
BEGIN
    IF batch_size IS NULL OR batch_size NOT BETWEEN 1 AND 1000000 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', COLUMN = 'batch_size',
            MESSAGE = 'batch_size must be an integer from 1 to 1000000';
    END IF;
    IF pace IS NULL OR NOT (pace > 0 AND pace <= 1) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', COLUMN = 'pace',
            MESSAGE = 'pace must be a number above 0 and at most 1 (the share of the time spent pruning)';
    END IF;
    FOR work IN SELECT * FROM nilus.retention_work() LOOP
        total := 0;
        failures := 0;
        LOOP
            batch_started := clock_timestamp();
            BEGIN
                -- A statement of constants: on a Citus cluster it is delegated to the tenant's worker.
                EXECUTE format('SELECT * FROM nilus.prune_batch(%L, %L, %s, %L)',
                               work.tenant, work.kind, batch_size, started) INTO removed;
            EXCEPTION WHEN deadlock_detected THEN
                failures := failures + 1;
                IF failures > 3 THEN
                    RAISE;
                END IF;
                CONTINUE;
            END;
            total := total + removed;
            COMMIT;
            EXIT WHEN removed < batch_size;
            PERFORM pg_sleep(extract(epoch FROM clock_timestamp() - batch_started) * (1 - pace) / pace);
        END LOOP;
        RAISE NOTICE 'nilus retention: tenant "%", %: % rows removed', work.tenant, work.kind, total;
    END LOOP;
END
$$;

-- Sets a tenant's policy ('*': the default) as a whole: a kind left NULL is
-- kept for ever.
CREATE FUNCTION nilus.set_retention(tenant text, runs interval DEFAULT NULL,
                                    cdc_offsets interval DEFAULT NULL,
                                    state_versions integer DEFAULT NULL,
                                    schema_history interval DEFAULT NULL)
RETURNS nilus.retention_policy
LANGUAGE plpgsql AS $$
DECLARE
    kind text;
    value interval;
    stored nilus.retention_policy;
BEGIN
    IF tenant IS NULL OR tenant = '' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', COLUMN = 'tenant',
            MESSAGE = 'tenant is required (''*'' for the default)';
    END IF;
    FOR kind, value IN VALUES ('runs', runs), ('cdc_offsets', cdc_offsets), ('schema_history', schema_history) LOOP
        IF value < interval '1 hour' THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', COLUMN = kind,
                MESSAGE = format('%s must be at least 1 hour, or NULL to keep for ever, not %s', kind, value);
        END IF;
    END LOOP;
    IF state_versions < 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', COLUMN = 'state_versions',
            MESSAGE = format('state_versions must be 0 or more, or NULL to keep for ever, not %s', state_versions);
    END IF;
    -- updated_at as a value: on a cluster Citus takes only immutable functions in DO UPDATE.
    INSERT INTO nilus.retention_policy AS p (tenant, runs, cdc_offsets, state_versions, schema_history, updated_at)
    VALUES (set_retention.tenant, set_retention.runs, set_retention.cdc_offsets,
            set_retention.state_versions, set_retention.schema_history, now())
    ON CONFLICT ON CONSTRAINT retention_policy_pkey DO UPDATE
       SET runs = EXCLUDED.runs, cdc_offsets = EXCLUDED.cdc_offsets,
           state_versions = EXCLUDED.state_versions, schema_history = EXCLUDED.schema_history,
           updated_at = EXCLUDED.updated_at
    RETURNING p.* INTO stored;
    RETURN stored;
END
$$;

-- Removes a tenant's policy (the default applies again); whether it had one.
-- PL/pgSQL: Citus cannot plan a SQL function's parameterized statement.
CREATE FUNCTION nilus.clear_retention(tenant text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM nilus.retention_policy p WHERE p.tenant = clear_retention.tenant;
    RETURN FOUND;
END
$$;

-- Per tenant and kind: the policy in force, when it was last pruned, what
-- the last apply and all of them removed.
CREATE FUNCTION nilus.retention_status()
RETURNS TABLE (tenant text, kind text, keep text, last_pruned_at timestamptz,
               last_removed bigint, total_removed bigint)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    g record;
    p nilus.retention_policy;
BEGIN
    -- The progress, then each tenant's policy: statements Citus plans one by one.
    FOR g IN SELECT r.tenant, r.kind, r.last_pruned_at, r.last_removed, r.total_removed
               FROM nilus.retention_progress r ORDER BY r.tenant COLLATE "C", r.kind LOOP
        p := nilus.effective_retention(g.tenant);
        tenant := g.tenant;
        kind := g.kind;
        keep := CASE g.kind WHEN 'runs' THEN p.runs::text WHEN 'cdc_offsets' THEN p.cdc_offsets::text
                            WHEN 'state_versions' THEN p.state_versions::text
                            ELSE p.schema_history::text END;
        last_pruned_at := g.last_pruned_at;
        last_removed := g.last_removed;
        total_removed := g.total_removed;
        RETURN NEXT;
    END LOOP;
END
$$;

-- For /metrics: per kind over every tenant, what the prunes removed in all,
-- and, over the tenants a policy limits now, in their last apply and when
-- the last batch ran (a kind no policy limits any more has no last prune, so
-- that an alert on its age stays quiet); and how often the background
-- worker applies the policies (nilus.retention_interval in seconds, the
-- alert's yardstick), null when no worker does: an interval of 0, or nilus
-- not preloaded (the nilus.http_* settings exist only then; a setting
-- of a library this session has not loaded is not in pg_settings).
-- SECURITY DEFINER so the API's role, which sees no tenant's rows without a
-- token, can report them: sums over tenants, no tenant's own figures.
CREATE FUNCTION nilus.retention_metrics()
RETURNS TABLE (kind text, rows_removed_total bigint, last_rows_removed bigint, last_pruned_at timestamptz,
               interval_seconds integer)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
    WITH limited AS (SELECT w.tenant, w.kind FROM nilus.retention_work() w),
         worker AS (SELECT nullif(s.setting::integer, 0) AS interval_seconds FROM pg_settings s
                     WHERE s.name = 'nilus.retention_interval'
                       AND EXISTS (SELECT FROM pg_settings p WHERE p.name = 'nilus.http_listen'))
    SELECT k.kind, coalesce(sum(g.total_removed), 0)::bigint,
           coalesce(sum(g.last_removed) FILTER (WHERE l.kind IS NOT NULL), 0)::bigint,
           max(g.last_pruned_at) FILTER (WHERE l.kind IS NOT NULL),
           (SELECT w.interval_seconds FROM worker w)
      FROM unnest(ARRAY['runs', 'cdc_offsets', 'state_versions', 'schema_history']) WITH ORDINALITY AS k(kind, n)
      LEFT JOIN nilus.retention_progress g ON g.kind = k.kind
      LEFT JOIN limited l ON l.tenant = g.tenant AND l.kind = g.kind
     GROUP BY k.kind, k.n ORDER BY k.n
$$;
REVOKE ALL ON FUNCTION nilus.retention_metrics() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION nilus.retention_metrics() TO nilus_api, pg_monitor;

ALTER TABLE nilus.retention_policy ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON nilus.retention_policy
    USING (tenant = '*' OR nilus.tenant_visible(tenant));
ALTER TABLE nilus.retention_progress ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON nilus.retention_progress
    USING (nilus.tenant_visible(tenant));
GRANT SELECT ON nilus.retention_policy, nilus.retention_progress TO nilus_analyst, nilus_api;
-- Administration stays with the owner (and whom it grants it to).
REVOKE ALL ON FUNCTION nilus.set_retention(text, interval, interval, integer, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION nilus.clear_retention(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION nilus.prune_batch(text, text, integer, timestamptz) FROM PUBLIC;
REVOKE ALL ON PROCEDURE nilus.apply_retention(integer, real) FROM PUBLIC;

------------------------------------------------------------------------------
-- finer rollups (issue 16)
--
-- Minute rollups beside the hourly and daily ones, and second rollups of
-- resources, kept by the same trigger (extension/rollup.c) and by retention
-- the same way.  A total's window is read as its whole days, the whole hours
-- and then the whole minutes left at either end, and the runs of the two
-- partial minutes at its edges (half a minute at most at each: a longer edge
-- is its minute's rollup less the rest of the minute).  A maximum cannot be
-- subtracted, so stats (one resource, or a tenant's resources) read the
-- whole seconds left beyond the minutes and the runs of two partial seconds.
-- The work is at most 46 hourly, 118 minute (per shard) and 118 second rows
-- beside the days, however dense the hour an edge falls in.  Tenant and user
-- rows are sharded by backend like the hourly ones, so concurrent writers of
-- one tenant do not queue on the minute's row.  A total filtered on both a
-- resource and a user, counted from the runs until now, reads rollups of
-- its own (per resource and user, by minute, hour and day), kept in the
-- same statement as the user rows.
------------------------------------------------------------------------------

CREATE TABLE nilus.run_rollup_resource_minute (LIKE nilus.run_rollup_resource INCLUDING ALL);
CREATE TABLE nilus.run_rollup_resource_second (LIKE nilus.run_rollup_resource INCLUDING ALL);
CREATE TABLE nilus.run_rollup_tenant_minute (LIKE nilus.run_rollup_tenant INCLUDING ALL);
CREATE TABLE nilus.run_rollup_user_minute (LIKE nilus.run_rollup_user INCLUDING ALL);
COMMENT ON TABLE nilus.run_rollup_resource_minute IS 'run_rollup_resource by UTC minute';
COMMENT ON TABLE nilus.run_rollup_resource_second IS 'run_rollup_resource by UTC second';
COMMENT ON TABLE nilus.run_rollup_tenant_minute IS 'run_rollup_tenant by UTC minute';
COMMENT ON TABLE nilus.run_rollup_user_minute IS 'run_rollup_user by UTC minute';

-- Per resource and user: what a listing filtered on both counts, the user
-- rows with the resource in the key.  By day too, unlike the user rows: a
-- listing's default range is the whole history, whose days are then a row
-- each instead of 24.
CREATE TABLE nilus.run_rollup_resource_user (
    LIKE nilus.run_rollup_user INCLUDING DEFAULTS,
    resource_id  text NOT NULL,
    PRIMARY KEY (tenant, resource_id, run_as_user, bucket, shard)
);
CREATE TABLE nilus.run_rollup_resource_user_minute (LIKE nilus.run_rollup_resource_user INCLUDING ALL);
CREATE TABLE nilus.run_rollup_resource_user_day (LIKE nilus.run_rollup_resource_user INCLUDING ALL);
COMMENT ON TABLE nilus.run_rollup_resource_user IS 'runs per resource and user by UTC hour, in shards';
COMMENT ON TABLE nilus.run_rollup_resource_user_minute IS 'run_rollup_resource_user by UTC minute';
COMMENT ON TABLE nilus.run_rollup_resource_user_day IS 'run_rollup_resource_user by UTC day';

-- Filled from the runs as the trigger would have counted them (shard 0);
-- the minutes from the seconds.
INSERT INTO nilus.run_rollup_resource_second
SELECT tenant, resource_id, date_trunc('second', started_at, 'UTC'), count(*),
       count(*) FILTER (WHERE is_success), count(*) FILTER (WHERE NOT is_success),
       count(*) FILTER (WHERE is_success IS NOT NULL AND duration_sec IS NOT NULL),
       coalesce(sum(duration_sec::numeric) FILTER (WHERE is_success IS NOT NULL), 0),
       max(duration_sec) FILTER (WHERE is_success IS NOT NULL)
  FROM nilus.pipeline_run GROUP BY 1, 2, 3;
INSERT INTO nilus.run_rollup_resource_minute
SELECT tenant, resource_id, date_trunc('minute', bucket, 'UTC'), sum(runs), sum(succeeded), sum(failed),
       sum(durations), sum(duration_sum), max(duration_max)
  FROM nilus.run_rollup_resource_second GROUP BY 1, 2, 3;
INSERT INTO nilus.run_rollup_tenant_minute
SELECT tenant, date_trunc('minute', started_at, 'UTC'), 0, count(*),
       count(*) FILTER (WHERE is_success), count(*) FILTER (WHERE NOT is_success)
  FROM nilus.pipeline_run GROUP BY 1, 2;
INSERT INTO nilus.run_rollup_user_minute (tenant, run_as_user, bucket, shard, runs, succeeded, failed)
SELECT tenant, run_as_user, date_trunc('minute', started_at, 'UTC'), 0, count(*),
       count(*) FILTER (WHERE is_success), count(*) FILTER (WHERE NOT is_success)
  FROM nilus.pipeline_run WHERE run_as_user IS NOT NULL GROUP BY 1, 2, 3;
INSERT INTO nilus.run_rollup_resource_user_minute (tenant, resource_id, run_as_user, bucket, shard, runs, succeeded, failed)
SELECT tenant, resource_id, run_as_user, date_trunc('minute', started_at, 'UTC'), 0, count(*),
       count(*) FILTER (WHERE is_success), count(*) FILTER (WHERE NOT is_success)
  FROM nilus.pipeline_run WHERE run_as_user IS NOT NULL GROUP BY 1, 2, 3, 4;
INSERT INTO nilus.run_rollup_resource_user (tenant, resource_id, run_as_user, bucket, shard, runs, succeeded, failed)
SELECT tenant, resource_id, run_as_user, date_trunc('hour', bucket, 'UTC'), 0, sum(runs), sum(succeeded), sum(failed)
  FROM nilus.run_rollup_resource_user_minute GROUP BY 1, 2, 3, 4;
INSERT INTO nilus.run_rollup_resource_user_day (tenant, resource_id, run_as_user, bucket, shard, runs, succeeded, failed)
SELECT tenant, resource_id, run_as_user, date_trunc('day', bucket, 'UTC'), 0, sum(runs), sum(succeeded), sum(failed)
  FROM nilus.run_rollup_resource_user GROUP BY 1, 2, 3, 4;

-- Each tenant's rows its own, as in the other rollups; the least-privilege
-- section below makes the tables the owner's and forces the policies on it.
DO $rls$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['run_rollup_resource_second', 'run_rollup_resource_minute', 'run_rollup_tenant_minute',
                             'run_rollup_user_minute', 'run_rollup_resource_user_minute', 'run_rollup_resource_user',
                             'run_rollup_resource_user_day']
    LOOP
        EXECUTE format('ALTER TABLE nilus.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON nilus.%I
                            USING (nilus.tenant_visible(tenant))
                            WITH CHECK (nilus.tenant_visible(tenant))', t);
        EXECUTE format('GRANT SELECT ON nilus.%I TO nilus_analyst', t);
    END LOOP;
END
$rls$;

------------------------------------------------------------------------------
-- Scale-out on Citus (extension/distribute.c; README, "Scaling out")
------------------------------------------------------------------------------

-- Run once on a Citus coordinator (and again after an upgrade): reference
-- tables for tokens and roles, tenant tables distributed by tenant and
-- colocated, route functions delegated to the tenant's worker.
CREATE FUNCTION nilus.distribute() RETURNS void
AS 'MODULE_PATHNAME', 'nilus_distribute' LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION nilus.distribute() FROM PUBLIC;

-- record_insert_seq's default once distributed: the node that writes the
-- record draws from its own sequence (which nilus moves past the tenant's
-- newest record when it is behind), where a sequence default would be
-- evaluated on the coordinator or split by Citus in one range per node.
CREATE FUNCTION nilus.next_record_insert_seq() RETURNS bigint
LANGUAGE sql VOLATILE PARALLEL UNSAFE AS $$ SELECT nextval('nilus.cdc_record_insert_seq') $$;

-- Citus truncates a distributed table shard by shard, and each shard fires
-- its copy of this trigger: only the table itself (the coordinator's) empties
-- the rollups, which Citus then truncates on every worker.
CREATE OR REPLACE FUNCTION nilus.pipeline_run_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'pipeline_run' THEN
        TRUNCATE nilus.run_rollup_resource, nilus.run_rollup_tenant, nilus.run_rollup_user,
                 nilus.run_rollup_resource_day, nilus.run_rollup_tenant_day,
                 nilus.run_rollup_resource_second, nilus.run_rollup_resource_minute,
                 nilus.run_rollup_tenant_minute, nilus.run_rollup_user_minute,
                 nilus.run_rollup_resource_user_minute, nilus.run_rollup_resource_user,
                 nilus.run_rollup_resource_user_day;
    END IF;
    RETURN NULL;
END
$$;

------------------------------------------------------------------------------
-- least privilege (issue 14)
--
-- As PostgREST and Supabase do it: the API role may only call the route
-- functions.  They are SECURITY DEFINER, owned by nilus_owner, a role that
-- cannot log in, and run with a fixed search_path.  Tenant isolation stays
-- in the database: the tables FORCE row-level security, so the policies bind
-- the owner too, and the predicate (nilus.tenant_visible) acts for the
-- transaction's token or, without one, for the calling role (the outer
-- user, which SECURITY DEFINER does not change), never for the owner.
-- Analysts keep their plain SELECTs under the same policies.
--
-- For whoever adds objects after this section (the pgTAP suite checks it,
-- test/sql/18_least_privilege.sql): a new table is owned by nilus_owner,
-- has row-level security enabled and forced when it holds tenant rows, and
-- grants nilus_api nothing; a new function callable by nilus_api is
-- SECURITY DEFINER, SET search_path = pg_catalog, nilus, pg_temp, owned by
-- nilus_owner, and EXECUTE is revoked from PUBLIC and granted by name.
-- CREATE OR REPLACE FUNCTION resets SECURITY DEFINER and SET: repeat them.
------------------------------------------------------------------------------

-- Roles are cluster-wide: another database may have made it already.
DO $owner$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'nilus_owner') THEN
        CREATE ROLE nilus_owner;
    END IF;
    ALTER ROLE nilus_owner NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
END
$owner$;
COMMENT ON ROLE nilus_owner IS 'owns nilus'' tables and functions; cannot log in';
GRANT USAGE ON SCHEMA nilus TO nilus_owner;

-- Everything stored changes hands; the policies now bind the owner too.
DO $own$
DECLARE
    rel regclass;
BEGIN
    FOR rel IN SELECT c.oid FROM pg_class c
                WHERE c.relnamespace = 'nilus'::regnamespace AND c.relkind IN ('r', 'p', 'S')
    LOOP
        EXECUTE format('ALTER TABLE %s OWNER TO nilus_owner', rel);
        EXECUTE format('REVOKE ALL ON %s FROM PUBLIC, nilus_api', rel);
    END LOOP;
    -- The data tables.  Control tables (api_token, tenant_role, the
    -- retention tables) are read across tenants by the owner's own code.
    FOREACH rel IN ARRAY ARRAY['nilus.pipeline_run', 'nilus.run_rollup_resource', 'nilus.run_rollup_tenant',
                               'nilus.run_rollup_user', 'nilus.run_rollup_resource_day', 'nilus.run_rollup_tenant_day',
                               'nilus.run_rollup_resource_second', 'nilus.run_rollup_resource_minute',
                               'nilus.run_rollup_tenant_minute', 'nilus.run_rollup_user_minute',
                               'nilus.run_rollup_resource_user_minute', 'nilus.run_rollup_resource_user',
                               'nilus.run_rollup_resource_user_day', 'nilus.pipeline_state', 'nilus.pipeline_state_head', 'nilus.cdc_offset',
                               'nilus.cdc_offset_latest', 'nilus.cdc_schema_history']::regclass[]
    LOOP
        EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', rel);
    END LOOP;
END
$own$;
-- The policies' predicate reads the mapping as the analyst running a SELECT.
GRANT SELECT ON nilus.tenant_role TO nilus_analyst;

DO $functions$
DECLARE
    -- The routes' functions, what the shim calls before them, and the
    -- retention figures of /metrics.
    api text[] := ARRAY['authenticate', 'health', 'info', 'storage_health',
                        'list_pipelines', 'list_runs', 'pipeline_stats', 'store_run',
                        'get_state', 'store_state', 'list_cdc_offsets', 'list_cdc_schema_history',
                        'get_offsets', 'store_offsets', 'get_schema_history', 'store_schema_history',
                        'schema_history_exists', 'retention_metrics'];
    -- What an analyst may call: the reads, and the policies' predicate.
    analyst text[] := ARRAY['health', 'info', 'storage_health', 'list_pipelines', 'list_runs',
                            'pipeline_stats', 'get_state', 'list_cdc_offsets', 'list_cdc_schema_history',
                            'get_offsets', 'get_schema_history', 'schema_history_exists',
                            'tenant_visible'];
    -- Token administration: the owner's (superusers'), granted by name to delegate it.
    admin text[] := ARRAY['create_token', 'revoke_token'];
    fn regprocedure;
    name text;
    definer boolean;
BEGIN
    -- Procedures too (apply_retention): ROUTINE covers both.
    FOR fn, name, definer IN SELECT p.oid, p.proname, p.prosecdef FROM pg_proc p
                              WHERE p.pronamespace = 'nilus'::regnamespace
    LOOP
        EXECUTE format('ALTER ROUTINE %s OWNER TO nilus_owner', fn);
        EXECUTE format('REVOKE ALL ON ROUTINE %s FROM PUBLIC', fn);
        IF definer OR name = ANY (api || admin) THEN
            EXECUTE format('ALTER ROUTINE %s SECURITY DEFINER SET search_path = pg_catalog, nilus, pg_temp', fn);
        END IF;
        IF name = ANY (api) THEN
            EXECUTE format('GRANT EXECUTE ON ROUTINE %s TO nilus_api', fn);
        END IF;
        IF name = ANY (analyst) THEN
            EXECUTE format('GRANT EXECUTE ON ROUTINE %s TO nilus_analyst', fn);
        END IF;
    END LOOP;
END
$functions$;

-- Append-only: offsets, schema history and state versions are records of
-- what happened; nobody rewrites or removes them but retention, through the
-- one seam in extension/append_only.c (a DELETE run by the library's own
-- retention code).  Statement triggers: one check per statement, and a
-- DELETE that matches nothing is refused as well.  A subscriber applying
-- logical replication (session_replication_role = replica) does not fire
-- them, so that retention on a publisher replicates.
CREATE FUNCTION nilus.refuse_rewrite() RETURNS trigger
AS 'MODULE_PATHNAME', 'nilus_refuse_rewrite' LANGUAGE C;
ALTER FUNCTION nilus.refuse_rewrite() OWNER TO nilus_owner;
REVOKE ALL ON FUNCTION nilus.refuse_rewrite() FROM PUBLIC;
DO $append_only$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['cdc_offset', 'cdc_schema_history', 'pipeline_state']
    LOOP
        EXECUTE format('CREATE TRIGGER append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON nilus.%I
                            FOR EACH STATEMENT EXECUTE FUNCTION nilus.refuse_rewrite()', t);
    END LOOP;
END
$append_only$;

-- Rendered timestamps lie in the years RFC 3339 can write (0001-9999, UTC),
-- whoever writes the row.  Rows stored before 0.3.0 may not: the upgrade
-- leaves such a check NOT VALID and says where (README, "Timestamps").
DO $renderable$
DECLARE
    col record;
BEGIN
    FOR col IN SELECT * FROM (VALUES ('pipeline_run', 'started_at'), ('pipeline_run', 'finished_at'),
                                     ('pipeline_state', 'created_at'), ('cdc_offset', 'record_insert_ts'),
                                     ('cdc_offset_latest', 'record_insert_ts'),
                                     ('cdc_schema_history', 'record_insert_ts')) AS c(tab, name)
    LOOP
        EXECUTE format('ALTER TABLE nilus.%I ADD CONSTRAINT %I
                            CHECK (%I >= ''0001-01-01T00:00:00Z'' AND %I < ''10000-01-01T00:00:00Z'') NOT VALID',
                       col.tab, col.name || '_renderable', col.name, col.name);
        BEGIN
            EXECUTE format('ALTER TABLE nilus.%I VALIDATE CONSTRAINT %I', col.tab, col.name || '_renderable');
        EXCEPTION WHEN check_violation THEN
            RAISE WARNING 'nilus.%.% has values outside the years 0001 to 9999: the check % stays NOT VALID',
                col.tab, col.name, col.name || '_renderable'
                USING HINT = 'Correct those rows, then ALTER TABLE ... VALIDATE CONSTRAINT.';
        END;
    END LOOP;
END
$renderable$;

------------------------------------------------------------------------------
-- insight (issue 17): the tenant's resources and its runs over time, from the
-- rollups (extension/resource_stats.c, extension/run_series.c).  As least
-- privilege asks: SECURITY DEFINER, owned by nilus_owner, EXECUTE by name
-- (analysts all four, the API role the two its routes call).
------------------------------------------------------------------------------

-- A tenant's rollup rows of a window, all resources at once: without these the
-- primary keys (tenant, resource_id, bucket) would read the tenant's whole history.
CREATE INDEX run_rollup_resource_by_bucket ON nilus.run_rollup_resource (tenant, bucket);
CREATE INDEX run_rollup_resource_day_by_bucket ON nilus.run_rollup_resource_day (tenant, bucket);
CREATE INDEX run_rollup_resource_minute_by_bucket ON nilus.run_rollup_resource_minute (tenant, bucket);
CREATE INDEX run_rollup_resource_second_by_bucket ON nilus.run_rollup_resource_second (tenant, bucket);

-- One row per resource with a run started in [now - period, now]; the
-- counts, rate and durations by pipeline_stats' rules, the pipeline name and
-- the newest run's start and outcome.  NULL period: 24h.
CREATE FUNCTION nilus.resource_stats(tenant text, period text DEFAULT NULL)
RETURNS TABLE (resource_id text, pipeline_name text, total_runs bigint, successful_runs bigint,
               failed_runs bigint, success_rate double precision, avg_duration_sec double precision,
               max_duration_sec double precision, last_started_at timestamptz, last_is_success boolean)
AS 'MODULE_PATHNAME', 'nilus_resource_stats' LANGUAGE C STABLE PARALLEL RESTRICTED ROWS 50
SECURITY DEFINER SET search_path = pg_catalog, nilus, pg_temp;

-- The finished runs of the tenant (resource_id NULL) or of one resource per
-- UTC hour or day over [now - period, now], one row per bucket, zeros where
-- none finished.  NULL bucket: 1h for periods up to 7 days, else 1d.
CREATE FUNCTION nilus.run_series(tenant text, resource_id text DEFAULT NULL,
                                 period text DEFAULT NULL, bucket text DEFAULT NULL)
RETURNS TABLE (bucket_start timestamptz, total_runs bigint, successful_runs bigint,
               failed_runs bigint, avg_duration_sec double precision,
               max_duration_sec double precision)
AS 'MODULE_PATHNAME', 'nilus_run_series' LANGUAGE C STABLE PARALLEL RESTRICTED ROWS 48
SECURITY DEFINER SET search_path = pg_catalog, nilus, pg_temp;

-- GET /tenants/{tenant}/stats: resource_stats as a listing page.
CREATE FUNCTION nilus.tenant_stats(tenant text, period text DEFAULT NULL,
                                   "limit" integer DEFAULT NULL, "offset" integer DEFAULT NULL)
RETURNS json AS 'MODULE_PATHNAME', 'nilus_tenant_stats' LANGUAGE C STABLE PARALLEL RESTRICTED
SECURITY DEFINER SET search_path = pg_catalog, nilus, pg_temp;

-- GET /tenants/{tenant}/pipelines/{resource_id}/series: run_series of one resource.
CREATE FUNCTION nilus.pipeline_series(tenant text, resource_id text, period text DEFAULT NULL,
                                      bucket text DEFAULT NULL)
RETURNS json AS 'MODULE_PATHNAME', 'nilus_pipeline_series' LANGUAGE C STABLE PARALLEL RESTRICTED
SECURITY DEFINER SET search_path = pg_catalog, nilus, pg_temp;

ALTER FUNCTION nilus.resource_stats(text, text) OWNER TO nilus_owner;
ALTER FUNCTION nilus.run_series(text, text, text, text) OWNER TO nilus_owner;
ALTER FUNCTION nilus.tenant_stats(text, text, integer, integer) OWNER TO nilus_owner;
ALTER FUNCTION nilus.pipeline_series(text, text, text, text) OWNER TO nilus_owner;
REVOKE ALL ON FUNCTION nilus.resource_stats(text, text), nilus.run_series(text, text, text, text),
                       nilus.tenant_stats(text, text, integer, integer),
                       nilus.pipeline_series(text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION nilus.resource_stats(text, text), nilus.run_series(text, text, text, text),
                          nilus.tenant_stats(text, text, integer, integer),
                          nilus.pipeline_series(text, text, text, text) TO nilus_analyst;
GRANT EXECUTE ON FUNCTION nilus.tenant_stats(text, text, integer, integer),
                          nilus.pipeline_series(text, text, text, text) TO nilus_api;

------------------------------------------------------------------------------
-- database-native API (issue 10)
--
-- What the supervisor worker runs: the HTTP API child process it keeps up
-- (with nilus in shared_preload_libraries and nilus.http_listen set).
------------------------------------------------------------------------------
CREATE FUNCTION nilus.http_status(OUT pid integer, OUT listen text, OUT metrics_listen text,
                                  OUT started_at timestamptz, OUT restarts bigint,
                                  OUT last_exit text, OUT running boolean)
    RETURNS record LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'nilus_http_status';
COMMENT ON FUNCTION nilus.http_status() IS
    'the HTTP API PostgreSQL runs: its process, addresses, start, restarts, how it last ended';
-- Like every object of the schema (least privilege); it runs as its caller.
ALTER FUNCTION nilus.http_status() OWNER TO nilus_owner;
REVOKE ALL ON FUNCTION nilus.http_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION nilus.http_status() TO pg_monitor;
-- Monitoring roles reach the function; the tables keep their own grants.
GRANT USAGE ON SCHEMA nilus TO pg_monitor;

------------------------------------------------------------------------------
-- resource rollups in shards (issue 16, item 4)
--
-- Resource rows split in shards by backend as the tenant and user rows are
-- (extension/rollup.c), so concurrent writers of one resource do not queue
-- on its second, minute, hour and day rows.  Readers add the shards up (and
-- take the greatest of their maxima); the rows kept so far become shard 0.
------------------------------------------------------------------------------

ALTER TABLE nilus.run_rollup_resource_second ADD COLUMN shard smallint NOT NULL DEFAULT 0,
    DROP CONSTRAINT run_rollup_resource_second_pkey, ADD PRIMARY KEY (tenant, resource_id, bucket, shard);
ALTER TABLE nilus.run_rollup_resource_minute ADD COLUMN shard smallint NOT NULL DEFAULT 0,
    DROP CONSTRAINT run_rollup_resource_minute_pkey, ADD PRIMARY KEY (tenant, resource_id, bucket, shard);
ALTER TABLE nilus.run_rollup_resource ADD COLUMN shard smallint NOT NULL DEFAULT 0,
    DROP CONSTRAINT run_rollup_resource_pkey, ADD PRIMARY KEY (tenant, resource_id, bucket, shard);
ALTER TABLE nilus.run_rollup_resource_day ADD COLUMN shard smallint NOT NULL DEFAULT 0,
    DROP CONSTRAINT run_rollup_resource_day_pkey, ADD PRIMARY KEY (tenant, resource_id, bucket, shard);

-- Folds the shards of a tenant's closed buckets back into one row (shard 0)
-- per bucket, in every rollup, so that reads of older buckets read a row
-- each however many backends wrote them: buckets of the last `since` that
-- ended before now.  A bucket whose shards add up to nothing goes.  What a
-- writer adds meanwhile (a late finishing post) is a shard of its own again.
-- Returns the rows removed.  apply_retention and the retention worker call it.
CREATE FUNCTION nilus.fold_rollup_shards(tenant text, since interval DEFAULT interval '1 day')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    rollup record;
    keys text;
    removed bigint;
    total bigint := 0;
BEGIN
    -- Finest first, resource, tenant, user and resource with user in turn, as the trigger takes rows.
    FOR rollup IN SELECT * FROM (VALUES
            ('run_rollup_resource_second', interval '1 second', 'resource_id'),
            ('run_rollup_resource_minute', interval '1 minute', 'resource_id'),
            ('run_rollup_resource', interval '1 hour', 'resource_id'),
            ('run_rollup_resource_day', interval '24 hours', 'resource_id'),
            ('run_rollup_tenant_minute', interval '1 minute', NULL), ('run_rollup_tenant', interval '1 hour', NULL),
            ('run_rollup_tenant_day', interval '24 hours', NULL),
            ('run_rollup_user_minute', interval '1 minute', 'run_as_user'), ('run_rollup_user', interval '1 hour', 'run_as_user'),
            ('run_rollup_resource_user_minute', interval '1 minute', 'resource_id, run_as_user'),
            ('run_rollup_resource_user', interval '1 hour', 'resource_id, run_as_user'),
            ('run_rollup_resource_user_day', interval '24 hours', 'resource_id, run_as_user')
        ) AS r(tab, width, key)
    LOOP
        keys := concat_ws(', ', 'tenant', rollup.key);
        -- Constants, not parameters: on a Citus cluster a statement of one tenant goes to its worker.
        EXECUTE format(
            'WITH many AS (SELECT %2$s, bucket FROM nilus.%1$I WHERE tenant = %3$L AND bucket >= %4$L AND bucket <= %5$L '
            '              GROUP BY %2$s, bucket HAVING count(*) > 1), '
            'gone AS (DELETE FROM nilus.%1$I r USING many m WHERE r.tenant = %3$L AND (%6$s) = (%7$s) '
            '         AND r.bucket = m.bucket RETURNING r.*), '
            'kept AS (INSERT INTO nilus.%1$I AS r (%2$s, bucket, shard, runs, succeeded, failed%8$s) '
            '         SELECT %2$s, bucket, 0, sum(runs), sum(succeeded), sum(failed)%9$s FROM gone '
            '          GROUP BY %2$s, bucket HAVING sum(runs) <> 0 '
            '         ON CONFLICT (%2$s, bucket, shard) DO UPDATE SET runs = r.runs + EXCLUDED.runs, '
            '            succeeded = r.succeeded + EXCLUDED.succeeded, failed = r.failed + EXCLUDED.failed%10$s '
            '         RETURNING 1) '
            'SELECT (SELECT count(*) FROM gone) - (SELECT count(*) FROM kept)',
            rollup.tab, keys, fold_rollup_shards.tenant, now() - since, now() - rollup.width,
            regexp_replace(keys, '(\w+)', 'r.\1', 'g'), regexp_replace(keys, '(\w+)', 'm.\1', 'g'),
            CASE WHEN rollup.key = 'resource_id' THEN ', durations, duration_sum, duration_max' ELSE '' END,
            CASE WHEN rollup.key = 'resource_id' THEN ', sum(durations), sum(duration_sum), max(duration_max)' ELSE '' END,
            CASE WHEN rollup.key = 'resource_id'
                 THEN ', durations = r.durations + EXCLUDED.durations, duration_sum = r.duration_sum + EXCLUDED.duration_sum, '
                      'duration_max = greatest(r.duration_max, EXCLUDED.duration_max)' ELSE '' END)
          INTO removed;
        total := total + removed;
    END LOOP;
    RETURN total;
END
$$;
-- As the least-privilege section has the retention functions: the owner's.
ALTER FUNCTION nilus.fold_rollup_shards(text, interval) OWNER TO nilus_owner;
REVOKE ALL ON FUNCTION nilus.fold_rollup_shards(text, interval) FROM PUBLIC;
