-- POST /tenants/{t}/pipeline/{name}/offsets: one connector flush of 3 keys
-- with fresh record ids, to one of :writers pipelines (a connector writes its
-- own pipeline; concurrent clients mostly write different ones).
-- Variables: token, tenant, writers.
\set w random(1, :writers)
\set lsn random(1, 1000000000000)
\startpipeline
SELECT nilus.authenticate(:token);
SELECT nilus.store_offsets(:tenant, 'cdc-w-' || :w, jsonb_build_object(
    'resource_id', 'cdc-workflow-w' || :w,
    'connector_name', 'connector-w' || :w,
    'offsets', jsonb_build_array(
        jsonb_build_object('id', gen_random_uuid(), 'offset_key', '["connector-w' || :w || '",{"partition":1}]',
                           'offset_val', '{"lsn":' || :lsn || ',"txId":1}'),
        jsonb_build_object('id', gen_random_uuid(), 'offset_key', '["connector-w' || :w || '",{"partition":2}]',
                           'offset_val', '{"lsn":' || :lsn || ',"txId":2}'),
        jsonb_build_object('id', gen_random_uuid(), 'offset_key', '["connector-w' || :w || '",{"partition":3}]',
                           'offset_val', '{"lsn":' || :lsn || ',"txId":3}'))));
\endpipeline
