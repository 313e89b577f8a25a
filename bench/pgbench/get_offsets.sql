-- GET /tenants/{t}/pipeline/{name}/offsets  (variables: token, tenant, pipeline)
\startpipeline
SELECT nilus.authenticate(:token);
SELECT nilus.get_offsets(:tenant, :pipeline);
\endpipeline
