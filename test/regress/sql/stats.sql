-- Statistics of the finished runs started within the period.
SELECT count(*) AS stored FROM generate_series(10, 40) AS i,
  LATERAL nilus.store_run('acme', jsonb_build_object('run_id', '00000000-0000-0000-0000-0000000000' || i,
    'resource_id', 'dataos://stats', 'pipeline_name', 'stats', 'started_at', now() - i * interval '1 hour' - interval '30 minutes',
    'finished_at', now() - i * interval '1 hour' - interval '29 minutes',
    'is_success', i % 4 <> 0, 'duration_sec', 10 * i)) AS run;
SELECT jsonb_pretty(nilus.pipeline_stats('acme', 'dataos://stats')::jsonb -> 'stats');
SELECT jsonb_pretty(nilus.pipeline_stats('acme', 'dataos://stats', period => '2d')::jsonb -> 'stats');
SELECT nilus.pipeline_stats('acme', 'dataos://stats', period => '30m')::jsonb -> 'stats' AS no_runs;
-- Every resource of the tenant with runs in the period, as rows, and the runs over time.
SELECT resource_id, pipeline_name, total_runs, successful_runs, failed_runs, success_rate,
       avg_duration_sec, max_duration_sec, last_is_success
  FROM nilus.resource_stats('acme', '2d') WHERE resource_id = 'dataos://stats';
SELECT count(*) AS buckets, sum(total_runs) AS total_runs, sum(failed_runs) AS failed_runs,
       count(*) FILTER (WHERE total_runs = 0) AS empty_buckets
  FROM nilus.run_series('acme', 'dataos://stats', '2d', '1h');
SELECT count(*) AS buckets, sum(total_runs) AS total_runs
  FROM nilus.run_series('acme', 'dataos://stats', '2d', '1d');
