-- GET /tenants/{t}/pipelines?started_at_gte=&started_at_lte=  (variables: token, tenant)
-- A 7-day window ending at a random second of the last 7 days, so that its
-- edges fall inside hours, as a user's range does.
\set back random(0, 7 * 86400)
\startpipeline
SELECT nilus.authenticate(:token);
SELECT nilus.list_pipelines(:tenant,
                            started_at_gte => now() - make_interval(secs => :back + 7 * 86400),
                            started_at_lte => now() - make_interval(secs => :back));
\endpipeline
