#!/usr/bin/env python3
"""Tests of the database-native deployment: PostgreSQL runs nilus-manager.

    python3 test/native/run.py [-v] [substring ...]

starts a throw-away cluster (pg_virtualenv -t) configured only through
postgresql.conf: shared_preload_libraries = 'nilus' and the nilus.http_*
settings on free ports (nilus.http_program: $NILUS_MANAGER_BIN if set, as for
test/http/run.py).  Against the installed extension and binary it runs the
part of the HTTP suite that covers every route, auth and errors
(test/http/run.py --existing), then checks the process PostgreSQL runs: kill -9
(back within 5 s, no crash recovery), back-off, reload, bad settings, the retention worker's schedule (nilus.retention_interval), and that
stopping PostgreSQL (smart, fast, kill -9 of the postmaster) leaves no process
of nilus behind.  Ends with `N passed, M failed`.
"""

import http.client
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "test" / "lib"))
from suite import Failure, Tally, check, chosen, free_port, parse_argv, registry, run_suite  # noqa: E402

DB = "nilus_http"                   # test/http/run.py's database
API_ROOT = "/nilus-manager/api/v1"
SUPERVISOR = "nilus http supervisor"
# The HTTP tests run against the API PostgreSQL runs: every route once with
# each right, auth, tenant isolation, request errors, the probes and the docs.
HTTP_SUBSET = [
    "unauthorized_without_valid_token", "forbidden_other_tenant_and_missing_right",
    "tokens_with_the_right_are_served", "tenant_isolation_through_http",
    "revoked_token_refused_within_5_seconds", "unknown_routes_are_404",
    "wrong_method_is_405_with_allow", "unknown_query_parameter_is_named",
    "payload_over_default_max_body_is_413", "wrong_content_type_is_415",
    "bad_percent_encoding_and_nul_are_400", "health_info_storage_health",
    "store_run_upsert_lifecycle", "state_versions_and_latest_successful",
    "offsets_empty_then_latest_per_key", "schema_history_order_bytes_and_exists",
    "pipelines_default_page_and_whole_items", "stats_match_sql_aggregate",
    "cdc_offset_storage_filters", "openapi_lists_every_route_parameter_and_error",
    "docs_pages_are_served_offline", "metrics_listener_probes",
    "metrics_pass_promtool_and_count_requests", "readiness_requires_matching_extension_version",
]


# ---------------------------------------------------------------- outside the cluster

def start_cluster(argv):
    """Runs this script again inside a cluster created with the settings."""
    api, metrics = free_port(), free_port()
    password = uuid.uuid4().hex
    settings = {"shared_preload_libraries": "nilus",
                "nilus.http_listen": f"127.0.0.1:{api}",
                "nilus.metrics_listen": f"127.0.0.1:{metrics}",
                "nilus.http_database": DB,
                "nilus.http_dsn": f"host=127.0.0.1 user=nilus_manager password={password}",
                "nilus.http_threads": "2",
                "nilus.http_loops": "2"}
    if "NILUS_MANAGER_BIN" in os.environ:    # e.g. a build with AddressSanitizer
        settings["nilus.http_program"] = os.path.abspath(os.environ["NILUS_MANAGER_BIN"])
    command = ["pg_virtualenv", "-t"]
    for name, value in settings.items():
        command += ["-o", f"{name}={value}"]
    env = dict(os.environ, NILUS_NATIVE_PORTS=f"{api}:{metrics}", NILUS_TEST_ROLE_PASSWORD=password)
    return subprocess.run(command + [sys.executable, __file__, *argv], env=env).returncode


# ---------------------------------------------------------------- inside

API_PORT = METRICS_PORT = None
OUR_PORTS = set()   # every API port this run configured: its processes are ours
TOKEN = None


def psql(sql, db="postgres", check_ok=True):
    done = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql],
                          capture_output=True, text=True)
    if check_ok and done.returncode != 0:
        raise Failure(f"psql failed: {done.stderr.strip()}")
    return done.stdout.strip() if done.returncode == 0 else done.stderr.strip()


def status():
    return json.loads(psql("SELECT row_to_json(s) FROM nilus.http_status() s", db=DB))


def set_settings(**values):
    """ALTER SYSTEM SET nilus.<name> for each (None: RESET), then a reload."""
    for name, value in values.items():
        if value is None:
            psql(f"ALTER SYSTEM RESET nilus.{name}")
        else:
            psql(f"ALTER SYSTEM SET nilus.{name} = '{value}'")
    psql("SELECT pg_reload_conf()")


class Settings:
    """with Settings(name=value, ...): the nilus.* settings changed for the block; after
    it they are reset and the API is back on its first port."""

    def __init__(self, **values):
        self.values = values

    def __enter__(self):
        set_settings(**self.values)

    def __exit__(self, kind, value, tb):
        set_settings(**{name: None for name in self.values})
        try:
            wait_api_up(timeout=10)
        except Failure:
            if kind is None:
                raise


def request(method, path, port, token=None, body=None, timeout=5, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = dict(headers or {}, **({"Authorization": f"Bearer {token}"} if token else {}))
    if body is not None:
        headers["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def answers(port, path=API_ROOT + "/info"):
    """The status of a GET with the test's token, None when nothing listens."""
    try:
        return request("GET", path, port, token=TOKEN)[0]
    except OSError:
        return None


def readiness():
    return answers(METRICS_PORT, "/readiness")


def wait_for(what, condition, timeout):
    """Seconds until condition() held; a Failure after timeout."""
    started = time.monotonic()
    while not condition():
        check(time.monotonic() - started < timeout, f"{what}: not within {timeout} s")
        time.sleep(0.05)
    return time.monotonic() - started


def wait_api_up(port=None, timeout=20):
    return wait_for(f"the API answers 200 on {port or API_PORT}", lambda: answers(port or API_PORT) == 200,
                    timeout)


class Log:
    """PostgreSQL's log from the moment this was made."""
    path = None

    def __init__(self, from_start=False):
        self.offset = 0 if from_start else Path(Log.path).stat().st_size

    def text(self):
        with open(Log.path, "rb") as f:
            f.seek(self.offset)
            return f.read().decode("utf-8", "replace")

    def wait_for(self, pattern, timeout=10):
        wait_for(f"a log line matching {pattern!r}", lambda: re.search(pattern, self.text()), timeout)
        return re.search(pattern, self.text())


def process(pid):
    """(ppid, pgid, exe, environment entries) of a live process, None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        exe = os.readlink(f"/proc/{pid}/exe")
        env = Path(f"/proc/{pid}/environ").read_bytes().decode("utf-8", "replace").split("\0")
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[1]), int(fields[2]), exe, env


def cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def api_processes():
    """Live nilus-manager processes serving a port this run gave nilus.http_listen."""
    found = []
    for entry in Path("/proc").iterdir():
        info = entry.name.isdigit() and process(int(entry.name))
        if info and info[2].endswith("/nilus-manager") and \
                any(e == f"NILUS_LISTEN=127.0.0.1:{p}" for p in OUR_PORTS for e in info[3]):
            found.append(int(entry.name))
    return found


def supervisor_pid():
    """The postmaster's child titled as the supervisor (it has no database session)."""
    postmaster = postmaster_pid()
    for entry in Path("/proc").iterdir():
        info = entry.name.isdigit() and process(int(entry.name))
        if info and info[0] == postmaster and \
                SUPERVISOR.encode() in cmdline(entry.name):
            return int(entry.name)
    raise Failure(f"no child of the postmaster ({postmaster}) is the {SUPERVISOR}")


def cluster():
    return os.environ.get("PGCLUSTER", "15/regress").split("/")


def pg_ctlcluster(action, *options):
    version, name = cluster()
    return subprocess.Popen(["pg_ctlcluster", version, name, action, *options],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc, what, timeout=90):
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Failure(f"{what}: not done within {timeout} s")
    check(proc.returncode == 0, f"{what}: exit {proc.returncode}: {out.strip()}")


def postmaster_pid():
    data = psql("SHOW data_directory")
    return int(Path(data, "postmaster.pid").read_text().split("\n")[0])


class Session:
    """A psql session kept open across a test: does it survive?"""

    def __init__(self):
        self.proc = subprocess.Popen(["psql", "-X", "-q", "-A", "-t", "-d", "postgres"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)

    def query(self, sql):
        self.proc.stdin.write(sql + ";\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], 10)
        check(ready, f"the open session did not answer {sql!r}")
        return self.proc.stdout.readline().strip()

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


# ---------------------------------------------------------------- tests

TESTS, test = registry()


@test
def api_starts_with_postgresql_and_logs_why_the_database_refuses_it():
    """At start the role of nilus.http_dsn does not exist yet: the API is up,
    not ready, and PostgreSQL's log says why."""
    whole = Log(from_start=True)
    whole.wait_for(rf"LOG:  nilus-manager [0-9.]+: API on 127\.0\.0\.1:{API_PORT}, metrics on 127\.0\.0\.1:{METRICS_PORT}")
    whole.wait_for(r"LOG:  nilus-manager: database not ready[^\n]*authentication failed for user \"nilus_manager\"")
    code, body = request("GET", "/readiness", METRICS_PORT)
    check(code == 503 and b"authentication failed" in body, f"readiness before the role exists: {code} {body!r}")
    children = api_processes()
    check(len(children) == 1, f"one nilus-manager process expected, found {children}")
    ppid, pgid, _, env = process(children[0])
    check(ppid == supervisor_pid(), "nilus-manager is not the supervisor's child")
    check(pgid == children[0], "nilus-manager is not in a process group of its own")
    password = os.environ["NILUS_TEST_ROLE_PASSWORD"].encode()
    check(password not in cmdline(children[0]) and any(e.startswith("NILUS_DSN=") for e in env),
          "the DSN must reach the child through its environment, not its command line")


@test
def http_loops_and_threads_reach_the_api():
    """nilus.http_loops and nilus.http_threads are the shim's --loops and --threads
    (NILUS_LOOPS, NILUS_THREADS): it runs two event loop threads."""
    Log(from_start=True).wait_for(r"nilus-manager [0-9.]+: API on [^\n]*, 2 loops, 2 threads")
    children = api_processes()
    check(len(children) == 1, f"one nilus-manager process expected, found {children}")
    env = process(children[0])[3]
    check("NILUS_LOOPS=2" in env and "NILUS_THREADS=2" in env, "NILUS_LOOPS and NILUS_THREADS "
          f"in its environment: {[e for e in env if e.startswith('NILUS_') and 'DSN' not in e]}")
    loops = [t for t in Path(f"/proc/{children[0]}/task").iterdir()
             if (t / "comm").read_text().startswith("nilus-loop-")]
    check(len(loops) == 2, f"{len(loops)} loop threads, nilus.http_loops is 2")


@test
def http_suite_against_the_api_postgresql_runs():
    """Counted test by test in the summary (see main)."""
    global TOKEN
    done = subprocess.run([sys.executable, str(REPO / "test" / "http" / "run.py"),
                           "--existing", f"{API_PORT}:{METRICS_PORT}", *HTTP_SUBSET],
                          capture_output=True, text=True)
    print(done.stdout, end="", flush=True)
    sys.stderr.write(done.stderr)
    m = re.search(r"^(\d+) passed, (\d+) failed", done.stdout, re.M)
    check(m, "the HTTP suite gave no summary")
    TOKEN = psql("SELECT nilus.create_token(NULL, ARRAY['read', 'runtime'], 'native-admin')", db=DB)
    return Tally(int(m.group(1)), int(m.group(2)))


@test
def http_status_is_for_superusers_and_pg_monitor():
    s = status()
    check(s["running"] and s["pid"] in api_processes(), f"status of the running API: {s}")
    check(s["listen"] == f"127.0.0.1:{API_PORT}" and s["metrics_listen"] == f"127.0.0.1:{METRICS_PORT}",
          f"listen addresses: {s}")
    check(s["started_at"] and s["restarts"] == 0 and s["last_exit"] is None, f"a first start: {s}")
    psql("DROP ROLE IF EXISTS native_plain; DROP ROLE IF EXISTS native_monitor;"
         "CREATE ROLE native_plain; CREATE ROLE native_monitor IN ROLE pg_monitor")
    plain = psql("SET ROLE native_plain; SELECT running FROM nilus.http_status()", db=DB, check_ok=False)
    check("permission denied" in plain, f"a plain role calls nilus.http_status(): {plain}")
    monitor = psql("SET ROLE native_monitor; SELECT running FROM nilus.http_status()", db=DB)
    check(monitor == "t", f"a pg_monitor member reads nilus.http_status(): {monitor}")
    check(psql("SHOW nilus.http_database") == DB, "SHOW nilus.http_database")
    hidden = psql("SET ROLE native_plain; SHOW nilus.http_dsn", check_ok=False)
    check("permission denied" in hidden or "must be superuser" in hidden,
          f"nilus.http_dsn (it may hold a password) shown to a plain role: {hidden}")


RETENTION_TENANT = "sched"


def store_old_runs(count):
    """count finished runs of RETENTION_TENANT that started 400 days ago."""
    psql("SELECT nilus.store_run('sched', jsonb_build_object('run_id', gen_random_uuid(), 'resource_id', 'r', "
         "'pipeline_name', 'p', 'started_at', now() - interval '400 days' - i * interval '1 hour', "
         "'finished_at', now() - interval '400 days' - i * interval '1 hour' + interval '1 minute', "
         f"'is_success', true)) FROM generate_series(1, {count}) i", db=DB)


def old_runs():
    return int(psql("SELECT count(*) FROM nilus.pipeline_run WHERE tenant = 'sched' "
                    "AND started_at < now() - interval '30 days'", db=DB))


def runs_status():
    """retention_status() of the tenant's runs: (last_pruned_at, last_removed, total_removed), or None."""
    row = psql("SELECT last_pruned_at, last_removed, total_removed FROM nilus.retention_status() "
               "WHERE tenant = 'sched' AND kind = 'runs'", db=DB)
    return tuple(row.split("|")) if row else None


def still_there_after(seconds, count, why):
    time.sleep(seconds)
    check(old_runs() == count, f"{why}: {old_runs()} of {count} old runs left after {seconds} s")


@test
def retention_worker_applies_the_policies_every_interval():
    """Old runs past a policy go within seconds at nilus.retention_interval = 1 and
    retention_status() says so; at 0 nothing goes; a reload switches between them."""
    with Settings(retention_interval="0"):
        time.sleep(0.5)
        psql("SELECT nilus.set_retention('sched', runs => '30 days')", db=DB)
        store_old_runs(3)
        psql("SELECT nilus.store_run('sched', jsonb_build_object('run_id', gen_random_uuid(), "
             "'resource_id', 'r', 'pipeline_name', 'p', 'started_at', now()))", db=DB)
        log = Log()
        still_there_after(3, 3, "nilus.retention_interval = 0")
        check(runs_status() is None, f"retention_status() at interval 0: {runs_status()}")
        set_settings(retention_interval="1")
        wait_for("the old runs removed at nilus.retention_interval = 1", lambda: old_runs() == 0, 10)
        log.wait_for(r"LOG:  nilus retention: tenant \"sched\", runs: 3 rows removed")
        pruned_at, last, total = runs_status()
        check((last, total) == ("3", "3") and pruned_at, f"retention_status() after the worker: {runs_status()}")
        check(psql("SELECT count(*) FROM nilus.pipeline_run WHERE tenant = 'sched'", db=DB) == "1",
              "the recent run must stay")
        check(psql("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'nilus retention' "
                   f"AND datname = '{DB}'") == "1", "the worker's session in nilus.http_database")
        set_settings(retention_interval="0")
        time.sleep(1.5)
        store_old_runs(2)
        still_there_after(3, 2, "nilus.retention_interval = 0 again")
        set_settings(retention_interval="1")
        wait_for("the old runs removed at nilus.retention_interval = 1 again", lambda: old_runs() == 0, 10)
        check(runs_status()[2] == "5", f"total_removed after two prunes: {runs_status()}")
        metrics = request("GET", "/metrics", METRICS_PORT)[1].decode()
        check(re.search(r'^nilus_retention_last_prune_timestamp_seconds\{kind="runs"\} \d', metrics, re.M),
              "the worker's prune is not in the API's /metrics")
        removed = re.search(r'^nilus_retention_rows_removed_total\{kind="runs"\} (\S+)', metrics, re.M)
        check(removed and float(removed.group(1)) >= 5, f"runs removed in /metrics: {removed and removed.group(0)}")
        psql("SELECT nilus.clear_retention('sched')", db=DB)


def interval_samples():
    """{kind: value} of nilus_retention_interval_seconds in the API's /metrics."""
    metrics = request("GET", "/metrics", METRICS_PORT)[1].decode()
    return {kind: float(value) for kind, value in
            re.findall(r'^nilus_retention_interval_seconds\{kind="(\w+)"\} (\S+)$', metrics, re.M)}


@test
def metrics_give_the_retention_workers_interval():
    """nilus_retention_interval_seconds (the alert NilusRetentionNotApplied's yardstick):
    nilus.retention_interval for each kind, after a reload too; none at 0 (no worker applies it)."""
    kinds = ("runs", "cdc_offsets", "state_versions", "schema_history")
    check(interval_samples() == dict.fromkeys(kinds, 3600.0), f"at the default interval: {interval_samples()}")
    with Settings(retention_interval="15min"):
        wait_for("nilus_retention_interval_seconds 900 after a reload",
                 lambda: interval_samples() == dict.fromkeys(kinds, 900.0), 5)
    with Settings(retention_interval="0"):
        wait_for("no nilus_retention_interval_seconds at 0", lambda: interval_samples() == {}, 5)


@test
def retention_worker_folds_the_rollup_shards_of_closed_buckets():
    """A closed bucket written by two backends (two shards) becomes one row within
    seconds at nilus.retention_interval = 1, and still counts every run."""
    with Settings(retention_interval="0"):
        time.sleep(0.5)
        psql("SELECT nilus.store_run('fold', jsonb_build_object('run_id', gen_random_uuid(), 'resource_id', 'r', "
             "'pipeline_name', 'p', 'started_at', date_trunc('hour', now()) - interval '2 hours' + i * interval '1 minute')) "
             "FROM generate_series(1, 2) i", db=DB)
        # One run's count moved to another backend's shard, as two writers leave the hour.
        psql("WITH moved AS (UPDATE nilus.run_rollup_tenant SET runs = runs - 1 WHERE tenant = 'fold' "
             "RETURNING bucket, shard) INSERT INTO nilus.run_rollup_tenant (tenant, bucket, shard, runs) "
             "SELECT 'fold', bucket, shard + 1, 1 FROM moved", db=DB)

        def hour_rows():
            return psql("SELECT count(*) || ' rows, ' || sum(runs) || ' runs' FROM nilus.run_rollup_tenant "
                        "WHERE tenant = 'fold'", db=DB)
        check(hour_rows() == "2 rows, 2 runs", f"the hour in two shards: {hour_rows()}")
        log = Log()
        set_settings(retention_interval="1")
        wait_for("the hour folded into one row", lambda: hour_rows() == "1 rows, 2 runs", 10)
        log.wait_for(r"LOG:  nilus retention: folded the rollup shards of closed buckets: \d+ rows fewer")
        total = psql("SELECT nilus.list_pipelines('fold')::jsonb ->> 'total'", db=DB)
        check(total == "2", f"the tenant's total after the fold: {total}")


def retention_worker_pid():
    pid = psql("SELECT pid FROM pg_stat_activity WHERE backend_type = 'nilus retention'")
    return int(pid) if pid else None


@test
def retention_worker_ends_on_sigterm_and_comes_back():
    """SIGTERM ends it between two statements (no crash recovery); PostgreSQL starts it
    again after its restart time, 10 s."""
    with Settings(retention_interval="1"):
        wait_for("the retention worker's session", retention_worker_pid, 5)
        old = retention_worker_pid()
        started = psql("SELECT pg_postmaster_start_time()")
        log = Log()
        os.kill(old, signal.SIGTERM)
        log.wait_for(r'FATAL:  terminating background worker "nilus retention" due to administrator command')
        wait_for("a new retention worker", lambda: retention_worker_pid() not in (None, old), 20)
        check(psql("SELECT pg_postmaster_start_time()") == started, "the postmaster restarted")
        check(not re.search(r"terminating any other active server processes", log.text()),
              "PostgreSQL went through crash recovery")


@test
def retention_worker_logs_a_database_without_the_extension_once():
    """It moves to the new nilus.http_database (restarting itself) and says once why
    it cannot work there."""
    log = Log()
    with Settings(retention_interval="1", http_database="postgres"):
        log.wait_for(r"nilus retention: nilus.http_database is now \"postgres\"")
        found = log.wait_for(r"LOG:  nilus retention: extension nilus is not installed in database \"postgres\"",
                             timeout=20)
        time.sleep(3)
        check(len(re.findall(r"nilus retention: extension nilus is not installed", log.text())) == 1,
              "logged more than once")
        check(found and psql("SELECT 1") == "1", "PostgreSQL serves on")


def kill_child_and_time_return(expected_delay):
    """kill -9 of the API; seconds until it answers again."""
    before = status()
    log = Log()
    os.kill(before["pid"], signal.SIGKILL)
    elapsed = wait_api_up(timeout=expected_delay + 10)
    log.wait_for(rf"starting nilus-manager again in {expected_delay} s")
    after = status()
    check(after["pid"] != before["pid"] and after["running"], f"a new process: {before} -> {after}")
    check(after["restarts"] == before["restarts"] + 1, f"restarts counted: {before} -> {after}")
    check(after["last_exit"] == "signal 9 (Killed)", f"last_exit: {after}")
    return elapsed


class Load:
    """with Load() as load: GETs one after another in a thread, each answer timed."""

    def __enter__(self):
        self.answers = []    # (monotonic time, status or None)
        self.running = True
        self.thread = threading.Thread(target=self.run)
        self.thread.start()
        return self

    def run(self):
        while self.running:
            self.answers.append((time.monotonic(), answers(API_PORT)))
            time.sleep(0.01)

    def __exit__(self, kind, value, tb):
        self.running = False
        self.thread.join()


@test
def kill_9_is_restarted_within_5_s_without_crash_recovery():
    """Under load: once back, every request is served again."""
    session = Session()
    try:
        backend = session.query("SELECT pg_backend_pid()")
        started = psql("SELECT pg_postmaster_start_time()")
        log = Log()
        with Load() as load:
            elapsed = kill_child_and_time_return(1)
            back = time.monotonic()
            time.sleep(1)
        check(elapsed < 5, f"back after {elapsed:.1f} s")
        after = [status for at, status in load.answers if at > back]
        check(after and set(after) == {200}, f"answers once back: {sorted(set(after), key=str)}")
        check(len(load.answers) > len(after) + 10, "no load before the kill")
        check(session.query("SELECT pg_backend_pid()") == backend, "the other session lost its connection")
        check(psql("SELECT pg_postmaster_start_time()") == started, "the postmaster restarted")
        check(not re.search(r"terminating any other active server processes|all server processes terminated",
                            log.text()), "PostgreSQL went through crash recovery")
        check(len(api_processes()) == 1, f"one nilus-manager expected: {api_processes()}")
    finally:
        session.close()


@test
def repeated_crashes_back_off():
    """A child killed soon after its start waits longer each time: 1 s, 2 s, 4 s."""
    first = kill_child_and_time_return(2)
    second = kill_child_and_time_return(4)
    check(1.8 <= first < second, f"restart delays {first:.1f} s then {second:.1f} s")


@test
def reload_moves_the_api_and_empty_stops_it():
    other = free_port()
    OUR_PORTS.add(other)
    with Settings(http_listen=f"127.0.0.1:{other}"):
        wait_api_up(other, timeout=5)
        check(answers(API_PORT) is None, f"the old port {API_PORT} still answers")
        check(status()["listen"] == f"127.0.0.1:{other}", f"status after the move: {status()}")
        old = status()["pid"]
        set_settings(http_listen="")
        wait_for("the API gone after http_listen = ''", lambda: answers(other) is None, 5)
        wait_for("no nilus-manager process left", lambda: not api_processes(), 5)
        s = status()
        check(not s["running"] and s["pid"] is None and s["listen"] is None, f"status when off: {s}")
        check(process(old) is None, "the old process is still there")
        check(process(supervisor_pid()), "the supervisor must stay to start the API again")


def access_line(log, request_id):
    """The text after `nilus-manager: ` of the access line of request_id in the log."""
    return log.wait_for(rf"LOG:  nilus-manager: ([^\n]*{re.escape(request_id)}[^\n]*)").group(1)


def logged_request():
    """A GET of /info with an id of its own: (the id, its access line in PostgreSQL's log)."""
    log = Log()
    request_id = uuid.uuid4().hex
    status_code, _ = request("GET", API_ROOT + "/info", API_PORT, TOKEN, headers={"X-Request-Id": request_id})
    check(status_code == 200, f"GET /info: {status_code}")
    return request_id, access_line(log, request_id)


@test
def http_log_format_json_writes_each_access_line_as_a_json_object():
    """nilus.http_log_format = json restarts the API with --log-format json; reset, text again."""
    text_pid = status()["pid"]
    with Settings(http_log_format="json"):
        wait_for("the API restarted with the new format", lambda: status()["pid"] not in (None, text_pid), 10)
        wait_api_up()
        json_pid = status()["pid"]
        request_id, line = logged_request()
        try:
            entry = json.loads(line)
        except ValueError:
            raise Failure(f"an access line with nilus.http_log_format = json is not JSON: {line!r}")
        check(entry["request_id"] == request_id and entry["method"] == "GET" and
              entry["path"] == API_ROOT + "/info" and entry["status"] == 200 and entry["aborted"] is False,
              f"the JSON access line: {entry}")
    wait_for("the API restarted with the default format", lambda: status()["pid"] not in (None, json_pid), 10)
    wait_api_up()
    request_id, line = logged_request()
    check(re.fullmatch(rf"\S+ GET {re.escape(API_ROOT)}/info 200 \S+ \S+ id={request_id} client=127\.0\.0\.1", line),
          f"the access line after RESET nilus.http_log_format: {line!r}")
    refused = psql("ALTER SYSTEM SET nilus.http_log_format = 'xml'", check_ok=False)
    check("invalid value for parameter" in refused and "text, json" in refused,
          f"nilus.http_log_format = 'xml': {refused}")


@test
def default_dsn_reaches_this_server_over_its_socket():
    """Without nilus.http_dsn: this server's socket and port, nilus.http_database,
    the operating-system user's role (peer)."""
    def over_the_socket():
        return psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'nilus-manager' "
                    f"AND client_addr IS NULL AND datname = '{DB}' AND usename = 'postgres'") != "0"
    with Settings(http_dsn=""):
        # The process started with the suite's TCP DSN may still answer /readiness
        # until the supervisor has replaced it: wait for the new one's connection.
        wait_for("a socket connection of nilus-manager to nilus.http_database as postgres",
                 over_the_socket, 10)
        wait_for("readiness with the default DSN", lambda: readiness() == 200, 10)


@test
def bad_listen_address_is_logged_and_retried_with_back_off():
    log = Log()
    with Settings(http_listen="nowhere"):
        log.wait_for(r"invalid --listen \"nowhere\"")
        log.wait_for(r"starting nilus-manager again in 1 s")
        log.wait_for(r"starting nilus-manager again in 2 s", timeout=5)
        s = status()
        check(s["restarts"] >= 1 and s["last_exit"] == "exit status 2", f"status: {s}")
        check(psql("SELECT 1") == "1", "PostgreSQL serves on")


@test
def port_in_use_is_logged_and_retried_until_free():
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    OUR_PORTS.add(port)
    log = Log()
    with taken, Settings(http_listen=f"127.0.0.1:{port}"):
        log.wait_for(rf"nilus-manager: cannot listen on 127\.0\.0\.1:{port}")
        log.wait_for(r"starting nilus-manager again in 2 s", timeout=5)
        taken.close()
        wait_api_up(port, timeout=10)


@test
def database_without_extension_and_failed_login_are_logged():
    for settings, reason in (({"http_database": "postgres"}, r"extension nilus is not installed"),
                             ({"http_dsn": "host=127.0.0.1 user=nilus_manager password=wrong"},
                              r"password authentication failed")):
        log = Log()
        with Settings(**settings):
            log.wait_for(r"nilus-manager: database not ready[^\n]*" + reason)
            check(readiness() == 503, f"readiness with {settings}: {readiness()}")


@test
def missing_program_is_logged_and_retried():
    log = Log()
    with Settings(http_program="/nonexistent/nilus-manager"):
        log.wait_for(r"cannot run \"/nonexistent/nilus-manager\" \(nilus.http_program\): No such file")
        log.wait_for(r"starting nilus-manager again in 2 s", timeout=5)
        check(not api_processes(), "a process runs without a program")


@test
def postgresql_starts_despite_a_bad_setting():
    with Settings(http_listen="127.0.0.1:99999"):
        log = Log()
        # stop, then start: pg_ctlcluster restart may take the cluster for stopped and only start it
        finish(pg_ctlcluster("stop", "-m", "fast"), "stop")
        finish(pg_ctlcluster("start"), "start with a bad nilus.http_listen")
        check(psql("SELECT 1") == "1", "PostgreSQL serves")
        log.wait_for(r"invalid --listen \"127\.0\.0\.1:99999\"")


def request_in_flight(stop_mode):
    """A POST whose body is half sent when PostgreSQL is told to stop; its answer,
    whether it committed, and the stop's process."""
    pipeline = f"{stop_mode}-stop"
    path = f"{API_ROOT}/tenants/acme/pipeline/{pipeline}/state"
    # Each loop has a pool of its own (nilus.http_loops 2), opened when a request needs it,
    # and a smart stop refuses new sessions: 16 connections, which the kernel spreads over
    # the loops, open every loop's (all on one loop but once in 30000 runs).
    for _ in range(16):
        check(request("POST", path, API_PORT, TOKEN, json.dumps({"state": "warm"}))[0] == 201,
              "a POST before the stop")
    body = json.dumps({"state": {"note": "sent around a stop", "pad": "p" * 2000}}).encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    children = api_processes()
    supervisor = supervisor_pid()
    with socket.create_connection(("127.0.0.1", API_PORT), timeout=30) as s:
        s.sendall(head.encode() + body[:1000])
        time.sleep(0.3)
        stop = pg_ctlcluster("stop", "-m", stop_mode)
        time.sleep(2.0)   # the supervisor reads the shutdown state once a second
        s.sendall(body[1000:])
        reply = b""
        while chunk := s.recv(65536):    # Connection: close
            reply += chunk
    finish(stop, f"pg_ctlcluster stop -m {stop_mode}")
    left = [pid for pid in children + [supervisor] if process(pid)] + api_processes()
    check(not left, f"processes left after the {stop_mode} stop: {left}")
    finish(pg_ctlcluster("start"), "pg_ctlcluster start")
    wait_api_up()
    stored = psql(f"SELECT count(*) FROM nilus.pipeline_state WHERE tenant = 'acme' "
                  f"AND pipeline_name = '{pipeline}' AND state::text LIKE '%sent around a stop%'", db=DB)
    m = re.match(rb"HTTP/1\.1 (\d{3})", reply)
    return (int(m.group(1)) if m else None), stored, reply


@test
def smart_stop_finishes_the_request_in_flight_and_leaves_nothing():
    code, stored, reply = request_in_flight("smart")
    check(code == 201, f"the request in flight at a smart stop: {reply[:200]!r}")
    check(stored == "1", "the acknowledged request was not committed")


@test
def fast_stop_answers_the_request_in_flight_and_leaves_nothing():
    """A fast stop ends the database sessions at once: the request gets its
    answer, 201 only if it committed."""
    code, stored, reply = request_in_flight("fast")
    check(code in (201, 503), f"the request in flight at a fast stop: {reply[:200]!r}")
    check(stored == ("1" if code == 201 else "0"), f"answer {code}, stored {stored}")


@test
def postmaster_kill_9_leaves_no_process():
    children = api_processes()
    supervisor = supervisor_pid()
    check(children, "no API to begin with")
    os.kill(postmaster_pid(), signal.SIGKILL)
    wait_for("the supervisor and nilus-manager gone after kill -9 of the postmaster",
             lambda: not any(process(p) for p in children + [supervisor]) and not api_processes(), 10)
    deadline = time.monotonic() + 30
    while True:   # the old backends leave in their own time
        start = pg_ctlcluster("start")
        out, _ = start.communicate(timeout=60)
        if start.returncode == 0:
            break
        check(time.monotonic() < deadline, f"the cluster does not start again: {out.strip()}")
        time.sleep(1)
    wait_api_up()


@test
def no_sanitizer_report_in_the_log():
    """With NILUS_MANAGER_BIN an AddressSanitizer build, its reports land in PostgreSQL's log."""
    report = re.search(r"[^\n]*(AddressSanitizer|LeakSanitizer)[^\n]*", Log(from_start=True).text())
    check(not report, f"a sanitizer report: {report and report.group(0)}")


# ---------------------------------------------------------------- main

def main(argv):
    global API_PORT, METRICS_PORT
    if "NILUS_NATIVE_PORTS" not in os.environ:
        return start_cluster(argv)
    API_PORT, METRICS_PORT = (int(p) for p in os.environ["NILUS_NATIVE_PORTS"].split(":"))
    OUR_PORTS.add(API_PORT)
    version, name = cluster()
    Log.path = next(line.split()[6] for line in subprocess.run(
        ["pg_lsclusters", "-h"], capture_output=True, text=True).stdout.splitlines()
        if line.split()[:2] == [version, name])
    verbose, _, words = parse_argv(argv)
    selected = chosen(TESTS, words, always=[http_suite_against_the_api_postgresql_runs])
    return run_suite(selected, logs=f"{Log.path} (PostgreSQL's, kept until pg_virtualenv ends)",
                     remove_logs=False, verbose=verbose)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
