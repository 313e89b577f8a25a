#!/usr/bin/env python3
"""Where tenants' data and calls go on a Citus cluster.

Run by test/citus/run.sh inside test/citus/cluster.sh (the libpq environment
names the coordinator, NILUS_CITUS_WORKER_PORTS the workers), with the
extension installed and nilus-manager built (NILUS_MANAGER_BIN, else
shim/nilus-manager).  Checks, on a database of its own distributed with
nilus.distribute() once it had history:
  - the history is kept and its rollups stay equal to the runs;
  - two tenants' shards live on different workers, every table of a tenant
    on its pipeline_run shard's worker, tokens and roles on every node;
  - an API call through nilus-manager runs on the worker holding the tenant
    (the nodes' pg_stat_user_functions count the function's calls there, and
    only there; the cluster tracks C functions);
  - after the tenant's shards move to the other worker (Citus's shard move,
    what the rebalancer does), its calls run there, and CDC records written
    there, or on the coordinator inside a transaction block, keep
    record_insert_seq in insertion order;
  - retention: CALL nilus.apply_retention() on the coordinator prunes on the
    tenants' workers; with nilus preloaded everywhere, only the coordinator's
    background worker applies the policies;
  - a 0.2.0 installation with history upgrades to 0.3.0, is distributed and
    serves its history through the API.
Prints one line per check and "N passed, M failed".
"""
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "test" / "lib"))
from suite import Failure, check, free_port, registry, run_suite, wait_until  # noqa: E402

BIN = os.environ.get("NILUS_MANAGER_BIN", str(REPO / "shim" / "nilus-manager"))
DB = "nilus_placement"
API = "/nilus-manager/api/v1"
WORKERS = [int(p) for p in os.environ["NILUS_CITUS_WORKER_PORTS"].split()]
COORDINATOR = int(os.environ.get("PGPORT", "5432"))
NODE_ADDRESS = "127.0.0.1"  # what the nodes are registered as (test/citus/createdb.sh)
CANDIDATES = ("globex", "initech", "umbrella", "hooli", "stark")  # beside acme
TENANTS = ()  # acme and the first candidate Citus put on the other worker (setup)


def psql(sql, port=COORDINATOR, db=DB):
    done = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-p", str(port),
                           "-d", db, "-c", sql], capture_output=True, text=True)
    if done.returncode != 0:
        raise Failure(f"psql on port {port} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def psql_script(script, what, db=DB):
    """Runs a script of statements on the coordinator, stopping at the first error."""
    done = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-p", str(COORDINATOR), "-d", db],
                          input=script, capture_output=True, text=True)
    check(done.returncode == 0, f"{what}: {done.stderr.strip()}")


def node_of(tenant, table="nilus.pipeline_run"):
    return int(psql(f"SELECT nodeport FROM pg_dist_shard_placement WHERE shardid = "
                    f"get_shard_id_for_distribution_column('{table}', '{tenant}')"))


def calls(port, function):
    """How often this node executed nilus.<function> (sessions that ended)."""
    return int(psql(f"SELECT coalesce(sum(calls), 0) FROM pg_stat_user_functions "
                    f"WHERE schemaname = 'nilus' AND funcname = '{function}'", port=port))


def calls_everywhere(function):
    return {port: calls(port, function) for port in [COORDINATOR] + WORKERS}


class Shim:
    """nilus-manager connected to the coordinator."""

    def __init__(self, db=DB):
        self.port, self.metrics_port = free_port(), free_port()
        dsn = (f"host={os.environ.get('PGHOST', '127.0.0.1')} port={COORDINATOR} dbname={db} "
               f"user={os.environ.get('PGUSER', 'postgres')}")
        self.log = open(f"/tmp/nilus-placement-shim-{os.getpid()}.log", "wb")
        self.proc = subprocess.Popen([BIN, "--dsn", dsn, "--listen", f"127.0.0.1:{self.port}",
                                      "--metrics-listen", f"127.0.0.1:{self.metrics_port}", "--threads", "2"],
                                     stdout=self.log, stderr=self.log)
        wait_until("nilus-manager starting", self.ready, 20)

    def ready(self):
        check(self.proc.poll() is None, f"nilus-manager exited with {self.proc.returncode}")
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/readiness", timeout=2):
            return True

    def call(self, method, path, token, body=None):
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{API}{path}", method=method,
                                         data=json.dumps(body).encode() if body is not None else None,
                                         headers={"Authorization": f"Bearer {token}",
                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()


def wait_for_stats():
    """Backends report their function counts when they end: let the shim's sessions end."""
    SHIM.stop()
    time.sleep(1.5)


TESTS, test = registry()


@test
def history_from_before_distribute_is_kept_exactly():
    check(psql("SELECT count(*) FROM nilus.pipeline_run WHERE tenant = 'acme'") == "30",
          "runs stored before distribute() are not all there")
    rollups_match("after distribute() of an installation with history")


@test
def tenants_are_spread_over_both_workers():
    ports = psql("SELECT string_agg(DISTINCT nodeport::text, ' ') FROM pg_dist_shard_placement "
                 "JOIN pg_dist_shard USING (shardid) WHERE logicalrelid = 'nilus.pipeline_run'::regclass")
    check(sorted(map(int, ports.split())) == sorted(WORKERS), f"pipeline_run's shards are on {ports}")
    nodes = {t: node_of(t) for t in TENANTS}
    check(len(TENANTS) == 2 and len(set(nodes.values())) == 2 and set(nodes.values()) <= set(WORKERS),
          f"no two tenants of acme, {', '.join(CANDIDATES)} on different workers: {nodes}")


@test
def every_table_of_a_tenant_lives_on_its_worker():
    tables = psql("SELECT string_agg(logicalrelid::text, ' ') FROM pg_dist_partition "
                  "WHERE partmethod = 'h' AND logicalrelid::text LIKE 'nilus.%'").split()
    check(len(tables) >= 10, f"only {len(tables)} distributed tables: {tables}")
    for tenant in TENANTS:
        home = node_of(tenant)
        away = [t for t in tables if node_of(tenant, t) != home]
        check(not away, f"{tenant}: {away} not on its worker {home}")


@test
def tokens_and_roles_are_on_every_node():
    for table in ("nilus.api_token", "nilus.tenant_role"):
        ports = psql(f"SELECT string_agg(nodeport::text, ' ' ORDER BY nodeport) FROM pg_dist_shard_placement "
                     f"JOIN pg_dist_shard USING (shardid) WHERE logicalrelid = '{table}'::regclass").split()
        check(sorted(map(int, ports)) == sorted([COORDINATOR] + WORKERS), f"{table} placements: {ports}")


def calls_land_on(tenant, worker, function, path, count):
    global SHIM
    before = calls_everywhere(function)
    SHIM = Shim()
    for _ in range(count):
        status, _ = SHIM.call("GET", f"/tenants/{tenant}{path}", TOKENS[tenant])
        check(status == 200, f"GET {path}: {status}")
    wait_for_stats()
    after = calls_everywhere(function)
    delta = {port: after[port] - before[port] for port in after}
    expected = {port: count if port == worker else 0 for port in after}
    check(delta == expected, f"{function} calls per node (port: calls): {delta}, expected {expected}")


@test
def api_calls_run_on_the_tenants_worker():
    for tenant in TENANTS:
        calls_land_on(tenant, node_of(tenant), "get_offsets", "/pipeline/cdc/offsets", 5)


@test
def analysts_see_their_tenants_only():
    """Row-level security on the workers' shards, for a query the coordinator spreads over them."""
    tenant, other = TENANTS
    psql("CREATE ROLE placement_analyst LOGIN IN ROLE nilus_analyst")  # Citus connects to workers as it
    psql(f"INSERT INTO nilus.tenant_role VALUES ('{tenant}', 'placement_analyst')")
    seen = psql("SET ROLE placement_analyst; "
                "SELECT string_agg(DISTINCT tenant, ' ') FROM nilus.cdc_offset")
    check(seen == tenant, f"the analyst of {tenant} sees the offsets of: {seen!r}")
    done = subprocess.run(["psql", "-X", "-q", "-p", str(COORDINATOR), "-d", DB, "-c",
                           f"SET ROLE placement_analyst; SELECT nilus.get_offsets('{other}', 'cdc')"],
                          capture_output=True, text=True)
    check(done.returncode != 0 and "has no access to tenant" in done.stderr,
          f"the analyst of {tenant} calling get_offsets of {other}: {done.stderr.strip() or done.stdout}")


def store_offsets(tenant, keys, in_transaction=False):
    body = json.dumps({"resource_id": "r", "connector_name": "c",
                       "offsets": [{"offset_key": k, "offset_val": str(i)} for i, k in enumerate(keys)]})
    call = f"SELECT nilus.store_offsets('{tenant}', 'cdc', '{body}')"
    psql(f"BEGIN; {call}; COMMIT" if in_transaction else call)


def seqs(tenant):
    """(offset_key, record_insert_seq) of the tenant's records, newest first."""
    listing = json.loads(psql(f"SELECT nilus.list_cdc_offsets('{tenant}', \"limit\" => 1000)"))
    return [(o["offset_key"], o["record_insert_seq"]) for o in listing["offsets"]]


@test
def after_a_shard_move_calls_follow_and_cdc_order_holds():
    tenant, other = TENANTS
    old, new = node_of(tenant), node_of(other)
    # The new worker's sequence is behind acme's newest record.
    store_offsets(tenant, [f"before-{i:03}" for i in range(60)])
    store_offsets(other, ["g"])
    shard = psql(f"SELECT get_shard_id_for_distribution_column('nilus.pipeline_run', '{tenant}')")
    psql(f"SELECT citus_move_shard_placement({shard}, '127.0.0.1', {old}, '127.0.0.1', {new}, "
         f"shard_transfer_mode => 'block_writes')")
    check(node_of(tenant) == new and node_of(tenant, "nilus.cdc_offset") == new,
          f"{tenant} did not move to {new}")
    store_offsets(tenant, ["after-move-1", "after-move-2"])
    store_offsets(tenant, ["on-coordinator"], in_transaction=True)
    store_offsets(tenant, ["after-move-3"])
    records = seqs(tenant)
    keys = [k for k, _ in records]
    check(keys[:4] == ["after-move-3", "on-coordinator", "after-move-2", "after-move-1"],
          f"newest first: {keys[:5]}")
    numbers = [s for _, s in records]
    check(numbers == sorted(numbers, reverse=True) and len(set(numbers)) == len(numbers),
          f"record_insert_seq not strictly decreasing newest first: {records[:6]}")
    latest = json.loads(psql(f"SELECT nilus.get_offsets('{tenant}', 'cdc')"))["offsets"]
    check(len(latest) == 65, f"get_offsets after the move: {len(latest)} keys, expected 65")
    calls_land_on(tenant, new, "get_offsets", "/pipeline/cdc/offsets", 3)


def rollup_checks():
    """Per rollup table: the rows it holds that count runs (shards added up), and the same from the runs."""
    resource = ("tenant, resource_id, {bucket}, count(*), count(*) FILTER (WHERE is_success), "
                "count(*) FILTER (WHERE NOT is_success), "
                "count(*) FILTER (WHERE is_success IS NOT NULL AND duration_sec IS NOT NULL), "
                "coalesce(sum(duration_sec::numeric) FILTER (WHERE is_success IS NOT NULL), 0), "
                "max(duration_sec) FILTER (WHERE is_success IS NOT NULL) FROM nilus.pipeline_run GROUP BY 1, 2, 3")
    tenant = ("tenant, {bucket}, count(*), count(*) FILTER (WHERE is_success), "
              "count(*) FILTER (WHERE NOT is_success) FROM nilus.pipeline_run GROUP BY 1, 2")
    user = ("tenant, run_as_user, {bucket}, count(*), count(*) FILTER (WHERE is_success), "
            "count(*) FILTER (WHERE NOT is_success) FROM nilus.pipeline_run WHERE run_as_user IS NOT NULL GROUP BY 1, 2, 3")
    resource_user = ("tenant, resource_id, run_as_user, {bucket}, count(*), count(*) FILTER (WHERE is_success), "
                     "count(*) FILTER (WHERE NOT is_success) FROM nilus.pipeline_run WHERE run_as_user IS NOT NULL "
                     "GROUP BY 1, 2, 3, 4")
    stored = {
        "resource": "SELECT tenant, resource_id, bucket, sum(runs), sum(succeeded), sum(failed), sum(durations), "
                    "sum(duration_sum), max(duration_max) FROM nilus.{table} GROUP BY 1, 2, 3 HAVING sum(runs) <> 0",
        "tenant": "SELECT tenant, bucket, sum(runs), sum(succeeded), sum(failed) FROM nilus.{table} "
                  "GROUP BY 1, 2 HAVING sum(runs) <> 0",
        "user": "SELECT tenant, run_as_user, bucket, sum(runs), sum(succeeded), sum(failed) FROM nilus.{table} "
                "GROUP BY 1, 2, 3 HAVING sum(runs) <> 0",
        "resource_user": "SELECT tenant, resource_id, run_as_user, bucket, sum(runs), sum(succeeded), sum(failed) "
                         "FROM nilus.{table} GROUP BY 1, 2, 3, 4 HAVING sum(runs) <> 0",
    }
    expected = {"resource": resource, "tenant": tenant, "user": user, "resource_user": resource_user}
    grains = {"_second": "second", "_minute": "minute", "": "hour", "_day": "day"}
    checks = {}
    for kind in ("resource", "tenant", "user", "resource_user"):
        for suffix, unit in grains.items():
            if (kind == "user" and unit == "day") or (kind != "resource" and unit == "second"):
                continue
            table = f"run_rollup_{kind}{suffix}"
            bucket = f"date_trunc('{unit}', started_at, 'UTC')"
            checks[table] = (stored[kind].format(table=table), "SELECT " + expected[kind].format(bucket=bucket))
    return checks


ROLLUP_CHECKS = rollup_checks()


def rollups_match(stage, db=DB):
    for table, (stored, expected) in ROLLUP_CHECKS.items():
        differ = psql(f"SELECT count(*) FROM (({stored} EXCEPT {expected}) UNION ALL "
                      f"({expected} EXCEPT {stored})) d", db=db)
        check(differ == "0", f"{stage}: {table} differs from the runs' aggregate in {differ} rows")


def run_body(i, finished):
    body = {"run_id": f"00000000-0000-4000-8000-{i:012}", "resource_id": f"res-{i % 3}",
            "pipeline_name": "p", "started_at": f"2026-11-{1 + i % 27:02}T{i % 24:02}:{i % 60:02}:00Z"}
    if i % 4:
        body["run_as_user"] = ["alice", "bob", "carol"][i % 3]
    if finished:
        body.update(finished_at=body["started_at"].replace("Z", ".5Z"), is_success=i % 5 != 0,
                    duration_sec=float(i % 17) * 1.25)
    return json.dumps(body)


@test
def rollups_stay_exact_through_delegated_writes_corrections_and_deletes():
    """Posts (delegated to the tenants' workers), a tenant's corrections and deletions through the
    coordinator, TRUNCATE."""
    script = "".join(f"SELECT nilus.store_run('{TENANTS[i % 2]}', '{run_body(i, False)}');\n"
                     for i in range(120))
    script += "".join(f"SELECT nilus.store_run('{TENANTS[i % 2]}', '{run_body(i, True)}');\n"
                      for i in range(0, 120, 2))
    psql_script(script, "store_run")
    rollups_match("after posts")
    for tenant in TENANTS:
        psql(f"UPDATE nilus.pipeline_run SET resource_id = 'res-moved', run_as_user = 'dave', "
             f"started_at = '2026-10-30T23:59:59Z' WHERE tenant = '{tenant}' AND run_id::text LIKE '%1'")
        psql(f"UPDATE nilus.pipeline_run SET duration_sec = 0.5 "
             f"WHERE tenant = '{tenant}' AND run_id::text LIKE '%2' AND is_success IS NOT NULL")
        psql(f"DELETE FROM nilus.pipeline_run WHERE tenant = '{tenant}' AND run_id::text LIKE '%3'")
    rollups_match("after corrections and deletions")
    psql("TRUNCATE nilus.pipeline_run")
    rollups_match("after TRUNCATE")


def old_run_body(i, days_ago):
    started = f"(now() - interval '{days_ago} days 30 minutes')"
    return (f"jsonb_build_object('run_id', '00000000-0000-4000-9000-{i:012}', 'resource_id', 'res-{i % 3}', "
            f"'pipeline_name', 'p', 'run_as_user', 'ann', 'started_at', {started}, "
            f"'finished_at', {started} + interval '1 minute', 'is_success', {'true' if i % 4 else 'false'}, "
            f"'duration_sec', {i % 7}.5)")


def old_runs_in_shard(tenant, cutoff_days):
    """The tenant's runs older than the cutoff, counted in its shard on the node that holds it."""
    shard = psql(f"SELECT get_shard_id_for_distribution_column('nilus.pipeline_run', '{tenant}')")
    command = (f"SELECT count(*) FROM %s WHERE tenant = '{tenant}' "
               f"AND started_at < now() - interval '{cutoff_days} days'")
    row = psql(f"SELECT nodeport || ' ' || result FROM run_command_on_placements('nilus.pipeline_run', "
               f"$${command}$$) WHERE shardid = {shard}")
    port, count = row.split()
    return int(port), int(count)


def store_old_runs_under_policy(numbers, days_ago):
    """Runs of both tenants, started days_ago(i) days ago, and a policy that keeps 20 days of runs."""
    script = "".join(f"SELECT nilus.store_run('{TENANTS[i % 2]}', {old_run_body(i, days_ago(i))});\n"
                     for i in numbers)
    script += "".join(f"SELECT nilus.set_retention('{t}', runs => '20 days');\n" for t in TENANTS)
    psql_script(script, "storing old runs")


@test
def retention_prunes_on_the_tenants_workers_and_keeps_rollups_exact():
    """CALL nilus.apply_retention() on the coordinator: each tenant's batches run on its worker
    (prune_batch counted there only), its old runs are gone from its shard, the rollups equal the runs."""
    store_old_runs_under_policy(range(200), lambda i: 2 + i % 50)
    for tenant in TENANTS:
        port, old = old_runs_in_shard(tenant, 20)
        check(port == node_of(tenant) and old > 0, f"{tenant}: {old} old runs in its shard on {port}")
    before = calls_everywhere("prune_batch")
    psql("CALL nilus.apply_retention(batch_size => 7, pace => 1)")
    time.sleep(1.5)  # the backends' function counts reach the statistics
    delta = {port: n - before[port] for port, n in calls_everywhere("prune_batch").items()}
    check(delta[COORDINATOR] == 0 and all(delta[node_of(t)] > 0 for t in TENANTS),
          f"prune_batch calls per node (port: calls): {delta}")
    for tenant in TENANTS:
        port, old = old_runs_in_shard(tenant, 20)
        check(old == 0, f"{tenant}: {old} runs older than the policy left in its shard on {port}")
        kept = psql(f"SELECT count(*) FROM nilus.pipeline_run WHERE tenant = '{tenant}'")
        check(int(kept) > 0, f"{tenant}: the prune removed the recent runs too")
    removed = psql("SELECT string_agg(tenant || ' ' || last_removed, ', ' ORDER BY tenant) "
                   "FROM nilus.retention_status() WHERE kind = 'runs'")
    check(all(f"{t} " in removed for t in TENANTS), f"retention_status after the prune: {removed!r}")
    metrics = psql("SELECT rows_removed_total FROM nilus.retention_metrics() WHERE kind = 'runs'")
    check(int(metrics) > 0, f"retention_metrics: {metrics} runs removed")
    rollups_match("after apply_retention")


NODES = [COORDINATOR] + WORKERS
LOGS = dict(zip(NODES, os.environ["NILUS_CITUS_LOGS"].split()))
WORKER_SKIPS = "nilus retention: this server is a Citus worker"


def log_lines(port, text):
    return [line for line in Path(LOGS[port]).read_text(errors="replace").splitlines() if text in line]


def start_retention_worker(port):
    """The node's retention worker applies the policies in this database every second."""
    psql(f"ALTER SYSTEM SET nilus.http_database = '{DB}'", port=port)
    psql("ALTER SYSTEM SET nilus.retention_interval = 1", port=port)
    psql("SELECT pg_reload_conf()", port=port)


def stop_retention_worker(port):
    psql("ALTER SYSTEM RESET nilus.http_database", port=port)
    psql("ALTER SYSTEM RESET nilus.retention_interval", port=port)
    psql("SELECT pg_reload_conf()", port=port)


@test
def the_retention_worker_prunes_from_the_coordinator_only():
    """With nilus preloaded on every node (after citus), the background worker of a Citus worker
    applies nothing and says so once; the coordinator's applies the policies to the tenants'
    shards on the workers, keeping the rollups exact."""
    store_old_runs_under_policy(range(300, 340), lambda i: 25 + i % 30)
    try:
        for port in WORKERS:
            start_retention_worker(port)
        for port in WORKERS:
            wait_until(f"the worker on {port} logging that it leaves retention to the coordinator",
                       lambda: log_lines(port, WORKER_SKIPS), 20)
        time.sleep(3)  # three more intervals
        for tenant in TENANTS:
            port, old = old_runs_in_shard(tenant, 20)
            check(old > 0, f"{tenant}: the workers' retention workers pruned its shard on {port}")
        for port in WORKERS:
            check(not log_lines(port, "rows removed"), f"the worker on {port} pruned: {log_lines(port, 'rows removed')}")
            skips = log_lines(port, WORKER_SKIPS)
            check(len(skips) == 1, f"the worker on {port} logged {len(skips)} lines that it skips: {skips}")
        start_retention_worker(COORDINATOR)
        wait_until("the coordinator's retention worker pruning the tenants' shards",
                   lambda: all(old_runs_in_shard(t, 20)[1] == 0 for t in TENANTS), 30)
        removed = log_lines(COORDINATOR, "nilus retention: tenant")
        check(all(any(f'"{t}", runs:' in line and "rows removed" in line for line in removed) for t in TENANTS),
              f"the coordinator's log of the prunes: {removed}")
        check(not log_lines(COORDINATOR, WORKER_SKIPS), "the coordinator took itself for a Citus worker")
    finally:
        for port in NODES:
            stop_retention_worker(port)
    rollups_match("after the retention worker's prune")


UPGRADED = "nilus_upgrade"


@test
def an_installation_of_0_2_0_upgrades_distributes_and_serves():
    """README, Scaling out: a 0.2.0 installation with CDC history and states on a Citus coordinator
    (0.2.0 has no distribute()), ALTER EXTENSION nilus UPDATE to 0.3.0 (Citus takes it to the
    workers), then nilus.distribute(): the history is kept and served by the API from the tenants'
    workers, and runs posted then keep exact rollups.  (0.3.0's library stores no run under
    0.2.0's tables: its rollup trigger writes the minute rollups 0.3.0 adds, as on one server.)"""
    global SHIM
    fresh_database(UPGRADED)
    psql("CREATE EXTENSION nilus VERSION '0.2.0'", db=UPGRADED)
    offsets = json.dumps({"resource_id": "r", "connector_name": "c",
                          "offsets": [{"offset_key": f"k{i}", "offset_val": str(i)} for i in range(5)]})
    script = "".join(f"SELECT nilus.store_offsets('{t}', 'cdc', '{offsets}');\n"
                     f"SELECT nilus.store_state('{t}', 'p', '{{\"state\": \"{t}-state\"}}');\n" for t in TENANTS)
    psql_script(script, "writing history under 0.2.0", db=UPGRADED)
    psql("ALTER EXTENSION nilus UPDATE", db=UPGRADED)
    for port in NODES:
        version = psql("SELECT extversion FROM pg_extension WHERE extname = 'nilus'", port=port, db=UPGRADED)
        check(version == "0.3.0", f"nilus on {port} after ALTER EXTENSION nilus UPDATE: {version!r}")
    psql("SELECT nilus.distribute()", db=UPGRADED)
    records = psql("SELECT count(*) FROM nilus.cdc_offset", db=UPGRADED)
    check(records == "10", f"{records} offset records after the upgrade and distribute(), 10 written under 0.2.0")
    tenant = TENANTS[1]
    home = int(psql(f"SELECT nodeport FROM pg_dist_shard_placement WHERE shardid = get_shard_id_for_distribution_column("
                    f"'nilus.pipeline_run', '{tenant}')", db=UPGRADED))
    check(home in WORKERS, f"{tenant}'s shards are on {home}, not on a worker")
    token = psql(f"SELECT nilus.create_token('{tenant}', ARRAY['read', 'runtime'], 'upgrade-{tenant}')", db=UPGRADED)
    SHIM = Shim(UPGRADED)
    status, latest = SHIM.call("GET", f"/tenants/{tenant}/pipeline/cdc/offsets", token)
    check(status == 200 and [o["offset_val"] for o in latest["offsets"]] == [str(i) for i in range(5)],
          f"the offsets written under 0.2.0, through the API: {status} {latest}")
    status, state = SHIM.call("GET", f"/tenants/{tenant}/pipeline/p/state", token)
    check(status == 200 and state["state"] == f"{tenant}-state", f"the state written under 0.2.0: {status} {state}")
    for i in range(6):
        status, _ = SHIM.call("POST", f"/tenants/{tenant}/pipeline/runs", token, json.loads(run_body(2100 + i, i % 2)))
        check(status == 200, f"a run posted after the upgrade: {status}")
    status, listing = SHIM.call("GET", f"/tenants/{tenant}/pipelines?limit=1", token)
    check(status == 200 and listing["total"] == 6, f"the tenant's runs through the API: {status} {listing.get('total')}")
    SHIM.stop()
    rollups_match("after posts to the upgraded and distributed installation", db=UPGRADED)


@test
def the_owner_logs_in_from_the_nodes_only():
    """nilus_owner may log in (Citus reaches the workers as it), without a password, and pg_hba.conf
    accepts it from the nodes' address only: not from where the API and the tests connect."""
    for port in [COORDINATOR] + WORKERS:
        check(psql("SELECT rolcanlogin AND rolpassword IS NULL FROM pg_authid WHERE rolname = 'nilus_owner'",
                   port=port) == "t", f"nilus_owner on {port}: not LOGIN without a password")
    socket_dir = psql("SELECT split_part(current_setting('unix_socket_directories'), ',', 1)")
    for host in (os.environ["PGHOST"], socket_dir):
        done = subprocess.run(["psql", "-X", "-h", host, "-p", str(COORDINATOR), "-U", "nilus_owner", "-d", DB,
                               "-c", "SELECT 1"], capture_output=True, text=True)
        check(done.returncode != 0 and "pg_hba.conf rejects" in done.stderr,
              f"nilus_owner logging in from {host}: {done.stderr.strip() or done.stdout.strip()}")
    for port in WORKERS:
        done = subprocess.run(["psql", "-X", "-h", NODE_ADDRESS, "-p", str(port), "-U", "nilus_owner", "-d", DB,
                               "-c", "SELECT 1"], capture_output=True, text=True)
        check(done.returncode == 0, f"nilus_owner from the nodes' address to {port}: {done.stderr.strip()}")


def fresh_database(db):
    """db, dropped if it was there, created on every node (test/citus/createdb.sh)."""
    psql(f"DROP DATABASE IF EXISTS {db}", db="postgres")
    done = subprocess.run([os.environ["NILUS_CITUS_CREATEDB"], db], capture_output=True, text=True)
    check(done.returncode == 0, f"creating {db} on the nodes: {done.stderr.strip()}")


def setup():
    global TOKENS, TENANTS
    fresh_database(DB)
    psql("CREATE EXTENSION nilus")
    # An installation with history, distributed afterwards (see the first test).
    for i in range(30):
        psql(f"SELECT nilus.store_run('acme', '{run_body(1000 + i, i % 3 == 0)}')")
    psql("SELECT nilus.distribute()")
    TENANTS = ("acme",) + tuple(t for t in CANDIDATES if node_of(t) != node_of("acme"))[:1]
    TOKENS = {t: psql(f"SELECT nilus.create_token('{t}', ARRAY['read', 'runtime'], 'placement-{t}')")
              for t in TENANTS}
    for tenant in TENANTS:
        store_offsets(tenant, ["k"])
    return ()


SHIM = None
TOKENS = {}


def stop_shim():
    """A test's nilus-manager, if it left one running."""
    if SHIM and SHIM.proc.poll() is None:
        SHIM.stop()


if __name__ == "__main__":
    sys.exit(run_suite(TESTS, setup, teardown=stop_shim, before=lambda _: stop_shim(), verbose=True))
