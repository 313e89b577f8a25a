-- A run stored at its start and at its end, then listed.
SELECT jsonb_pretty(nilus.store_run('acme', '{"run_id": "00000000-0000-0000-0000-000000000001",
    "resource_id": "dataos://orders", "pipeline_name": "orders", "run_as_user": "alice",
    "started_at": "2026-11-28T10:00:00Z", "trigger": "schedule"}')::jsonb);
SELECT jsonb_pretty(nilus.store_run('acme', '{"run_id": "00000000-0000-0000-0000-000000000001",
    "resource_id": "dataos://orders", "pipeline_name": "orders",
    "started_at": "2026-11-28T10:00:00Z", "finished_at": "2026-11-28T10:01:30.5Z",
    "is_success": true, "records": {"extracted": 10, "loaded": 10}}')::jsonb);
-- The same post again changes nothing.
SELECT nilus.store_run('acme', '{"run_id": "00000000-0000-0000-0000-000000000001",
    "resource_id": "dataos://orders", "pipeline_name": "orders",
    "started_at": "2026-11-28T10:00:00Z", "finished_at": "2026-11-28T10:01:30.5Z",
    "is_success": true, "records": {"extracted": 10, "loaded": 10}}')::jsonb -> 'created' AS created;
SELECT nilus.store_run('acme', '{"run_id": "00000000-0000-0000-0000-000000000002",
    "resource_id": "dataos://orders", "pipeline_name": "orders", "started_at": "2026-11-28T11:00:00Z",
    "finished_at": "2026-11-28T11:00:05Z", "is_success": false, "error": "source unreachable"}') IS NOT NULL AS stored;
SELECT jsonb_pretty(nilus.list_pipelines('acme', "limit" => 1)::jsonb);
SELECT jsonb_pretty(nilus.list_runs('acme', 'dataos://orders', is_success => false)::jsonb);
SELECT nilus.list_runs('acme', 'dataos://orders', started_at => '2026-11-28')::jsonb -> 'total' AS runs_that_day;
SELECT nilus.list_pipelines('globex')::jsonb AS another_tenant;
