-- Listing calls timed inside the server, without pgbench, the network or the
-- token (bench/README.md, "Density": why list_hot missed 2x): load
-- bench/sql/gen_density.sql first (psql variable t0), then
--   SELECT * FROM time_calls('list_hot', 'dense', 400, :'t0');
-- gives each call's microseconds and the second within its minute at which
-- its range ends (how long its edge is: min(sec, 60 - sec) seconds of runs).
-- Calls: list, list_hot (resource_id 'hot'), list_user (run_as_user 'user-1'),
-- list_hot_user (both).
CREATE FUNCTION time_calls(call text, tenant text, n integer, t0 timestamptz)
RETURNS TABLE (us double precision, sec double precision) LANGUAGE plpgsql AS $$
DECLARE
    lte timestamptz;
    started timestamptz;
BEGIN
    FOR i IN 1..n LOOP
        lte := t0 - interval '1 hour' + random() * interval '1 hour';
        started := clock_timestamp();
        PERFORM nilus.list_pipelines(tenant, resource_id => CASE WHEN call IN ('list_hot', 'list_hot_user') THEN 'hot' END,
                                     run_as_user => CASE WHEN call IN ('list_user', 'list_hot_user') THEN 'user-1' END,
                                     started_at_lte => lte);
        us := extract(epoch FROM clock_timestamp() - started) * 1e6;
        sec := extract(second FROM lte);
        RETURN NEXT;
    END LOOP;
END
$$;
