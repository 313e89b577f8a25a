-- Bad input: the SQLSTATE of doc/errors.md, a message naming the parameter, and a
-- detail or hint where one helps.
\set VERBOSITY default
SELECT nilus.list_pipelines('acme', "limit" => 0);
SELECT nilus.list_cdc_offsets('acme', "offset" => -1);
SELECT nilus.pipeline_stats('acme', 'dataos://orders', period => '3 days');
SELECT nilus.list_runs('acme', 'dataos://orders', started_at => '2026-02-30');
SELECT nilus.list_pipelines('acme', started_at => 'yesterday');
SELECT nilus.list_pipelines('ac me');
SELECT nilus.store_state('acme', 'p', '{"state": 1, "version": 2}');
SELECT nilus.store_run('acme', '{"run_id": "00000000-0000-0000-0000-000000000009"}');
SELECT nilus.get_state('acme', 'no-such-pipeline');
SELECT nilus.create_token('acme', ARRAY['write'], 'regress-writer');
