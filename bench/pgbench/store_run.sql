-- POST /tenants/{t}/pipeline/runs, as the runtime posts: a fresh run when it
-- starts, then the same run_id when it finishes.  Two requests (two
-- transactions) per pgbench transaction.  Variables: token, tenant, resources.
-- started_at hangs on the current hour (pgbench has no clock), so both posts
-- carry the same value.
\set r random(1, :resources)
\set n random(1, 9000000000000000000)
\set secs random(1, 600)
\startpipeline
SELECT nilus.authenticate(:token);
SELECT nilus.store_run(:tenant, jsonb_build_object(
    'run_id', md5('bench-' || :client_id || '-' || :n)::uuid,
    'resource_id', 'workflow-' || lpad(:r::text, 2, '0'),
    'pipeline_name', 'pipeline-' || lpad(:r::text, 2, '0'),
    'run_as_user', 'user-bench',
    'started_at', date_trunc('hour', now()) - make_interval(secs => :secs),
    'metadata', jsonb_build_object('nilus_version', '0.9.3')));
\endpipeline
\startpipeline
SELECT nilus.authenticate(:token);
SELECT nilus.store_run(:tenant, jsonb_build_object(
    'run_id', md5('bench-' || :client_id || '-' || :n)::uuid,
    'resource_id', 'workflow-' || lpad(:r::text, 2, '0'),
    'pipeline_name', 'pipeline-' || lpad(:r::text, 2, '0'),
    'started_at', date_trunc('hour', now()) - make_interval(secs => :secs),
    'finished_at', now(),
    'is_success', true,
    'records', jsonb_build_object('extracted', 100, 'normalized', 100, 'loaded', 100)));
\endpipeline
