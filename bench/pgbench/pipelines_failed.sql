-- GET /tenants/{t}/pipelines?is_success=false  (variables: token, tenant)
\startpipeline
SELECT nilus.authenticate(:token);
SELECT nilus.list_pipelines(:tenant, is_success => false);
\endpipeline
