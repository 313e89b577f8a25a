-- Statistics of the finished runs started within the period.
SELECT count(*) AS stored FROM generate_series(10, 40) AS i,
  LATERAL nilus.store_run('acme', jsonb_build_object('run_id', '00000000-0000-0000-0000-0000000000' || i,
    'resource_id', 'dataos://stats', 'pipeline_name', 'stats', 'started_at', now() - i * interval '1 hour' - interval '30 minutes',
    'finished_at', now() - i * interval '1 hour' - interval '29 minutes',
    'is_success', i % 4 <> 0, 'duration_sec', 10 * i)) AS run;
SELECT jsonb_pretty(nilus.pipeline_stats('acme', 'dataos://stats')::jsonb -> 'stats');
SELECT jsonb_pretty(nilus.pipeline_stats('acme', 'dataos://stats', period => '2d')::jsonb -> 'stats');
SELECT nilus.pipeline_stats('acme', 'dataos://stats', period => '30m')::jsonb -> 'stats' AS no_runs;
