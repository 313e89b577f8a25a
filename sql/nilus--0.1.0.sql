-- nilus 0.1.0: Nilus Manager's data and functions.
\echo Use "CREATE EXTENSION nilus" to load this file. \quit

-- Roles are cluster-wide, so they may already exist from another database.
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'nilus_analyst') THEN
        CREATE ROLE nilus_analyst NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'nilus_api') THEN
        CREATE ROLE nilus_api NOLOGIN;
    END IF;
END
$roles$;

-- Which login roles may see which tenant ('*' = every tenant) without a token.
CREATE TABLE nilus.tenant_role (
    tenant    text NOT NULL,
    role_name name NOT NULL,
    PRIMARY KEY (tenant, role_name)
);
CREATE INDEX tenant_role_by_role ON nilus.tenant_role (role_name);

-- API tokens: only the SHA-256 of the token is kept.  A control-plane table
-- (a reference table under Citus), so it is keyed by the hash, not the tenant.
CREATE TABLE nilus.api_token (
    token_hash  bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    tenant      text,                       -- NULL: every tenant (admin)
    rights      text[] NOT NULL CHECK (rights <@ ARRAY['read', 'runtime'] AND cardinality(rights) > 0),
    label       text NOT NULL UNIQUE CHECK (label <> ''),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz,
    revoked_at  timestamptz
);

CREATE TABLE nilus.pipeline_run (
    tenant         text NOT NULL,
    run_id         uuid NOT NULL,
    resource_id    text NOT NULL,
    pipeline_name  text NOT NULL,
    run_as_user    text,
    started_at     timestamptz NOT NULL,
    finished_at    timestamptz,
    is_success     boolean,
    duration_sec   double precision,
    error          text,
    records        jsonb,
    metadata       jsonb NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, run_id),
    CONSTRAINT finished_after_start CHECK (finished_at >= started_at),
    CONSTRAINT duration_not_negative CHECK (duration_sec >= 0 AND duration_sec <> 'Infinity'),
    CONSTRAINT records_is_object CHECK (jsonb_typeof(records) = 'object'),
    CONSTRAINT metadata_is_object CHECK (jsonb_typeof(metadata) = 'object')
);
-- One index per listing filter, each in the listing's order (newest first,
-- run_id breaking ties) so that a page is read straight off the index.
CREATE INDEX pipeline_run_by_start    ON nilus.pipeline_run (tenant, started_at DESC, run_id DESC);
CREATE INDEX pipeline_run_by_resource ON nilus.pipeline_run (tenant, resource_id, started_at DESC, run_id DESC);
CREATE INDEX pipeline_run_by_user     ON nilus.pipeline_run (tenant, run_as_user, started_at DESC, run_id DESC);
CREATE INDEX pipeline_run_by_outcome  ON nilus.pipeline_run (tenant, is_success, started_at DESC, run_id DESC);

-- Hourly rollups of runs by started_at, kept by a trigger on pipeline_run.
-- Per resource: everything pipeline_stats needs plus the listing counts.
CREATE TABLE nilus.run_rollup_resource (
    tenant          text NOT NULL,
    resource_id     text NOT NULL,
    bucket          timestamptz NOT NULL,
    runs            bigint NOT NULL DEFAULT 0,
    succeeded       bigint NOT NULL DEFAULT 0,
    failed          bigint NOT NULL DEFAULT 0,
    durations       bigint NOT NULL DEFAULT 0,   -- finished runs with a duration
    duration_sum    numeric NOT NULL DEFAULT 0,  -- exact, so sums do not depend on order
    duration_max    double precision,
    PRIMARY KEY (tenant, resource_id, bucket)
);
-- Tenant-wide and per-user counts.  Concurrent writers of one tenant would all
-- queue on one row per hour, so each row is split in shards (by backend);
-- readers add the shards up.
CREATE TABLE nilus.run_rollup_tenant (
    tenant     text NOT NULL,
    bucket     timestamptz NOT NULL,
    shard      smallint NOT NULL,
    runs       bigint NOT NULL DEFAULT 0,
    succeeded  bigint NOT NULL DEFAULT 0,
    failed     bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, bucket, shard)
);
CREATE TABLE nilus.run_rollup_user (
    tenant       text NOT NULL,
    run_as_user  text NOT NULL,
    bucket       timestamptz NOT NULL,
    shard        smallint NOT NULL,
    runs         bigint NOT NULL DEFAULT 0,
    succeeded    bigint NOT NULL DEFAULT 0,
    failed       bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, run_as_user, bucket, shard)
);

CREATE TABLE nilus.pipeline_state (
    tenant         text NOT NULL,
    pipeline_name  text NOT NULL,
    version        bigint NOT NULL CHECK (version > 0),
    state          jsonb NOT NULL,
    run_id         text,
    is_success     boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, pipeline_name, version)
);
CREATE INDEX pipeline_state_latest_success
    ON nilus.pipeline_state (tenant, pipeline_name, version DESC) WHERE is_success;
-- Last version handed out per pipeline: concurrent posts queue on this row
-- and each gets the next number.
CREATE TABLE nilus.pipeline_state_head (
    tenant         text NOT NULL,
    pipeline_name  text NOT NULL,
    last_version   bigint NOT NULL,
    PRIMARY KEY (tenant, pipeline_name)
);

CREATE SEQUENCE nilus.cdc_record_insert_seq;

CREATE TABLE nilus.cdc_offset (
    tenant             text NOT NULL,
    id                 uuid NOT NULL,
    resource_id        text NOT NULL,
    pipeline_name      text NOT NULL,
    connector_name     text NOT NULL,
    offset_key         text NOT NULL,
    offset_val         text,
    record_insert_ts   timestamptz NOT NULL DEFAULT now(),
    record_insert_seq  bigint NOT NULL DEFAULT nextval('nilus.cdc_record_insert_seq'),
    PRIMARY KEY (tenant, id)
);
CREATE INDEX cdc_offset_by_seq       ON nilus.cdc_offset (tenant, record_insert_seq DESC);
CREATE INDEX cdc_offset_by_resource  ON nilus.cdc_offset (tenant, resource_id, record_insert_seq DESC);
CREATE INDEX cdc_offset_by_connector ON nilus.cdc_offset (tenant, connector_name, record_insert_seq DESC);
CREATE INDEX cdc_offset_by_key       ON nilus.cdc_offset (tenant, offset_key, record_insert_seq DESC);

-- The latest record of each offset key, kept on every append, so that reading
-- a pipeline's offsets costs its number of keys, not its history.
CREATE TABLE nilus.cdc_offset_latest (
    tenant             text NOT NULL,
    pipeline_name      text NOT NULL,
    offset_key         text NOT NULL,
    id                 uuid NOT NULL,
    connector_name     text NOT NULL,
    offset_val         text,
    record_insert_ts   timestamptz NOT NULL,
    record_insert_seq  bigint NOT NULL,
    PRIMARY KEY (tenant, pipeline_name, offset_key)
);

CREATE TABLE nilus.cdc_schema_history (
    tenant             text NOT NULL,
    id                 uuid NOT NULL,
    resource_id        text NOT NULL,
    pipeline_name      text NOT NULL,
    connector_name     text NOT NULL,
    history_data       text NOT NULL,
    history_data_seq   integer NOT NULL,
    record_insert_ts   timestamptz NOT NULL DEFAULT now(),
    record_insert_seq  bigint NOT NULL DEFAULT nextval('nilus.cdc_record_insert_seq'),
    PRIMARY KEY (tenant, id)
);
CREATE INDEX cdc_schema_history_by_seq       ON nilus.cdc_schema_history (tenant, record_insert_seq DESC);
CREATE INDEX cdc_schema_history_by_resource  ON nilus.cdc_schema_history (tenant, resource_id, record_insert_seq DESC);
CREATE INDEX cdc_schema_history_by_connector ON nilus.cdc_schema_history (tenant, connector_name, record_insert_seq DESC);
CREATE INDEX cdc_schema_history_by_pipeline  ON nilus.cdc_schema_history (tenant, pipeline_name, record_insert_seq);

------------------------------------------------------------------------------
-- Access: tokens and tenant visibility (extension/tokens.c, extension/access.c)
------------------------------------------------------------------------------

CREATE FUNCTION nilus.create_token(tenant text, rights text[], label text,
                                   expires_at timestamptz DEFAULT NULL)
RETURNS text AS 'MODULE_PATHNAME', 'nilus_create_token' LANGUAGE C VOLATILE;

CREATE FUNCTION nilus.revoke_token(label text)
RETURNS boolean AS 'MODULE_PATHNAME', 'nilus_revoke_token' LANGUAGE C VOLATILE STRICT;

-- Checks a bearer token (28000 when unknown, revoked or expired) and makes it
-- this transaction's identity: the functions and the row-level security
-- policies called later in the same transaction act for its tenant and rights.
CREATE FUNCTION nilus.authenticate(token text)
RETURNS json AS 'MODULE_PATHNAME', 'nilus_authenticate'
LANGUAGE C VOLATILE STRICT SECURITY DEFINER PARALLEL RESTRICTED;

-- The row-level security predicate.  Parallel restricted: the transaction's
-- token lives in this backend only.
CREATE FUNCTION nilus.tenant_visible(tenant text)
RETURNS boolean AS 'MODULE_PATHNAME', 'nilus_tenant_visible'
LANGUAGE C STABLE STRICT LEAKPROOF PARALLEL RESTRICTED;

------------------------------------------------------------------------------
-- Service
------------------------------------------------------------------------------

CREATE FUNCTION nilus.health()
RETURNS json AS 'MODULE_PATHNAME', 'nilus_health' LANGUAGE C STABLE PARALLEL RESTRICTED;

CREATE FUNCTION nilus.info()
RETURNS json AS 'MODULE_PATHNAME', 'nilus_info' LANGUAGE C STABLE PARALLEL RESTRICTED;

CREATE FUNCTION nilus.storage_health(tenant text)
RETURNS json AS 'MODULE_PATHNAME', 'nilus_storage_health' LANGUAGE C STABLE PARALLEL RESTRICTED;

------------------------------------------------------------------------------
-- Runs: listings and stats.  A NULL optional argument means "not given", so a
-- caller may bind every parameter and leave the absent ones NULL.
------------------------------------------------------------------------------

CREATE FUNCTION nilus.list_pipelines(tenant text,
                                     run_as_user text DEFAULT NULL,
                                     is_success boolean DEFAULT NULL,
                                     resource_id text DEFAULT NULL,
                                     started_at text DEFAULT NULL,
                                     started_at_gte timestamptz DEFAULT NULL,
                                     started_at_lte timestamptz DEFAULT NULL,
                                     "limit" integer DEFAULT 50,
                                     "offset" integer DEFAULT 0)
RETURNS json AS 'MODULE_PATHNAME', 'nilus_list_pipelines' LANGUAGE C STABLE PARALLEL RESTRICTED;

CREATE FUNCTION nilus.list_runs(tenant text,
                                resource_id text,
                                run_as_user text DEFAULT NULL,
                                is_success boolean DEFAULT NULL,
                                started_at text DEFAULT NULL,
                                started_at_gte timestamptz DEFAULT NULL,
                                started_at_lte timestamptz DEFAULT NULL,
                                "limit" integer DEFAULT 50,
                                "offset" integer DEFAULT 0)
RETURNS json AS 'MODULE_PATHNAME', 'nilus_list_runs' LANGUAGE C STABLE PARALLEL RESTRICTED;

CREATE FUNCTION nilus.pipeline_stats(tenant text, resource_id text, period text DEFAULT '24h')
RETURNS json AS 'MODULE_PATHNAME', 'nilus_pipeline_stats' LANGUAGE C STABLE PARALLEL RESTRICTED;

CREATE FUNCTION nilus.store_run(tenant text, body jsonb)
RETURNS json AS 'MODULE_PATHNAME', 'nilus_store_run' LANGUAGE C VOLATILE;

-- Keeps the three rollups equal to the runs, whatever writes them.
CREATE FUNCTION nilus.pipeline_run_rollup() RETURNS trigger
AS 'MODULE_PATHNAME', 'nilus_pipeline_run_rollup' LANGUAGE C;
CREATE TRIGGER pipeline_run_rollup AFTER INSERT OR UPDATE OR DELETE ON nilus.pipeline_run
    FOR EACH ROW EXECUTE FUNCTION nilus.pipeline_run_rollup();
-- TRUNCATE fires no row triggers: empty the rollups with the runs.
CREATE FUNCTION nilus.pipeline_run_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE nilus.run_rollup_resource, nilus.run_rollup_tenant, nilus.run_rollup_user;
    RETURN NULL;
END
$$;
CREATE TRIGGER pipeline_run_truncate AFTER TRUNCATE ON nilus.pipeline_run
    FOR EACH STATEMENT EXECUTE FUNCTION nilus.pipeline_run_truncate();

------------------------------------------------------------------------------
-- Pipeline state
------------------------------------------------------------------------------

CREATE FUNCTION nilus.get_state(tenant text, pipeline_name text)
RETURNS json AS 'MODULE_PATHNAME', 'nilus_get_state' LANGUAGE C STABLE PARALLEL RESTRICTED;

CREATE FUNCTION nilus.store_state(tenant text, pipeline_name text, body jsonb)
RETURNS json AS 'MODULE_PATHNAME', 'nilus_store_state' LANGUAGE C VOLATILE;

------------------------------------------------------------------------------
-- CDC offsets and schema history
------------------------------------------------------------------------------

CREATE FUNCTION nilus.list_cdc_offsets(tenant text,
                                       resource_id text DEFAULT NULL,
                                       connector_name text DEFAULT NULL,
                                       offset_key text DEFAULT NULL,
                                       record_insert_ts_gte timestamptz DEFAULT NULL,
                                       record_insert_ts_lte timestamptz DEFAULT NULL,
                                       "limit" integer DEFAULT 50,
                                       "offset" integer DEFAULT 0)
RETURNS json AS 'MODULE_PATHNAME', 'nilus_list_cdc_offsets' LANGUAGE C STABLE PARALLEL RESTRICTED;

CREATE FUNCTION nilus.list_cdc_schema_history(tenant text,
                                              resource_id text DEFAULT NULL,
                                              connector_name text DEFAULT NULL,
                                              record_insert_ts_gte timestamptz DEFAULT NULL,
                                              record_insert_ts_lte timestamptz DEFAULT NULL,
                                              "limit" integer DEFAULT 50,
                                              "offset" integer DEFAULT 0)
RETURNS json AS 'MODULE_PATHNAME', 'nilus_list_cdc_schema_history' LANGUAGE C STABLE PARALLEL RESTRICTED;

CREATE FUNCTION nilus.get_offsets(tenant text, pipeline_name text)
RETURNS json AS 'MODULE_PATHNAME', 'nilus_get_offsets' LANGUAGE C STABLE PARALLEL RESTRICTED;

CREATE FUNCTION nilus.store_offsets(tenant text, pipeline_name text, body jsonb)
RETURNS json AS 'MODULE_PATHNAME', 'nilus_store_offsets' LANGUAGE C VOLATILE;

CREATE FUNCTION nilus.get_schema_history(tenant text, pipeline_name text)
RETURNS json AS 'MODULE_PATHNAME', 'nilus_get_schema_history' LANGUAGE C STABLE PARALLEL RESTRICTED;

CREATE FUNCTION nilus.store_schema_history(tenant text, pipeline_name text, body jsonb)
RETURNS json AS 'MODULE_PATHNAME', 'nilus_store_schema_history' LANGUAGE C VOLATILE;

CREATE FUNCTION nilus.schema_history_exists(tenant text, pipeline_name text)
RETURNS json AS 'MODULE_PATHNAME', 'nilus_schema_history_exists' LANGUAGE C STABLE PARALLEL RESTRICTED;

------------------------------------------------------------------------------
-- Row-level security and grants
------------------------------------------------------------------------------

DO $rls$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['pipeline_run', 'run_rollup_resource', 'run_rollup_tenant',
                             'run_rollup_user', 'pipeline_state', 'pipeline_state_head',
                             'cdc_offset', 'cdc_offset_latest', 'cdc_schema_history']
    LOOP
        EXECUTE format('ALTER TABLE nilus.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON nilus.%I
                            USING (nilus.tenant_visible(tenant))
                            WITH CHECK (nilus.tenant_visible(tenant))', t);
        EXECUTE format('GRANT SELECT ON nilus.%I TO nilus_analyst, nilus_api', t);
    END LOOP;
END
$rls$;

GRANT USAGE ON SCHEMA nilus TO nilus_analyst, nilus_api;
-- Every role's policy check reads the mapping; it holds no secret.
GRANT SELECT ON nilus.tenant_role TO PUBLIC;
GRANT INSERT, UPDATE ON nilus.pipeline_run, nilus.pipeline_state, nilus.pipeline_state_head,
                        nilus.cdc_offset, nilus.cdc_offset_latest, nilus.cdc_schema_history
    TO nilus_api;
GRANT INSERT, UPDATE, DELETE ON nilus.run_rollup_resource, nilus.run_rollup_tenant,
                                nilus.run_rollup_user TO nilus_api;
GRANT USAGE ON SEQUENCE nilus.cdc_record_insert_seq TO nilus_api;
-- Token administration stays with the owner (and whom it grants it to).
REVOKE ALL ON FUNCTION nilus.create_token(text, text[], text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION nilus.revoke_token(text) FROM PUBLIC;
