-- GET /tenants/{t}/pipelines/{resource_id}/runs, page 1  (variables: token, tenant, resources)
\set r random(1, :resources)
\startpipeline
SELECT nilus.authenticate(:token);
SELECT nilus.list_runs(:tenant, 'workflow-' || lpad(:r::text, 2, '0'));
\endpipeline
