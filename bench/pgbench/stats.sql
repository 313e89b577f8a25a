-- GET /tenants/{t}/pipelines/{resource_id}/stats?period=  (variables: token, tenant, resources, period)
-- Authentication and the call in one pipeline before one Sync: one implicit
-- transaction and one round trip, as nilus-manager sends them.
\set r random(1, :resources)
\startpipeline
SELECT nilus.authenticate(:token);
SELECT nilus.pipeline_stats(:tenant, 'workflow-' || lpad(:r::text, 2, '0'), period => :period);
\endpipeline
