-- GET /tenants/{t}/pipelines, page 1, no filter  (variables: token, tenant)
\startpipeline
SELECT nilus.authenticate(:token);
SELECT nilus.list_pipelines(:tenant);
\endpipeline
