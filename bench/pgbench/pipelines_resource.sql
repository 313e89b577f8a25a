-- GET /tenants/{t}/pipelines?resource_id=  (variables: token, tenant, resources)
\set r random(1, :resources)
\startpipeline
SELECT nilus.authenticate(:token);
SELECT nilus.list_pipelines(:tenant, resource_id => 'workflow-' || lpad(:r::text, 2, '0'));
\endpipeline
