#!/usr/bin/env python3
"""Black-box HTTP tests of nilus-manager, written from the reference in doc/.

The real shim binary talks to a real PostgreSQL with the real nilus
extension; this script talks to the shim over sockets only.  psql is used to
arrange fixtures and to check what got committed, never to exercise a route.

Run inside `pg_virtualenv -t` with the extension installed (`make install`):
    python3 test/http/run.py [-v] [--existing API_PORT:METRICS_PORT] [substring ...]
It prints one line per failing test and ends with `N passed, M failed`.
--existing: test a nilus-manager that is already running (the one PostgreSQL
runs, test/native/run.py), connected to this database with this script's role
and the password in NILUS_TEST_ROLE_PASSWORD, instead of starting one.
"""

import collections
import hashlib
import html.parser
import http.client
import json
import os
import random
import re
import select
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
from suite import Failure, check, free_port, chosen, parse_argv, registry, run_suite, short, wait_until  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
BIN = os.environ.get("NILUS_MANAGER_BIN", str(REPO / "shim" / "nilus-manager"))
DOCS_DIR = Path(os.environ.get("NILUS_DOCS_DIR", REPO / "shim" / "assets"))
DB = "nilus_http"
# On a Citus cluster (test/citus/run.sh): makes the database on every node.
CITUS_CREATEDB = os.environ.get("NILUS_CITUS_CREATEDB")
ROLE = "nilus_manager"
ROLE_PASSWORD = os.environ.get("NILUS_TEST_ROLE_PASSWORD") or uuid.uuid4().hex
API = "/nilus-manager/api/v1"
TMP = Path(tempfile.mkdtemp(prefix="nilus-http-"))
UTC = timezone.utc
JSON_TYPE = "application/json; charset=utf-8"

# The names fixtures use; realistic DataOS resource ids contain colons.
R_ORDERS = "workflow:v1:orders-sync:public"
R_USERS = "workflow:v1:users-sync:public"
R_EVENTS = "workflow:v1:events-load:public"
PIPELINE_OF = {R_ORDERS: "orders-sync", R_USERS: "users-sync", R_EVENTS: "events-load"}
USERS = ["alice", "bob", "carol", None]

# Query parameters of each listing route, as doc/http-api.md lists them.
RUN_FILTERS = ["run_as_user", "is_success", "resource_id", "started_at",
               "started_at_gte", "started_at_lte", "limit", "offset"]
API_QUERY = {
    "/tenants/{}/pipelines": set(RUN_FILTERS),
    "/tenants/{}/pipelines/{}/runs": set(RUN_FILTERS) - {"resource_id"},
    "/tenants/{}/pipelines/{}/stats": {"period"},
    "/tenants/{}/stats": {"period", "limit", "offset"},
    "/tenants/{}/pipelines/{}/series": {"period", "bucket"},
    "/tenants/{}/cdc/offset-storage": {"resource_id", "connector_name", "offset_key",
                                       "record_insert_ts_gte", "record_insert_ts_lte",
                                       "limit", "offset"},
    "/tenants/{}/cdc/schema-history": {"resource_id", "connector_name",
                                       "record_insert_ts_gte", "record_insert_ts_lte",
                                       "limit", "offset"},
}
# Every route of doc/http-api.md: normalized path template -> methods.
API_ROUTES = {
    "/health": {"GET"},
    "/info": {"GET"},
    "/tenants/{}/pipelines": {"GET"},
    "/tenants/{}/pipelines/{}/runs": {"GET"},
    "/tenants/{}/pipelines/{}/stats": {"GET"},
    "/tenants/{}/stats": {"GET"},
    "/tenants/{}/pipelines/{}/series": {"GET"},
    "/tenants/{}/cdc/offset-storage": {"GET"},
    "/tenants/{}/cdc/schema-history": {"GET"},
    "/tenants/{}/pipeline/runs": {"POST"},
    "/tenants/{}/pipeline/{}/state": {"GET", "POST"},
    "/tenants/{}/pipeline/{}/offsets": {"GET", "POST"},
    "/tenants/{}/pipeline/{}/schema-history": {"GET", "POST"},
    "/tenants/{}/pipeline/{}/schema-history/exists": {"GET"},
    "/tenants/{}/storage/health": {"GET"},
}
# Routes the `read` right covers; every other API route needs `runtime`.
READ_ROUTES = {"/health", "/info", "/tenants/{}/pipelines", "/tenants/{}/pipelines/{}/runs",
               "/tenants/{}/pipelines/{}/stats", "/tenants/{}/stats", "/tenants/{}/pipelines/{}/series",
               "/tenants/{}/cdc/offset-storage",
               "/tenants/{}/cdc/schema-history"}
DATA_TABLES = ["pipeline_run", "run_rollup_resource", "run_rollup_tenant", "run_rollup_user",
               "run_rollup_resource_second", "run_rollup_resource_minute", "run_rollup_tenant_minute",
               "run_rollup_user_minute", "run_rollup_resource_user_minute", "run_rollup_resource_user",
               "run_rollup_resource_user_day", "pipeline_state", "pipeline_state_head", "cdc_offset", "cdc_offset_latest",
               "cdc_schema_history", "api_token"]

LOOPS = 2       # the suite's shim runs this many event loops (--loops)
T = {}          # token label -> plaintext
FIX = {}        # values the fixtures chose (timestamps, ids)
SHIM = None     # the shim every test talks to
VERBOSE = False


def eq(actual, expected, what):
    if actual == expected:
        return
    if isinstance(actual, list) and isinstance(expected, list):
        at = next((i for i, (a, b) in enumerate(zip(actual, expected)) if a != b),
                  min(len(actual), len(expected)))
        raise Failure(f"{what}: {len(actual)} items, expected {len(expected)}; first difference at "
                      f"[{at}]: expected {short(expected[at:at + 2])}, got {short(actual[at:at + 2])}")
    raise Failure(f"{what}: expected {short(expected)}, got {short(actual)}")


# ---------------------------------------------------------------- database

def psql(sql, db=DB, script=None):
    """Runs SQL as the superuser; returns unaligned tuples-only output."""
    args = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", db]
    args += ["-f", "-"] if script is not None else ["-c", sql]
    done = subprocess.run(args, input=script, capture_output=True, text=True)
    if done.returncode != 0:
        raise Failure(f"psql failed: {short(done.stderr.strip())}")
    return done.stdout.rstrip("\n")


def db_json(sql):
    """The rows of a query as a list of dicts."""
    out = psql(f"SELECT coalesce(json_agg(q), '[]') FROM ({sql}) q")
    return json.loads(out)


def db_scalar(sql):
    return psql(sql)


def db_int(sql):
    return int(psql(sql))


def lit(text):
    return "'" + text.replace("'", "''") + "'"


def fingerprint():
    """A digest of every row nilus keeps: equal before and after = nothing changed."""
    parts = [f"(SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "
             f"FROM nilus.{table} t)" for table in DATA_TABLES]
    return psql("SELECT " + " || ".join(parts))


class Unchanged:
    """with Unchanged(): ... fails when the block changed any stored row."""

    def __enter__(self):
        self.before = fingerprint()

    def __exit__(self, kind, value, tb):
        if kind is None:
            check(fingerprint() == self.before, "a refused request changed stored data")


# ---------------------------------------------------------------- time

RFC3339_UTC = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d{1,6})?Z$")


def micros(text):
    """Epoch microseconds of an RFC 3339 UTC timestamp as the API renders them."""
    check(isinstance(text, str), f"timestamp expected, got {short(text)}")
    m = RFC3339_UTC.match(text)
    check(m is not None, f"not an RFC 3339 UTC timestamp: {text!r}")
    check(m.group(2) is None or int(m.group(2)[1:]) != 0,
          f"zero fractional seconds must be left out: {text!r}")
    base = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    frac = int((m.group(2) or ".0")[1:].ljust(6, "0"))
    return int(base.timestamp()) * 1_000_000 + frac


def dt_micros(dt):
    return int(dt.replace(microsecond=0).timestamp()) * 1_000_000 + dt.microsecond


def iso(dt):
    text = dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if dt.microsecond:
        text += f".{dt.microsecond:06d}"
    return text + "Z"


# ---------------------------------------------------------------- shim

def dsn(password=True):
    host = os.environ.get("PGHOST", "localhost")
    port = os.environ.get("PGPORT", "5432")
    return f"host={host} port={port} dbname={DB} user={ROLE}" + (f" password={ROLE_PASSWORD}" if password else "")


def secret_file(name, text):
    path = TMP / name
    path.touch(mode=0o600)
    path.write_text(text)
    return path


class Shim:
    """dsn: how the shim gets its password: "file" (--dsn-file, NILUS_DSN_FILE), "passfile"
    (a DSN without it, PGPASSFILE), "plain" (in the DSN itself: --dsn, NILUS_DSN)."""

    def __init__(self, name, extra=(), via_env=False, env=None, dsn="file"):
        self.name = name
        self.dsn = dsn
        self.env = dict(env or {})
        self.port = free_port()
        self.metrics_port = free_port()
        self.extra = list(extra)
        self.via_env = via_env
        self.proc = None
        self.log_path = TMP / f"{name}.log"

    def command(self):
        if self.dsn == "file":
            settings = [("--dsn-file", "NILUS_DSN_FILE", str(secret_file("dsn", dsn())))]
        else:
            settings = [("--dsn", "NILUS_DSN", dsn(password=self.dsn == "plain"))]
        settings += [("--listen", "NILUS_LISTEN", f"127.0.0.1:{self.port}"),
                     ("--metrics-listen", "NILUS_METRICS_LISTEN", f"127.0.0.1:{self.metrics_port}"),
                     ("--docs-dir", "NILUS_DOCS_DIR", str(DOCS_DIR))]
        env = dict(os.environ, **self.env)
        if self.dsn == "passfile":
            port = os.environ.get("PGPORT", "5432")
            env["PGPASSFILE"] = str(secret_file("pgpass", f"*:{port}:{DB}:{ROLE}:{ROLE_PASSWORD}\n"))
            env.pop("PGPASSWORD", None)  # libpq would take it before the file
        argv = [BIN]
        for flag, variable, value in settings:
            if self.via_env:
                env[variable] = value
            else:
                argv += [flag, value]
        return argv + self.extra, env

    def start(self):
        argv, env = self.command()
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=self.log, env=env)
        self.wait_ready()

    def check_running(self):
        check(self.alive(), f"{self.name} exited ({self.proc.returncode}): {self.log_tail()}")

    def wait_ready(self, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_running()
            try:
                if request("GET", "/readiness", port=self.metrics_port, timeout=2).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise Failure(f"{self.name} not ready within {timeout}s: {self.log_tail()}")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """SIGTERM; returns the exit status."""
        if not self.alive():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return "still running 15 s after SIGTERM"

    def log_tail(self, lines=5):
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(text[-lines:])


class RunningShim(Shim):
    """A nilus-manager this script did not start: the tests use its ports only."""

    def __init__(self, ports):
        super().__init__("existing")
        self.port, self.metrics_port = (int(p) for p in ports.split(":"))

    def start(self):
        self.wait_ready()

    def check_running(self):
        check(self.alive(), f"nothing answers on the metrics port {self.metrics_port}")

    def alive(self):
        try:
            return request("GET", "/health", port=self.metrics_port, timeout=5).status == 200
        except OSError:
            return False

    def stop(self):
        return None


# ---------------------------------------------------------------- HTTP

class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body
        self._json = None

    def header(self, name):
        return self.headers.get(name.lower())

    @property
    def json(self):
        if self._json is None:
            try:
                self._json = json.loads(self.body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                raise Failure(f"response is not JSON ({self.status}): {short(self.body)}")
        return self._json

    def __repr__(self):
        return f"{self.status} {short(self.body.decode('utf-8', 'replace'), 200)}"


def request(method, path, token=None, body=None, headers=None, port=None, timeout=60,
            conn=None):
    hdrs = dict(headers or {})
    if token is not None:
        hdrs["Authorization"] = f"Bearer {token}"
    if body is not None:
        hdrs.setdefault("Content-Type", "application/json")
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode("utf-8")
    own = conn is None
    if own:
        conn = http.client.HTTPConnection("127.0.0.1", port or SHIM.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        data = r.read()
        return Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
    finally:
        if own:
            conn.close()


def url(path, params=None):
    if not params:
        return API + path
    return API + path + "?" + urllib.parse.urlencode(params, quote_via=urllib.parse.quote)


def get(path, params=None, token="acme_all", **kw):
    return request("GET", url(path, params), token=T.get(token, token), **kw)


def post(path, body, token="acme_all", **kw):
    return request("POST", url(path), token=T.get(token, token), body=body, **kw)


def seg(text):
    return urllib.parse.quote(text, safe="")


def ok_json(r, status=200):
    check(r.status == status, f"expected {status}, got {r!r}")
    ctype = r.header("content-type") or ""
    eq(ctype.replace(" ", "").lower(), JSON_TYPE.replace(" ", ""), "Content-Type")
    return r.json


class Concurrently:
    """Runs each call in a thread of its own; results holds, in order, what each returned
    (or the OSError it raised), None while it runs.  together: released at once."""

    def __init__(self, calls, together=True):
        self.results = [None] * len(calls)
        barrier = threading.Barrier(len(calls)) if together else None

        def run(i):
            if barrier:
                barrier.wait()
            try:
                self.results[i] = calls[i]()
            except OSError as e:
                self.results[i] = e

        self.threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]

    def start(self, spacing=0):
        """spacing: seconds between starts, so that the calls arrive in order."""
        for t in self.threads:
            t.start()
            time.sleep(spacing)
        return self

    def join(self, timeout=None):
        for t in self.threads:
            t.join(timeout)
        return self.results


def at_once(calls):
    return Concurrently(calls).start().join()


def expect_own_answers(expected, results, read_body):
    """expected: (label, status) per request, in the order of results; a 200 must carry
    read_body, an error its own status."""
    for (label, status), r in zip(expected, results):
        check(isinstance(r, Resp) and r.status == status, f"{label}: expected {status}, got {r!r}")
        if status == 200:
            eq(r.json, read_body, f"{label}: the read's own body, beside failing requests")
        elif status >= 400:
            eq(r.json["error"]["status"], status, f"{label}: error body")


def expect_error(r, status, code, parameter=None, mentions=(), what=None):
    """The error format of doc/errors.md: {"error": {status, code, message[, parameter]}};
    what: the request, named when the status differs."""
    check(r.status == status, f"{what + ': ' if what else ''}expected {status} {code}, got {r!r}")
    ctype = (r.header("content-type") or "").lower()
    check(ctype.startswith("application/json"), f"error Content-Type {ctype!r}, want JSON")
    body = r.json
    check(isinstance(body, dict) and set(body) == {"error"}, f"error body shape: {short(body)}")
    err = body["error"]
    check(isinstance(err, dict), f"error is not an object: {short(err)}")
    eq(err.get("status"), status, "error.status")
    eq(err.get("code"), code, "error.code")
    check(isinstance(err.get("message"), str) and err["message"].strip(),
          f"error.message missing: {short(err)}")
    extra = set(err) - {"status", "code", "message", "parameter"}
    check(not extra, f"unexpected error fields {sorted(extra)}")
    if parameter is not None:
        got = err.get("parameter")
        if callable(parameter):
            check(parameter(got), f"error.parameter {got!r} does not name the field")
        else:
            eq(got, parameter, "error.parameter")
    for word in mentions:
        check(word in err["message"], f"error.message {err['message']!r} does not mention {word!r}")
    return err


def raw(data, port=None, timeout=10.0, body=b""):
    """Sends bytes as they are; returns (status or None, response bytes).

    The head goes first; a body is only sent when no early answer came, since
    a server that refuses a body may close before reading it (and a reset
    would lose its answer)."""
    with socket.create_connection(("127.0.0.1", port or SHIM.port), timeout=timeout) as s:
        try:
            s.sendall(data)
            if body and not select.select([s], [], [], 0.5)[0]:
                for i in range(0, len(body), 65536):
                    s.sendall(body[i:i + 65536])
        except (BrokenPipeError, ConnectionResetError):
            pass
        chunks = []
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                if response_complete(b"".join(chunks)):
                    break
        except (ConnectionResetError, socket.timeout):
            pass
    reply = b"".join(chunks)
    m = re.match(rb"HTTP/1\.[01] (\d{3})", reply)
    return (int(m.group(1)) if m else None), reply


def response_complete(reply):
    head, sep, rest = reply.partition(b"\r\n\r\n")
    if not sep:
        return False
    m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
    return m is not None and len(rest) >= int(m.group(1))


def read_response(sock):
    """The bytes of one response on sock (less when the server closes first)."""
    reply = b""
    while not response_complete(reply):
        chunk = sock.recv(65536)
        if not chunk:
            break
        reply += chunk
    return reply


def shim_still_serves():
    check(SHIM.alive(), f"the shim died: {SHIM.log_tail()}")
    ok_json(get("/info"))


# ---------------------------------------------------------------- fixtures

def setup_database():
    psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)", db="postgres")
    if CITUS_CREATEDB:
        subprocess.run([CITUS_CREATEDB, DB], check=True)
    else:
        psql(f"CREATE DATABASE {DB}", db="postgres")
    psql("CREATE EXTENSION nilus")
    psql(f"""DO $$ BEGIN
               IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {lit(ROLE)}) THEN
                 ALTER ROLE {ROLE} LOGIN NOSUPERUSER PASSWORD {lit(ROLE_PASSWORD)};
               ELSE
                 CREATE ROLE {ROLE} LOGIN NOSUPERUSER PASSWORD {lit(ROLE_PASSWORD)};
               END IF;
             END $$""")
    psql(f"GRANT nilus_api TO {ROLE}")
    if CITUS_CREATEDB:
        # As the README's "Scaling out" says: calls run on the workers as the
        # shim's role, the token having been checked on the coordinator.
        psql("SELECT nilus.distribute()")
        psql(f"INSERT INTO nilus.tenant_role VALUES ('*', {lit(ROLE)})")


def make_tokens():
    specs = {
        "acme_all": ("'acme'", "ARRAY['read','runtime']", "NULL"),
        "acme_read": ("'acme'", "ARRAY['read']", "NULL"),
        "acme_runtime": ("'acme'", "ARRAY['runtime']", "NULL"),
        "globex_all": ("'globex'", "ARRAY['read','runtime']", "NULL"),
        "initech_all": ("'initech'", "ARRAY['read','runtime']", "NULL"),
        "admin": ("NULL", "ARRAY['read','runtime']", "NULL"),
        "revoked": ("'acme'", "ARRAY['read','runtime']", "NULL"),
        "expired": ("'acme'", "ARRAY['read','runtime']", "now() - interval '1 minute'"),
    }
    for label, (tenant, rights, expires) in specs.items():
        T[label] = psql(f"SELECT nilus.create_token({tenant}, {rights}, {lit(label)}, {expires})")
        check(re.fullmatch(r"nilus_[0-9a-f]{64}", T[label]), f"token format: {T[label]!r}")
    psql("SELECT nilus.revoke_token('revoked')")


def run_posts(tenant, run, rnd):
    """The runtime's two posts of a run: at its start, and at its end."""
    start = {k: run[k] for k in ("run_id", "resource_id", "pipeline_name", "started_at")}
    if run.get("run_as_user"):
        start["run_as_user"] = run["run_as_user"]
    posts = [start]
    if run.get("is_success") is not None:
        end = dict(start, finished_at=run["finished_at"], is_success=run["is_success"],
                   records={"extracted": run["n"], "normalized": run["n"],
                            "loaded": run["n"] if run["is_success"] else run["n"] // 2})
        if rnd.random() < 0.5:
            end["duration_sec"] = run["duration"]
        if not run["is_success"]:
            end["error"] = rnd.choice(["connection reset by peer",
                                       "column \"amount\" does not exist",
                                       "quota exceeded on sink"])
        posts.append(end)
    return [f"SELECT nilus.store_run({lit(tenant)}, $j${json.dumps(p)}$j$::jsonb);" for p in posts]


def make_run(rnd, started, resource=None, user="random", outcome=None):
    resource = resource or rnd.choice(list(PIPELINE_OF))
    if outcome is None:
        x = rnd.random()
        outcome = "running" if x < 0.08 else "failed" if x < 0.3 else "ok"
    duration = round(rnd.uniform(2, 900), 3)
    run = {"run_id": str(uuid.UUID(int=rnd.getrandbits(128), version=4)),
           "resource_id": resource, "pipeline_name": PIPELINE_OF[resource],
           "started_at": iso(started), "n": rnd.randrange(0, 100000),
           "run_as_user": rnd.choice(USERS) if user == "random" else user,
           "is_success": None if outcome == "running" else outcome == "ok",
           "duration": duration}
    run["finished_at"] = iso(started + timedelta(seconds=duration))
    return run


def load_run_fixtures():
    rnd = random.Random(20261128)
    now = datetime.now(UTC).replace(microsecond=0)
    day0 = (now - timedelta(days=3)).replace(hour=0, minute=0, second=0)
    exact = day0 + timedelta(hours=12, microseconds=123456)
    FIX.update(now=now, day0=day0, exact=exact)
    runs = [make_run(rnd, now - timedelta(seconds=rnd.randrange(1, 12 * 86400)))
            for _ in range(230)]
    # Edges of the day day0: its first microsecond and last are in, the
    # microseconds around it are out.
    edges = {"day_first": day0, "day_last": day0 + timedelta(days=1, microseconds=-1),
             "before_day": day0 - timedelta(microseconds=1), "next_day": day0 + timedelta(days=1)}
    for name, started in edges.items():
        runs.append(make_run(rnd, started, resource=R_ORDERS, user="alice", outcome="ok"))
        FIX[name] = runs[-1]["run_id"]
    # Three runs share a start: the tie is broken by run_id.
    FIX["exact_ids"] = []
    for _ in range(3):
        runs.append(make_run(rnd, exact, resource=R_EVENTS, user="bob", outcome="failed"))
        FIX["exact_ids"].append(runs[-1]["run_id"])
    statements = [s for run in runs for s in run_posts("acme", run, rnd)]
    other = [make_run(rnd, now - timedelta(seconds=rnd.randrange(1, 5 * 86400)))
             for _ in range(30)]
    statements += [s for run in other for s in run_posts("globex", run, rnd)]
    psql(None, script="\n".join(statements))


def store_sql(function, tenant, pipeline, body):
    return f"SELECT nilus.{function}({lit(tenant)}, {lit(pipeline)}, $j${json.dumps(body)}$j$::jsonb);"


def load_cdc_fixtures():
    """initech's CDC history, written one batch per transaction."""
    pipes = [("pg-orders-cdc", "service:v1:pg-orders-cdc:public", "pg-orders-connector"),
             ("mysql-users-cdc", "service:v1:mysql-users-cdc:public", "mysql-users-connector")]
    FIX["cdc_pipes"] = pipes
    statements = []
    lsn = 1000
    for batch in range(14):
        name, resource, connector = pipes[batch % 2]
        offsets = []
        for key in range(1 + batch % 3):
            lsn += 17
            offsets.append({"offset_key": json.dumps({"server": name, "partition": key}),
                            "offset_val": json.dumps({"lsn": lsn, "txId": batch, "ts_usec": lsn * 7})})
        statements.append(store_sql("store_offsets", "initech", name,
                                    {"resource_id": resource, "connector_name": connector,
                                     "offsets": offsets}))
        if batch % 3 == 0:
            records = [{"history_data": json.dumps({"source": {"server": name}, "position": {"lsn": lsn},
                                                    "ddl": f"CREATE TABLE t{batch}_{i} (id int)"})}
                       for i in range(2)]
            statements.append(store_sql("store_schema_history", "initech", name,
                                        {"resource_id": resource, "connector_name": connector,
                                         "records": records}))
    psql(None, script="\n".join(statements))


# ---------------------------------------------------------------- tests

TESTS, test = registry()


RUN_COLUMNS = ("run_id, resource_id, pipeline_name, run_as_user, "
               "(extract(epoch FROM started_at) * 1000000)::bigint AS started_at, "
               "(extract(epoch FROM finished_at) * 1000000)::bigint AS finished_at, "
               "is_success, duration_sec, error, records, metadata")


def check_run_item(item, row, what):
    eq(set(item), {"run_id", "resource_id", "pipeline_name", "run_as_user", "started_at",
                   "finished_at", "is_success", "duration_sec", "error", "records", "metadata"},
       f"{what}: run fields")
    for key in ("run_id", "resource_id", "pipeline_name", "run_as_user", "is_success",
                "error", "records", "metadata"):
        eq(item[key], row[key], f"{what}: {key}")
    eq(micros(item["started_at"]), row["started_at"], f"{what}: started_at")
    eq(None if item["finished_at"] is None else micros(item["finished_at"]),
       row["finished_at"], f"{what}: finished_at")
    if row["duration_sec"] is None:
        eq(item["duration_sec"], None, f"{what}: duration_sec")
    else:
        check(isinstance(item["duration_sec"], (int, float))
              and abs(item["duration_sec"] - row["duration_sec"]) < 1e-6,
              f"{what}: duration_sec {item['duration_sec']!r} != {row['duration_sec']!r}")


def run_where(tenant, clause):
    return f"tenant = {lit(tenant)} AND ({clause})"


def check_run_listing(path, params, clause, key, tenant="acme", token="acme_all",
                      full=False):
    body = ok_json(get(path, params, token=token))
    limit = int(params.get("limit", 50))
    offset = int(params.get("offset", 0))
    eq(set(body), {key, "limit", "offset", "total"}, f"{path} {params}: listing keys")
    eq(body["limit"], limit, f"{params}: limit")
    eq(body["offset"], offset, f"{params}: offset")
    where = run_where(tenant, clause)
    eq(body["total"], db_int(f"SELECT count(*) FROM nilus.pipeline_run WHERE {where}"),
       f"{params}: total vs count(*)")
    cols = RUN_COLUMNS if full else "run_id"
    rows = db_json(f"SELECT {cols} FROM nilus.pipeline_run WHERE {where} "
                   f"ORDER BY started_at DESC, run_id DESC LIMIT {limit} OFFSET {offset}")
    eq([i["run_id"] for i in body[key]], [r["run_id"] for r in rows], f"{params}: page run_ids")
    if full:
        for item, row in zip(body[key], rows):
            check_run_item(item, row, f"run {row['run_id']}")
    return body


def filter_cases():
    day0, exact = FIX["day0"], FIX["exact"]
    lo, hi = day0, day0 + timedelta(days=1)
    ts = lambda dt: lit(iso(dt))
    return [
        ({}, "true"),
        ({"run_as_user": "alice"}, "run_as_user = 'alice'"),
        ({"is_success": "true"}, "is_success"),
        ({"is_success": "false"}, "is_success = false"),
        ({"resource_id": R_USERS}, f"resource_id = {lit(R_USERS)}"),
        ({"started_at": day0.strftime("%Y-%m-%d")},
         f"started_at >= {ts(lo)} AND started_at < {ts(hi)}"),
        ({"started_at": iso(exact)}, f"started_at = {ts(exact)}"),
        ({"started_at_gte": iso(lo)}, f"started_at >= {ts(lo)}"),
        ({"started_at_lte": iso(hi)}, f"started_at <= {ts(hi)}"),
        ({"started_at_gte": iso(lo), "started_at_lte": iso(hi)},
         f"started_at BETWEEN {ts(lo)} AND {ts(hi)}"),
        ({"run_as_user": "bob", "is_success": "false", "resource_id": R_EVENTS},
         f"run_as_user = 'bob' AND is_success = false AND resource_id = {lit(R_EVENTS)}"),
        ({"is_success": "true", "started_at_gte": iso(now_minus(days=6)), "limit": "7", "offset": "3"},
         f"is_success AND started_at >= {ts(now_minus(days=6))}"),
    ]


def now_minus(**delta):
    return FIX["now"] - timedelta(**delta)


@test
def pipelines_every_filter_total_and_page():
    for params, clause in filter_cases():
        check_run_listing("/tenants/acme/pipelines", dict(params, limit=params.get("limit", "1000")),
                          clause, "pipelines")


@test
def pipelines_default_page_and_whole_items():
    body = check_run_listing("/tenants/acme/pipelines", {}, "true", "pipelines", full=True)
    eq(len(body["pipelines"]), 50, "default limit fills a page of 50")
    check_run_listing("/tenants/acme/pipelines", {"limit": "1000"}, "true", "pipelines", full=True)


@test
def pipelines_started_at_day_and_exact_edges():
    day = FIX["day0"].strftime("%Y-%m-%d")
    ids = {i["run_id"] for i in ok_json(get("/tenants/acme/pipelines",
                                             {"started_at": day, "limit": 1000}))["pipelines"]}
    check(FIX["day_first"] in ids and FIX["day_last"] in ids, "the day's first and last microsecond are in")
    check(FIX["before_day"] not in ids and FIX["next_day"] not in ids, "the neighbours of the day are out")
    body = ok_json(get("/tenants/acme/pipelines", {"started_at": iso(FIX["exact"])}))
    eq(body["total"], 3, "runs at the exact timestamp")
    eq([i["run_id"] for i in body["pipelines"]], sorted(FIX["exact_ids"], reverse=True),
       "a tie on started_at is ordered by run_id, descending")
    bounds = {"started_at_gte": iso(FIX["day0"]), "started_at_lte": iso(FIX["day0"] + timedelta(days=1))}
    ids = {i["run_id"] for i in ok_json(get("/tenants/acme/pipelines", dict(bounds, limit=1000)))["pipelines"]}
    check(FIX["day_first"] in ids and FIX["next_day"] in ids, "started_at_gte/lte bounds are inclusive")
    check(FIX["before_day"] not in ids, "started_at_gte excludes earlier runs")


@test
def pipelines_pagination_walk():
    expected = [r["run_id"] for r in db_json(
        "SELECT run_id FROM nilus.pipeline_run WHERE tenant = 'acme' ORDER BY started_at DESC, run_id DESC")]
    seen = []
    offset = 0
    while True:
        body = ok_json(get("/tenants/acme/pipelines", {"limit": 7, "offset": offset}))
        eq(body["total"], len(expected), f"total at offset {offset}")
        if not body["pipelines"]:
            break
        seen += [i["run_id"] for i in body["pipelines"]]
        offset += 7
    eq(len(seen), len(set(seen)), "no run repeats across pages")
    eq(seen, expected, "pages walk every run once, newest first")


@test
def pipelines_limit_offset_bounds():
    total = db_int("SELECT count(*) FROM nilus.pipeline_run WHERE tenant = 'acme'")
    eq(len(ok_json(get("/tenants/acme/pipelines", {"limit": 1}))["pipelines"]), 1, "limit=1")
    body = ok_json(get("/tenants/acme/pipelines", {"limit": 1000}))
    eq(len(body["pipelines"]), min(total, 1000), "limit=1000")
    body = ok_json(get("/tenants/acme/pipelines", {"offset": total}))
    eq((body["pipelines"], body["total"]), ([], total), "offset past the end: empty page, exact total")
    body = ok_json(get("/tenants/acme/pipelines", {"offset": total - 2, "limit": 5}))
    eq(len(body["pipelines"]), 2, "last partial page")
    with Unchanged():
        for value in ["0", "1001", "-1", "abc", "1.5", "99999999999", ""]:
            expect_error(get("/tenants/acme/pipelines", {"limit": value}), 400,
                         "invalid_parameter", "limit")
        for value in ["-1", "x", "99999999999"]:
            expect_error(get("/tenants/acme/pipelines", {"offset": value}), 400,
                         "invalid_parameter", "offset")


@test
def pipelines_bad_filter_values():
    bad = [("is_success", "maybe"), ("is_success", "2"), ("started_at", "2026-02-30"),
           ("started_at", "yesterday"), ("started_at", "2026-13-01"),
           ("started_at_gte", "notatime"), ("started_at_lte", "2026-13-01T00:00:00Z"),
           ("started_at_gte", "2026-01-01T25:00:00Z")]
    with Unchanged():
        for name, value in bad:
            expect_error(get("/tenants/acme/pipelines", {name: value}), 400,
                         "invalid_parameter", name)


@test
def runs_every_filter_total_and_page():
    for params, clause in filter_cases():
        if "resource_id" in params:
            continue
        for resource in (R_ORDERS, R_EVENTS):
            check_run_listing(f"/tenants/acme/pipelines/{seg(resource)}/runs",
                              dict(params, limit=params.get("limit", "1000")),
                              f"resource_id = {lit(resource)} AND {clause}", "runs")
    check_run_listing(f"/tenants/acme/pipelines/{seg(R_USERS)}/runs", {}, f"resource_id = {lit(R_USERS)}",
                      "runs", full=True)


@test
def runs_pagination_walk():
    resource = R_ORDERS
    expected = [r["run_id"] for r in db_json(
        f"SELECT run_id FROM nilus.pipeline_run WHERE tenant = 'acme' AND resource_id = {lit(resource)} "
        "ORDER BY started_at DESC, run_id DESC")]
    seen = []
    for offset in range(0, len(expected) + 5, 5):
        body = ok_json(get(f"/tenants/acme/pipelines/{seg(resource)}/runs", {"limit": 5, "offset": offset}))
        eq(body["total"], len(expected), "runs total")
        seen += [i["run_id"] for i in body["runs"]]
    eq(seen, expected, "runs pages walk every run once, newest first")


@test
def runs_refuse_resource_id_parameter_and_bad_values():
    path = f"/tenants/acme/pipelines/{seg(R_ORDERS)}/runs"
    with Unchanged():
        expect_error(get(path, {"resource_id": R_USERS}), 400, "invalid_parameter", "resource_id")
        expect_error(get(path, {"limit": "0"}), 400, "invalid_parameter", "limit")
        expect_error(get(path, {"is_success": "yes please"}), 400, "invalid_parameter", "is_success")
        expect_error(get(path, {"started_at": "2026-02-31"}), 400, "invalid_parameter", "started_at")


@test
def runs_of_unknown_resource_is_empty():
    body = ok_json(get("/tenants/acme/pipelines/workflow:v1:nothing-here:public/runs"))
    eq((body["runs"], body["total"]), ([], 0), "no runs")


@test
def runs_resource_id_is_percent_decoded():
    resource = "workflow:v1:user events/daily:public"
    run = {"run_id": str(uuid.uuid4()), "resource_id": resource, "pipeline_name": "user events",
           "started_at": iso(now_minus(hours=1))}
    ok_json(post("/tenants/acme/pipeline/runs", run))
    body = ok_json(get(f"/tenants/acme/pipelines/{seg(resource)}/runs"))
    eq([i["run_id"] for i in body["runs"]], [run["run_id"]], "run of a resource id with space and slash")


def stats_expected(resource, start_us, end_us):
    return db_json(f"""
        SELECT count(*) AS total_runs, count(*) FILTER (WHERE is_success) AS successful_runs,
               count(*) FILTER (WHERE NOT is_success) AS failed_runs,
               round(100.0 * count(*) FILTER (WHERE is_success) / nullif(count(*), 0), 2)::float8
                   AS success_rate,
               avg(duration_sec) AS avg_duration_sec, max(duration_sec) AS max_duration_sec
          FROM nilus.pipeline_run
         WHERE tenant = 'acme' AND resource_id = {lit(resource)} AND is_success IS NOT NULL
           AND started_at >= to_timestamp({start_us} / 1e6) AND started_at <= to_timestamp({end_us} / 1e6)""")[0]


def check_stats(resource, period):
    params = {} if period is None else {"period": period}
    body = ok_json(get(f"/tenants/acme/pipelines/{seg(resource)}/stats", params))
    eq(set(body), {"resource_id", "period", "period_start", "period_end", "stats"}, "stats keys")
    eq(body["resource_id"], resource, "stats resource_id")
    eq(body["period"], period or "24h", "stats period")
    start, end = micros(body["period_start"]), micros(body["period_end"])
    unit = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}[(period or "24h")[-1]]
    eq(end - start, int((period or "24h")[:-1]) * unit * 1_000_000, "period_end - period_start")
    check(abs(end / 1e6 - time.time()) < 120, f"period_end {body['period_end']} is not now")
    want = stats_expected(resource, start, end)
    got = body["stats"]
    eq(set(got), {"total_runs", "successful_runs", "failed_runs", "success_rate",
                  "avg_duration_sec", "max_duration_sec"}, "stats fields")
    for key in ("total_runs", "successful_runs", "failed_runs", "success_rate", "max_duration_sec"):
        if want[key] is None or got[key] is None:
            eq(got[key], want[key], f"{period}: {key}")
        else:
            check(abs(got[key] - want[key]) < 1e-9, f"{period}: {key} {got[key]} != {want[key]}")
    if want["avg_duration_sec"] is None:
        eq(got["avg_duration_sec"], None, f"{period}: avg_duration_sec")
    else:
        # An average shown to 2 decimals at most.
        check(got["avg_duration_sec"] is not None and abs(got["avg_duration_sec"] - want["avg_duration_sec"]) <= 0.005,
              f"{period}: avg_duration_sec {got['avg_duration_sec']} != {want['avg_duration_sec']}")
    return body


@test
def stats_match_sql_aggregate():
    for resource in (R_ORDERS, R_USERS, R_EVENTS):
        for period in (None, "90m", "6h", "24h", "3d", "7d", "2w", "30d", "366d"):
            check_stats(resource, period)
    body = check_stats(R_ORDERS, "30d")
    check(body["stats"]["total_runs"] > 20, "fixtures give 30d stats something to count")


@test
def stats_follow_corrected_runs():
    started = now_minus(minutes=30)
    run = {"run_id": str(uuid.uuid4()), "resource_id": R_EVENTS, "pipeline_name": "events-load",
           "started_at": iso(started)}
    ok_json(post("/tenants/acme/pipeline/runs", run))
    before = check_stats(R_EVENTS, "1h")["stats"]
    ok_json(post("/tenants/acme/pipeline/runs", dict(run, finished_at=iso(started + timedelta(seconds=10)),
                                                         is_success=True)))
    after = check_stats(R_EVENTS, "1h")["stats"]
    eq(after["total_runs"], before["total_runs"] + 1, "a finished run is counted once")
    ok_json(post("/tenants/acme/pipeline/runs", dict(run, finished_at=iso(started + timedelta(seconds=700)),
                                                         is_success=False, error="late failure")))
    corrected = check_stats(R_EVENTS, "1h")["stats"]
    eq((corrected["total_runs"], corrected["failed_runs"]), (after["total_runs"], after["failed_runs"] + 1),
       "a corrected outcome moves, not adds")
    moved = dict(run, started_at=iso(now_minus(days=2)), finished_at=iso(now_minus(days=2) + timedelta(seconds=5)),
                 is_success=True)
    ok_json(post("/tenants/acme/pipeline/runs", moved))
    eq(check_stats(R_EVENTS, "1h")["stats"]["total_runs"], before["total_runs"], "a run moved out of the window")
    check_stats(R_EVENTS, "3d")


@test
def stats_without_runs_are_null():
    body = check_stats("workflow:v1:never-ran:public", "7d")
    eq(body["stats"], {"total_runs": 0, "successful_runs": 0, "failed_runs": 0, "success_rate": None,
                       "avg_duration_sec": None, "max_duration_sec": None}, "empty stats")


@test
def stats_bad_period():
    """A bad period gets one wording, whether the shim's syntax check ("abc") or
    the extension's range check ("367d") refuses it, on every route that takes one."""
    messages = set()
    with Unchanged():
        for path in (f"/tenants/acme/pipelines/{seg(R_ORDERS)}/stats", "/tenants/acme/stats",
                     f"/tenants/acme/pipelines/{seg(R_ORDERS)}/series"):
            for period in ["0h", "367d", "53w", "5y", "abc", "-1d", "1.5h", "", "d", "24"]:
                r = get(path, {"period": period})
                expect_error(r, 400, "invalid_parameter", "period")
                messages.add(r.json["error"]["message"])
    eq(messages, {"period must be <n>m, <n>h, <n>d or <n>w with n >= 1, at most 366d"},
       "the messages for a bad period")


# ---- insight: the tenant's resources, a resource's runs over time

def at(body, key):
    """A timestamp of a response as SQL."""
    return f"to_timestamp({micros(body[key])} / 1e6)"


def expected_resources(tenant, body):
    """resource_stats' rows as the plain aggregate, in the listing's order."""
    return db_json(f"""
        SELECT w.resource_id, last.pipeline_name, w.total AS total_runs, w.ok AS successful_runs,
               w.failed AS failed_runs, round(100.0 * w.ok / nullif(w.total, 0), 2)::float8 AS success_rate,
               w.avg AS avg_duration_sec, w.max AS max_duration_sec,
               (extract(epoch FROM last.started_at) * 1000000)::bigint AS last_started_at,
               last.is_success AS last_is_success
          FROM (SELECT resource_id, count(*) FILTER (WHERE is_success IS NOT NULL) AS total,
                       count(*) FILTER (WHERE is_success) AS ok, count(*) FILTER (WHERE NOT is_success) AS failed,
                       avg(duration_sec) FILTER (WHERE is_success IS NOT NULL) AS avg,
                       max(duration_sec) FILTER (WHERE is_success IS NOT NULL) AS max
                  FROM nilus.pipeline_run
                 WHERE tenant = {lit(tenant)}
                   AND started_at BETWEEN {at(body, "period_start")} AND {at(body, "period_end")}
                 GROUP BY resource_id) w,
               LATERAL (SELECT pipeline_name, started_at, is_success FROM nilus.pipeline_run n
                         WHERE n.tenant = {lit(tenant)} AND n.resource_id = w.resource_id
                           AND n.started_at <= {at(body, "period_end")}
                         ORDER BY started_at DESC, run_id DESC LIMIT 1) last
         ORDER BY w.failed DESC, last.pipeline_name, w.resource_id""")


def close(got, want, what, tolerance=1e-9):
    if want is None or got is None:
        eq(got, want, what)
    else:
        check(abs(got - want) <= tolerance, f"{what}: {got} != {want}")


def check_resource_item(item, row, what):
    eq(set(item), {"resource_id", "pipeline_name", "total_runs", "successful_runs", "failed_runs",
                   "success_rate", "avg_duration_sec", "max_duration_sec", "last_started_at",
                   "last_is_success"}, f"{what}: fields")
    for key in ("resource_id", "pipeline_name", "total_runs", "successful_runs", "failed_runs", "last_is_success"):
        eq(item[key], row[key], f"{what}: {key}")
    close(item["success_rate"], row["success_rate"], f"{what}: success_rate")
    close(item["max_duration_sec"], row["max_duration_sec"], f"{what}: max_duration_sec")
    close(item["avg_duration_sec"], row["avg_duration_sec"], f"{what}: avg_duration_sec", 0.005 + 1e-9)
    eq(micros(item["last_started_at"]), row["last_started_at"], f"{what}: last_started_at")


@test
def tenant_stats_match_sql_aggregate_and_pipeline_stats():
    for period in ("1h", "24h", "3d", "30d", "366d"):
        body = ok_json(get("/tenants/acme/stats", {"period": period, "limit": 1000}))
        want = expected_resources("acme", body)
        eq(set(body), {"period", "period_start", "period_end", "resources", "limit", "offset", "total"},
           "stats listing keys")
        eq((body["period"], body["limit"], body["offset"], body["total"]), (period, 1000, 0, len(want)),
           f"{period}: period and page")
        eq([i["resource_id"] for i in body["resources"]], [r["resource_id"] for r in want],
           f"{period}: resources, most failures first, then by name")
        for item, row in zip(body["resources"], want):
            check_resource_item(item, row, f"{period} {row['resource_id']}")
            stats = ok_json(get(f"/tenants/acme/pipelines/{seg(item['resource_id'])}/stats",
                                {"period": period}))["stats"]
            eq({k: item[k] for k in stats}, stats, f"{period} {row['resource_id']}: = pipeline_stats")
        check(period in ("1h", "24h") or len(want) >= 3, f"the fixtures give {period} three resources or more")
    body = ok_json(get("/tenants/acme/stats"))
    eq((body["period"], body["limit"], body["offset"]), ("24h", 50, 0), "defaults")


@test
def tenant_stats_pages_walk_every_resource_once():
    whole = ok_json(get("/tenants/acme/stats", {"period": "366d", "limit": 1000}))
    want = [r["resource_id"] for r in whole["resources"]]
    eq(want, [r["resource_id"] for r in expected_resources("acme", whole)], "the whole listing")
    seen = []
    for offset in range(0, len(want) + 2, 2):
        body = ok_json(get("/tenants/acme/stats", {"period": "366d", "limit": 2, "offset": offset}))
        eq(body["total"], len(want), f"total at offset {offset}")
        seen += [i["resource_id"] for i in body["resources"]]
    eq(seen, want, "pages of 2")


def expected_series(tenant, resource, body, hours):
    epoch = "timestamptz '1970-01-01 00:00:00+00'"
    width = f"interval '{hours} hours'"
    lo, hi = at(body, "period_start"), at(body, "period_end")
    return db_json(f"""
        SELECT (extract(epoch FROM b) * 1000000)::bigint AS bucket_start, count(r.run_id) AS total_runs,
               count(r.run_id) FILTER (WHERE r.is_success) AS successful_runs,
               count(r.run_id) FILTER (WHERE NOT r.is_success) AS failed_runs,
               avg(r.duration_sec) AS avg_duration_sec, max(r.duration_sec) AS max_duration_sec
          FROM generate_series(date_bin({width}, {lo}, {epoch}), date_bin({width}, {hi}, {epoch}), {width}) AS b
          LEFT JOIN nilus.pipeline_run r ON r.tenant = {lit(tenant)} AND r.resource_id = {lit(resource)}
               AND r.is_success IS NOT NULL AND r.started_at BETWEEN {lo} AND {hi}
               AND date_bin({width}, r.started_at, {epoch}) = b
         GROUP BY b ORDER BY b""")


@test
def series_match_sql_aggregate():
    cases = [("24h", "1h", 1), ("7d", "1d", 24), ("7d", "1h", 1), ("30d", "1d", 24), ("90m", None, 1),
             ("2w", None, 24)]
    for resource in (R_ORDERS, R_EVENTS):
        for period, bucket, hours in cases:
            params = {"period": period} if bucket is None else {"period": period, "bucket": bucket}
            body = ok_json(get(f"/tenants/acme/pipelines/{seg(resource)}/series", params))
            eq(set(body), {"resource_id", "period", "bucket", "period_start", "period_end", "series"}, "series keys")
            eq((body["resource_id"], body["period"], body["bucket"]),
               (resource, period, "1h" if hours == 1 else "1d"), f"{period} {bucket}: header")
            want = expected_series("acme", resource, body, hours)
            eq([micros(b["bucket_start"]) for b in body["series"]], [w["bucket_start"] for w in want],
               f"{period} {bucket}: every bucket, empty ones too")
            for got, row in zip(body["series"], want):
                what = f"{period} {bucket} {got['bucket_start']}"
                for key in ("total_runs", "successful_runs", "failed_runs"):
                    eq(got[key], row[key], f"{what}: {key}")
                close(got["max_duration_sec"], row["max_duration_sec"], f"{what}: max_duration_sec")
                close(got["avg_duration_sec"], row["avg_duration_sec"], f"{what}: avg_duration_sec", 0.005 + 1e-9)
    body = ok_json(get(f"/tenants/acme/pipelines/{seg(R_ORDERS)}/series"))
    eq((body["period"], body["bucket"], len(body["series"])), ("24h", "1h", 25), "defaults: 24h in 25 hours")
    check(sum(b["total_runs"] for b in ok_json(get(f"/tenants/acme/pipelines/{seg(R_ORDERS)}/series",
                                                   {"period": "30d"}))["series"]) > 20,
          "the fixtures give the 30d series something to count")


@test
def insight_bad_parameters_and_other_tenants():
    series = f"/tenants/acme/pipelines/{seg(R_ORDERS)}/series"
    with Unchanged():
        for period in ["0h", "367d", "5y", "", "24"]:
            expect_error(get("/tenants/acme/stats", {"period": period}), 400, "invalid_parameter", "period")
            expect_error(get(series, {"period": period}), 400, "invalid_parameter", "period")
        for bucket in ["1w", "2h", "", "1H", "day"]:
            expect_error(get(series, {"bucket": bucket}), 400, "invalid_parameter", "bucket")
        for limit in ["0", "1001", "x"]:
            expect_error(get("/tenants/acme/stats", {"limit": limit}), 400, "invalid_parameter", "limit")
        expect_error(get("/tenants/acme/stats", {"offset": "-1"}), 400, "invalid_parameter", "offset")
        expect_error(get(series, {"limit": "10"}), 400, "invalid_parameter", "limit")
        expect_error(get("/tenants/globex/stats"), 403, "forbidden")
        expect_error(get(f"/tenants/globex/pipelines/{seg(R_ORDERS)}/series"), 403, "forbidden")
        expect_error(get("/tenants/acme/stats", token="acme_runtime"), 403, "forbidden")
    globex = ok_json(get("/tenants/globex/stats", {"period": "366d"}, token="globex_all"))
    eq(globex["total"], len(expected_resources("globex", globex)), "globex's own stats")
    window = ("period_start", "period_end")
    eq({k: v for k, v in ok_json(get("/tenants/globex/stats", {"period": "366d"}, token="admin")).items()
        if k not in window}, {k: v for k, v in globex.items() if k not in window}, "admin sees globex")


# ---- store_run

def db_run(tenant, run_id):
    rows = db_json(f"SELECT {RUN_COLUMNS}, xmin::text AS xmin, updated_at::text AS updated_at "
                   f"FROM nilus.pipeline_run WHERE tenant = {lit(tenant)} AND run_id = {lit(run_id)}")
    return rows[0] if rows else None


@test
def store_run_upsert_lifecycle():
    started = now_minus(minutes=30).replace(microsecond=250000)
    run = {"run_id": str(uuid.uuid4()), "resource_id": R_ORDERS, "pipeline_name": "orders-sync",
           "run_as_user": "dave", "started_at": iso(started)}
    body = ok_json(post("/tenants/acme/pipeline/runs", run))
    eq(body.get("created"), True, "first post creates")
    eq(body["run_id"], run["run_id"], "stored run_id")
    eq(micros(body["started_at"]), dt_micros(started), "stored started_at")
    eq((body["finished_at"], body["is_success"]), (None, None), "a running run")
    row = db_run("acme", run["run_id"])
    check(row is not None, "the run is committed")

    again = ok_json(post("/tenants/acme/pipeline/runs", run))
    eq(again.get("created"), False, "repeat post")
    after = db_run("acme", run["run_id"])
    eq((after["xmin"], after["updated_at"]), (row["xmin"], row["updated_at"]),
       "an identical repost writes nothing")

    finished = started + timedelta(seconds=95, microseconds=500000)
    end = dict(run, finished_at=iso(finished), is_success=True,
               records={"extracted": 10, "normalized": 9, "loaded": 9})
    body = ok_json(post("/tenants/acme/pipeline/runs", end))
    eq(body.get("created"), False, "the end post updates")
    eq(body["is_success"], True, "is_success")
    eq(micros(body["finished_at"]), dt_micros(finished), "finished_at")
    check(abs(body["duration_sec"] - 95.5) < 1e-9, f"duration from finished-started: {body['duration_sec']}")
    eq(body["records"], {"extracted": 10, "normalized": 9, "loaded": 9}, "records as given, not summed")
    row = db_run("acme", run["run_id"])
    eq((row["is_success"], row["finished_at"]), (True, dt_micros(finished)), "the update is committed")
    check(abs(row["duration_sec"] - 95.5) < 1e-9, "stored duration")
    listed = ok_json(get(f"/tenants/acme/pipelines/{seg(R_ORDERS)}/runs",
                         {"started_at": iso(started)}))["runs"]
    eq([i["run_id"] for i in listed], [run["run_id"]], "listed once after two posts")
    eq(listed[0]["records"], end["records"], "listed records")


@test
def store_run_given_duration_error_and_unknown_fields():
    started = now_minus(hours=2)
    run = {"run_id": str(uuid.uuid4()), "resource_id": R_USERS, "pipeline_name": "users-sync",
           "started_at": iso(started), "finished_at": iso(started + timedelta(seconds=100)),
           "is_success": False, "duration_sec": 42.25, "error": "sink \"warehouse\" unreachable",
           "metadata": {"team": "data-platform"}, "spark_app_id": "app-20261128-0001"}
    body = ok_json(post("/tenants/acme/pipeline/runs", run))
    eq(body.get("created"), True, "created")
    eq(body["duration_sec"], 42.25, "the runtime's duration is kept")
    eq(body["error"], run["error"], "error text")
    eq(body["metadata"], {"team": "data-platform", "spark_app_id": "app-20261128-0001"},
       "unknown fields are kept in metadata")
    row = db_run("acme", run["run_id"])
    eq(row["metadata"], body["metadata"], "stored metadata")
    eq((row["duration_sec"], row["is_success"], row["error"]), (42.25, False, run["error"]), "stored run")


@test
def store_run_timestamps_are_rendered_utc():
    run = {"run_id": str(uuid.uuid4()), "resource_id": R_EVENTS, "pipeline_name": "events-load",
           "started_at": "2026-01-15T12:15:00+02:00", "finished_at": "2026-01-15T10:16:00.5Z",
           "is_success": True}
    body = ok_json(post("/tenants/acme/pipeline/runs", run))
    eq(body["started_at"], "2026-01-15T10:15:00Z", "offset converted to UTC, no zero fraction")
    eq(micros(body["finished_at"]), micros("2026-01-15T10:16:00.5Z"), "fractional seconds kept")
    check(abs(body["duration_sec"] - 60.5) < 1e-9, "computed duration")


@test
def store_run_bad_bodies_change_nothing():
    good = {"run_id": str(uuid.uuid4()), "resource_id": R_ORDERS, "pipeline_name": "orders-sync",
            "started_at": iso(now_minus(minutes=5))}
    path = "/tenants/acme/pipeline/runs"
    with Unchanged():
        for field in ("run_id", "resource_id", "pipeline_name", "started_at"):
            body = {k: v for k, v in good.items() if k != field}
            expect_error(post(path, body), 400, "invalid_parameter", field, mentions=[field])
        err = expect_error(post(path, {"resource_id": R_ORDERS}), 400, "invalid_parameter")
        for field in ("run_id", "pipeline_name", "started_at"):
            check(field in err["message"], f"message {err['message']!r} names missing {field}")
        expect_error(post(path, dict(good, run_id="not-a-uuid")), 400, "invalid_parameter", "run_id")
        expect_error(post(path, dict(good, started_at="last tuesday")), 400, "invalid_parameter", "started_at")
        expect_error(post(path, dict(good, finished_at=iso(now_minus(hours=1)))), 400,
                     "invalid_parameter", "finished_at")
        expect_error(post(path, dict(good, is_success="yes")), 400, "invalid_parameter", "is_success")
        expect_error(post(path, dict(good, duration_sec=-3)), 400, "invalid_parameter", "duration_sec")
        expect_error(post(path, dict(good, records=[1, 2])), 400, "invalid_parameter", "records")
        expect_error(post(path, '{"run_id": "' + good["run_id"] + '", '), 400, "bad_request")
        for what, data in (("a JSON array", b"[1, 2, 3]"), ("an empty body", b""),
                           ("a body that is not UTF-8", b'{"run_id": "\xff\xfe"}')):
            r = request("POST", url(path), token=T["acme_all"], body=data,
                        headers={"Content-Type": "application/json"})
            check(r.status == 400, f"{what}: {r!r}")
            expect_error(r, 400, r.json["error"].get("code"))
            check(r.json["error"]["code"] in ("bad_request", "invalid_parameter"), f"{what}: code")
    eq(db_run("acme", good["run_id"]), None, "nothing stored")


# Bodies' timestamps are RFC 3339 and nothing else; what PostgreSQL would
# also read (words, eras, zone names, a space for the T, no offset) and
# instants outside the years 0001-9999 are a 400 naming the field.
NOT_RFC3339 = ["4714-11-24 BC", "1999-01-08 04:05:06 PST8PDT", "infinity", "-infinity", "epoch", "now",
               "today", "2026-11-28 10:15:00Z", "2026-11-28T10:15:00", "2026-11-28", "2026-11-28T10:15:00+0200",
               "2026-11-28T10:15:00 UTC", "20261128T101500Z", "12026-11-28T10:15:00Z", "2026-02-29T00:00:00Z",
               "2026-11-28T24:00:00Z", "0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01"]


@test
def store_run_timestamps_rfc3339_only():
    path = "/tenants/acme/pipeline/runs"
    good = {"run_id": str(uuid.uuid4()), "resource_id": R_ORDERS, "pipeline_name": "orders-sync",
            "started_at": "2026-01-15T10:00:00Z"}
    with Unchanged():
        for field in ("started_at", "finished_at"):
            for value in NOT_RFC3339:
                err = expect_error(post(path, dict(good, **{field: value})), 400, "invalid_parameter", field,
                                   mentions=[field])
                check(value not in ("4714-11-24 BC", "infinity") or "RFC 3339" in err["message"],
                      f"{field}={value!r}: the message says RFC 3339: {err['message']!r}")
    for given, rendered, as_filter in (
            ("2026-01-15t12:00:00.123456789+02:00", "2026-01-15T10:00:00.123457Z", True),
            ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z", True),
            ("9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999999Z", True),
            ("2026-01-15T00:30:00+23:59", "2026-01-14T00:31:00Z", True)):
        run = dict(good, run_id=str(uuid.uuid4()), started_at=given)
        eq(ok_json(post(path, run))["started_at"], rendered, f"started_at {given} rendered")
        if as_filter:
            listed = ok_json(get("/tenants/acme/pipelines", {"started_at": given}))
            check(run["run_id"] in [p["run_id"] for p in listed["pipelines"]],
                  f"started_at={given} as a listing filter finds the run")


@test
def listing_timestamps_follow_the_same_rule():
    with Unchanged():
        for value in ("2026-11-28 10:15:00", "4714-11-24 BC", "0001-01-01T00:00:00+00:01"):
            expect_error(get("/tenants/acme/pipelines", {"started_at": value}), 400, "invalid_parameter",
                         "started_at")
        for name in ("started_at_gte", "started_at_lte"):
            expect_error(get("/tenants/acme/pipelines", {name: "0001-01-01T00:00:00+00:01"}), 400,
                         "invalid_parameter", name)
            expect_error(get("/tenants/acme/pipelines", {name: "9999-12-31T23:59:59-00:01"}), 400,
                         "invalid_parameter", name)


# Borderline query timestamps and the instant each means in UTC (None: refused),
# by the extension's RFC 3339 rule (time_range.c), which reads started_at in SQL.
BORDERLINE_TIMESTAMPS = [
    ("2026-11-28t10:15:00z", "2026-11-28T10:15:00Z"),
    ("2026-11-28T10:15:00-00:00", "2026-11-28T10:15:00Z"),
    ("2026-11-28T10:15:00+14:00", "2026-11-27T20:15:00Z"),
    ("2026-11-28T10:15:00+23:59", "2026-11-27T10:16:00Z"),
    ("2026-12-31T23:59:60Z", "2027-01-01T00:00:00Z"),
    ("2026-11-28T10:15:00.1234567Z", "2026-11-28T10:15:00.123457Z"),
    ("2026-11-28T10:15:00.9999995+01:00", "2026-11-28T09:15:01Z"),
    ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z"),
    ("0001-01-01T01:00:00+01:00", "0001-01-01T00:00:00Z"),
    ("9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999999Z"),
    ("2026-11-28T10:15:00", None),
    ("2026-11-28T10:15Z", None),
    ("2026-11-28 10:15:00Z", None),
    ("2026-11-28T24:00:00Z", None),
    ("2026-11-28T23:60:00Z", None),
    ("2026-11-28T10:15:61Z", None),
    ("2026-11-28T10:15:00.Z", None),
    ("2026-11-28T10:15:00+24:00", None),
    ("2026-11-28T10:15:00+0100", None),
    ("0000-12-31T23:59:59Z", None),
    ("0001-01-01T00:59:59+01:00", None),
    ("9999-12-31T23:59:60Z", None),
    ("9999-12-31T23:59:59.9999995Z", None),
    ("10000-01-01T00:00:00Z", None),
    ("-0044-03-15T12:00:00Z", None),
    ("0044-03-15 BC", None),
    ("0044-03-15T12:00:00Z BC", None),
]
# Values of started_at (a day or a timestamp) that are day-shaped or nearly.
BORDERLINE_DAYS = ["2026-11-28", "2024-02-29", "0000-02-29", "2026-02-29", "2026-13-01", "2026-00-10",
                   "2026-1-01", " 2026-1-01", "2026-+1-01", "-001-01-01", "2026-11-28 "]


def sql_listing(tenant, arguments):
    """A direct SQL call of nilus.list_pipelines: (its total, None) or (None, the error's SQLSTATE)."""
    done = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "VERBOSITY=verbose", "-d", DB, "-c",
                           f"SELECT nilus.list_pipelines({lit(tenant)}, {arguments}) ->> 'total'"],
                          capture_output=True, text=True)
    if done.returncode == 0:
        return int(done.stdout.strip()), None
    m = re.search(r"ERROR:\s+([0-9A-Z]{5}):", done.stderr)
    check(m, f"psql: {short(done.stderr)}")
    return None, m.group(1)


def expect_extension_answer(value, answer):
    """started_at=value through the shim answers as the direct SQL call did."""
    total, sqlstate = answer
    r = get("/tenants/edges/pipelines", {"started_at": value}, token="admin")
    if total is not None:
        eq(ok_json(r)["total"], total, f"started_at={value!r}: the extension's total")
    else:
        check(sqlstate.startswith("22"), f"started_at={value!r}: the extension refused with {sqlstate}")
        expect_error(r, 400, "invalid_parameter", "started_at")


@test
def query_timestamps_are_the_extensions_rule():
    instants = sorted({utc for _, utc in BORDERLINE_TIMESTAMPS if utc})
    for utc in instants:
        run = {"run_id": str(uuid.uuid4()), "resource_id": R_ORDERS, "pipeline_name": "orders-sync",
               "started_at": utc}
        psql(f"SELECT nilus.store_run('edges', {lit(json.dumps(run))}::jsonb)")
    with Unchanged():
        for value, utc in BORDERLINE_TIMESTAMPS:
            answer = sql_listing("edges", f"started_at => {lit(value)}")
            eq(answer[0], 1 if utc else None, f"the extension reads {value!r} as {utc} (one run there)")
            expect_extension_answer(value, answer)
            bounds = {"started_at_gte": value, "started_at_lte": value}
            if utc:
                eq(ok_json(get("/tenants/edges/pipelines", bounds, token="admin"))["total"], 1,
                   f"started_at_gte = started_at_lte = {value!r}: the run at {utc}")
                ok_json(get("/tenants/edges/cdc/offset-storage", {"record_insert_ts_gte": value}, token="admin"))
                continue
            for name in bounds:
                expect_error(get("/tenants/edges/pipelines", {name: value}, token="admin"),
                             400, "invalid_parameter", name)
            expect_error(get("/tenants/edges/cdc/offset-storage", {"record_insert_ts_lte": value}, token="admin"),
                         400, "invalid_parameter", "record_insert_ts_lte")
        for value in BORDERLINE_DAYS:
            expect_extension_answer(value, sql_listing("edges", f"started_at => {lit(value)}"))
        eq(sql_listing("edges", "started_at => '2026-11-28'")[0], 3, "the day 2026-11-28 holds three runs")
        expect_error(get("/tenants/edges/pipelines", {"started_at_gte": "2026-11-28"}, token="admin"),
                     400, "invalid_parameter", "started_at_gte")


# ---- least privilege

def psql_as_api(sql):
    """Runs SQL as the shim's own login role; returns (ok, output)."""
    args = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", dsn(), "-c", sql]
    done = subprocess.run(args, capture_output=True, text=True)
    return done.returncode == 0, (done.stdout + done.stderr).strip()


@test
def shim_login_with_a_token_cannot_touch_tables():
    """Whoever holds the shim's login and a tenant token may call the route functions, nothing else."""
    ok_json(post("/tenants/acme/pipeline/p-lp/offsets",
                 offsets_body(R_ORDERS, "c", [{"offset_key": "k", "offset_val": "v"}])), 201)
    token = T["acme_all"]
    with Unchanged():
        for statement in ("UPDATE nilus.cdc_offset SET offset_val = 'rewritten' WHERE tenant = 'acme'",
                          "DELETE FROM nilus.cdc_offset WHERE tenant = 'acme'",
                          "INSERT INTO nilus.cdc_schema_history (tenant, id, resource_id, pipeline_name, "
                          "connector_name, history_data, history_data_seq) "
                          "VALUES ('acme', gen_random_uuid(), 'r', 'p', 'c', 'x', 1)",
                          "UPDATE nilus.pipeline_run SET error = 'rewritten' WHERE tenant = 'acme'",
                          "DELETE FROM nilus.run_rollup_resource WHERE tenant = 'acme'",
                          "SELECT count(*) FROM nilus.pipeline_state"):
            ok, out = psql_as_api(f"BEGIN; SELECT nilus.authenticate({lit(token)}); {statement}; COMMIT;")
            check(not ok and "permission denied" in out, f"{statement}: expected permission denied, got {out!r}")
    ok, out = psql_as_api(f"BEGIN; SELECT nilus.authenticate({lit(token)}); "
                          "SELECT nilus.get_offsets('acme', 'p-lp') ->> 'pipeline_name'; COMMIT;")
    check(ok and out.splitlines()[-1] == "p-lp", f"the route function answers the same login: {out!r}")


# ---- state

@test
def state_none_is_404():
    expect_error(get("/tenants/acme/pipeline/never-stored/state", token="acme_runtime"), 404, "not_found")


def without_strings(text):
    return re.sub(r'"(\\.|[^"\\])*"', '""', text)


@test
def embedded_json_is_as_compact_as_the_answer():
    """A state, a run's records and its metadata come back without jsonb's spacing,
    strings with every character and numbers with every digit."""
    state = '{"b": [1, 2.50, 1e3, 12345678901234567890.123456789], "a": {"k, ey": "x, y: z"}}'
    body = f'{{"state": {state}}}'
    ok_json(request("POST", url("/tenants/acme/pipeline/compact-json/state"), token=T["acme_all"], body=body), 201)
    r = get("/tenants/acme/pipeline/compact-json/state")
    text = r.body.decode()
    check('"state":{"a":{"k, ey":"x, y: z"},"b":[1,2.50,1000,12345678901234567890.123456789]}' in text,
          f"the state as written: {text}")
    run = {"run_id": str(uuid.uuid4()), "resource_id": "compact-json-res", "pipeline_name": "compact-json",
           "started_at": "2026-11-28T10:00:00Z", "finished_at": "2026-11-28T10:01:00Z", "is_success": True,
           "records": {"extracted": 10, "loaded": 9.5}, "metadata": {"source": "pg, main: 1", "tags": ["a", "b"]}}
    answers = [post("/tenants/acme/pipeline/runs", run),
               get("/tenants/acme/pipelines/compact-json-res/runs"),
               get("/tenants/acme/pipelines", {"resource_id": "compact-json-res"}), r]
    for answer in answers:
        text = answer.body.decode()
        check(answer.status in (200, 201), f"{answer!r}")
        check(not re.search(r"[,:] ", without_strings(text)), f"spacing in {short(text)}")
    check('"metadata":{"tags":["a","b"],"source":"pg, main: 1"}' in answers[1].body.decode(),
          f"the metadata as written: {short(answers[1].body.decode())}")


@test
def state_versions_and_latest_successful():
    path = "/tenants/acme/pipeline/orders-sync-state/state"
    first = ok_json(post(path, {"state": "H4sIAAAAAAAA/6tWyk5NVbJSSs7PS8tJLQ==", "run_id": "r-1"},
                         token="acme_runtime"), 201)
    eq(set(first), {"pipeline_name", "version", "created_at"}, "stored state fields")
    eq(first["pipeline_name"], "orders-sync-state", "pipeline_name")
    micros(first["created_at"])
    second = ok_json(post(path, {"state": {"cursor": 42, "tables": ["a", "b"]}, "run_id": "r-2",
                                 "is_success": True}, token="acme_runtime"), 201)
    check(second["version"] > first["version"], "versions increase")
    failed = ok_json(post(path, {"state": [1, 2, 3], "run_id": "r-3", "is_success": False},
                          token="acme_runtime"), 201)
    check(failed["version"] > second["version"], "versions increase")
    got = ok_json(get(path, token="acme_runtime"))
    eq(set(got), {"pipeline_name", "version", "state", "run_id", "created_at"}, "state fields")
    eq((got["version"], got["state"], got["run_id"]),
       (second["version"], {"cursor": 42, "tables": ["a", "b"]}, "r-2"),
       "latest successful state, not the later failed one")
    eq(micros(got["created_at"]), micros(second["created_at"]), "created_at")
    rows = db_json("SELECT version, is_success FROM nilus.pipeline_state "
                   "WHERE tenant = 'acme' AND pipeline_name = 'orders-sync-state' ORDER BY version")
    eq([(r["version"], r["is_success"]) for r in rows],
       [(first["version"], True), (second["version"], True), (failed["version"], False)], "committed states")


@test
def state_only_failed_is_404():
    path = "/tenants/acme/pipeline/always-failing/state"
    ok_json(post(path, {"state": {"x": 1}, "is_success": False}), 201)
    expect_error(get(path), 404, "not_found")


@test
def state_concurrent_posts_get_distinct_versions():
    path = "/tenants/acme/pipeline/busy-pipeline/state"
    n = 16
    results = at_once([lambda i=i: post(path, {"state": {"worker": i}, "run_id": f"w{i}"})
                       for i in range(n)])
    versions = []
    for r in results:
        check(isinstance(r, Resp) and r.status == 201, f"a concurrent state POST failed: {r!r}")
        versions.append(ok_json(r, 201)["version"])
    eq(len(set(versions)), n, "distinct versions")
    stored = db_json("SELECT version FROM nilus.pipeline_state "
                     "WHERE tenant = 'acme' AND pipeline_name = 'busy-pipeline'")
    eq(sorted(r["version"] for r in stored), sorted(versions), "every acknowledged version committed")
    eq(ok_json(get(path))["version"], max(versions), "GET answers the highest version")


@test
def requests_sharing_one_connection_are_answered_each_on_its_own():
    """With --threads 1 concurrent requests share one database connection; one's
    error or refusal is no other's, and every acknowledged write is committed."""
    shim = Shim("one-connection", extra=["--threads", "1", "--loops", "1"])
    shim.start()
    try:
        offsets = f"/tenants/initech/pipeline/{seg(FIX['cdc_pipes'][0][0])}/offsets"
        want_offsets = ok_json(get(offsets, token="initech_all"))
        cases = []
        for i in range(8):
            state = f"/tenants/acme/pipeline/shared-connection-{i}/state"
            cases += [("POST", state, {"state": {"i": i}}, "acme_all", 201),
                      ("POST", state, {"run_id": "no state"}, "acme_all", 400),
                      ("GET", offsets, None, "initech_all", 200),
                      ("GET", offsets, None, "revoked", 401),
                      ("GET", offsets, None, "acme_all", 403),
                      ("GET", "/tenants/acme/pipelines/orders-sync/stats", {"period": "5x"}, "acme_all", 400)]
        results = at_once([lambda m=method, p=path, b=body, t=token: (post if m == "POST" else get)(
            p, b, token=t, port=shim.port) for method, path, body, token, _ in cases])
        expect_own_answers([(f"{method} {path} with {token} {body}", status)
                            for method, path, body, token, status in cases], results, want_offsets)
        stored = db_json("SELECT pipeline_name, state FROM nilus.pipeline_state "
                         "WHERE tenant = 'acme' AND pipeline_name LIKE 'shared-connection-%'")
        eq(sorted((r["pipeline_name"], r["state"]["i"]) for r in stored),
           [(f"shared-connection-{i}", i) for i in range(8)], "each acknowledged state, once")
        eq(shim.stop(), 0, "exit status after SIGTERM")
    finally:
        shim.stop()


def stall_reads(shim, count, then):
    """Sends count listings whose totals wait for a lock on the tenant rollups, calls
    then() while they wait, and returns their answers once the lock is gone."""
    locker = subprocess.Popen(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", DB],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    reads = Concurrently([lambda: get("/tenants/acme/pipelines", port=shim.port)] * count)
    try:
        locker.stdin.write("BEGIN;\nLOCK TABLE nilus.run_rollup_tenant IN ACCESS EXCLUSIVE MODE;\n"
                           "\\echo locked\n")
        locker.stdin.flush()
        eq(locker.stdout.readline().strip(), "locked", "the lock is taken")
        reads.start()
        time.sleep(0.5)
        then()
        eq(reads.results, [None] * count, "the reads behind the lock, still waiting")
    finally:
        locker.communicate("COMMIT;\n", timeout=10)
        reads.join(timeout=30)
    for r in reads.results:
        check(isinstance(r, Resp) and r.status == 200, f"a read after the lock was released: {r!r}")


@test
def reads_stalled_on_a_lock_hold_no_other_read_back():
    """Reads waiting for a lock leave the shim's other connections to the reads after them,
    even reads of the same route, which could join their connections."""
    stalled = (os.cpu_count() or 1) + 1
    # One loop: the reads of a loop go to its own connections only.
    shim = Shim("stalled", extra=["--threads", str(stalled + 1), "--loops", "1"])
    shim.start()
    try:
        # Once to spread the route's prepared statement over the connections, then the test.
        stall_reads(shim, stalled, lambda: None)
        # A filter on both resource and user is counted from its own rollups, not the tenant's.
        exact = {"resource_id": R_EVENTS, "run_as_user": "bob"}
        stall_reads(shim, stalled, lambda: ok_json(get("/tenants/acme/pipelines", exact,
                                                       port=shim.port, timeout=10)))
    finally:
        shim.stop()


class HeldLock:
    """with HeldLock(tables): a psql session holds ACCESS EXCLUSIVE locks on nilus tables."""

    def __init__(self, *tables):
        self.tables = ", ".join(f"nilus.{t}" for t in tables)

    def __enter__(self):
        self.locker = subprocess.Popen(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", DB],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True)
        self.locker.stdin.write(f"BEGIN;\nLOCK TABLE {self.tables} IN ACCESS EXCLUSIVE MODE;\n"
                                "\\echo locked\n")
        self.locker.stdin.flush()
        eq(self.locker.stdout.readline().strip(), "locked", "the lock is taken")
        return self

    def __exit__(self, kind, value, tb):
        self.locker.communicate("COMMIT;\n", timeout=10)


def timed(call):
    started = time.monotonic()
    r = call()
    return r, time.monotonic() - started


@test
def a_held_lock_times_out_with_504_while_health_answers():
    """Issue 14, item 2: calls behind a held lock get 504 "timeout" at --request-timeout
    (queued ones too, the wait counts), their statements are cancelled, API /health and
    /info and /readiness answer meanwhile, and the pool serves again once the lock is gone."""
    timeout = 2
    shim = Shim("held-lock", extra=["--threads", "2"], env={"NILUS_REQUEST_TIMEOUT": str(timeout)})
    shim.start()
    listing = ("/tenants/acme/pipelines", {"run_as_user": "alice", "resource_id": R_ORDERS})
    run = {"run_id": str(uuid.uuid4()), "resource_id": R_ORDERS, "pipeline_name": "orders-sync",
           "started_at": iso(now_minus(minutes=3))}
    try:
        want = ok_json(get(*listing, port=shim.port))
        with HeldLock("pipeline_run", "cdc_offset", "run_rollup_tenant"):
            # More calls than connections: some wait in the queue, and time out there.
            calls = at_once([lambda: timed(lambda: get(*listing, port=shim.port, timeout=30))] * 6
                            + [lambda: timed(lambda: post("/tenants/acme/pipeline/runs", run,
                                                          port=shim.port, timeout=30))])
            for r, seconds in calls:
                expect_error(r, 504, "timeout")
                check(seconds < timeout + 2, f"a 504 after {seconds:.1f} s, the timeout is {timeout} s")
            for probe in ("/health", "/info"):
                r, seconds = timed(lambda: get(probe, port=shim.port, timeout=30))
                ok_json(r)
                check(seconds < timeout, f"API {probe} took {seconds:.1f} s behind the lock")
            eq(request("GET", "/readiness", port=shim.metrics_port, timeout=5).status, 200,
               "/readiness while calls wait for the lock")
            waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' " \
                      "AND application_name = 'nilus-manager'"
            # The lock stays held: a statement that was not cancelled would wait for good,
            # so the bound only needs to outlast a busy machine's cancel round trip.
            wait_until("statements of timed-out calls no longer waiting for the lock",
                       lambda: db_int(waiting) == 0, 10)
        eq(ok_json(get(*listing, port=shim.port)), want, "the listing once the lock is gone")
        metrics = request("GET", "/metrics", port=shim.metrics_port).body.decode()
        m = re.search(r'^nilus_manager_db_errors_total\{kind="timeout"\} (\d+)$', metrics, re.M)
        check(m and int(m.group(1)) >= len(calls), f"timeouts counted in /metrics: {m and m.group(0)}")
        check(shim.alive(), "the shim died")
        eq(db_run("acme", run["run_id"]), None, "a write answered 504 was cancelled, not stored")
    finally:
        shim.stop()


# ---- memory

MIB = 1024 * 1024
# The README's memory bound (the shim, --threads 2, one loop): its baseline, 64 MiB of
# large answers held for clients, and per database connection (2 + the probes' one) twice
# the largest answer while it arrives (libpq's buffer and the result).
THREADS = 2
HELD_ANSWERS = 64 * MIB
ANSWER_PASSES = 2


def rss(pid, field="VmRSS"):
    """A memory figure of the process in bytes, from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise Failure(f"no {field} in /proc/{pid}/status")


def open_files(pid, names=False):
    """How many descriptors the process has open, or what they point at."""
    fds = os.listdir(f"/proc/{pid}/fd")
    if not names:
        return len(fds)
    found = []
    for fd in fds:
        try:
            found.append(os.readlink(f"/proc/{pid}/fd/{fd}").split(":[")[0])
        except OSError:
            pass
    return found


def unread_request(port, path, token):
    """A connection that sends a request and never reads: a tiny receive buffer, so that
    the answer stays with the shim."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
    return s


def reset(sockets):
    for s in sockets:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()


@test
def clients_that_do_not_read_a_large_answer_leave_memory_bounded():
    """Issue 14, item 3: 60 clients request a 14 MB schema history and never read; the
    shim's RSS stays under the README's bound, comes back to its baseline once they close,
    and other clients (one reading the same answer too) are served meanwhile."""
    shim = Shim("memory", extra=["--threads", str(THREADS), "--loops", "1"])
    shim.start()
    pid = shim.proc.pid
    path = url("/tenants/bigco/pipeline/big-history/schema-history")
    readers = []
    try:
        psql("SELECT nilus.store_schema_history('bigco', 'big-history', jsonb_build_object("
             "'resource_id', 'service:v1:big-history:public', 'connector_name', 'big', "
             "'records', jsonb_build_array(jsonb_build_object('history_data', repeat('x', 7000000)),"
             " jsonb_build_object('history_data', repeat('y', 7000000)))))")
        answer = request("GET", path, token=T["admin"], port=shim.port, timeout=60)
        eq(answer.status, 200, "the large answer, read")
        size = len(answer.body)
        for _ in range(5):
            ok_json(get("/info", port=shim.port))
        time.sleep(1)
        baseline = rss(pid)
        files = open_files(pid)
        bound = baseline + HELD_ANSWERS + (THREADS + 1) * ANSWER_PASSES * size
        served = []
        readers = [unread_request(shim.port, path, T["admin"]) for _ in range(60)]
        peak = baseline
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            peak = max(peak, rss(pid))
            started = time.monotonic()
            r = get("/info", port=shim.port, timeout=10)
            served.append((r.status, time.monotonic() - started))
            time.sleep(0.2)
        # A client that reads still gets the large answer, whole, beside those that do not.
        again = request("GET", path, token=T["admin"], port=shim.port, timeout=60)
        check(again.status == 200 and again.body == answer.body,
              f"the large answer while 60 clients did not read it: {again!r}")
        peak = max(peak, rss(pid), rss(pid, "VmHWM"))
        reset(readers)
        readers = []
        after = rss(pid)
        settle = time.monotonic() + 10
        while (after > baseline + 4 * MIB or open_files(pid) > files + THREADS + 1) \
                and time.monotonic() < settle:
            time.sleep(0.5)
            ok_json(get("/info", port=shim.port))
            after = rss(pid)
        figures = (f"RSS baseline {baseline / MIB:.0f} MiB, peak {peak / MIB:.0f} MiB (bound "
                   f"{bound / MIB:.0f} MiB: answer {size / MIB:.1f} MiB), after {after / MIB:.0f} MiB")
        # AddressSanitizer's allocator keeps freed memory in quarantine: the bound is the
        # plain build's (make test); under ASan the rest is still checked.
        if "libasan" not in Path(f"/proc/{pid}/maps").read_text():
            check(peak <= bound, "over the bound: " + figures)
            check(after <= baseline + 16 * MIB, "memory not given back: " + figures)
        # The pool may have opened its other connections meanwhile; nothing else may stay.
        left = open_files(pid, names=True)
        check(len(left) <= files + THREADS + 1 and not any("nilus-manager-answer" in f for f in left),
              f"{len(left)} open files once the clients are gone, {files} before: "
              f"{sorted(collections.Counter(left).items())}")
        check(all(status == 200 and seconds < 2 for status, seconds in served),
              f"other clients while 60 did not read: {served}")
        check(shim.alive(), "the shim died")
        if VERBOSE:
            print("60 clients that do not read a 14 MB answer: " + figures, file=sys.stderr)
    finally:
        reset(readers)
        shim.stop()


@test
def requests_sent_together_answer_each_for_itself():
    """Requests queued behind a stalled read leave together: the reads share a transaction,
    a write ends it and has its own.  A read's error is no other read's, and it never
    takes back a write acknowledged before it."""
    shim = Shim("sent-together", extra=["--threads", "1", "--loops", "1"])
    shim.start()
    try:
        offsets = f"/tenants/initech/pipeline/{seg(FIX['cdc_pipes'][0][0])}/offsets"
        state = "/tenants/acme/pipeline/sent-together/state"
        # Both statements prepared first: a request joins a busy connection only then.
        want = ok_json(get(offsets, token="initech_all", port=shim.port))
        ok_json(post("/tenants/acme/pipeline/sent-together-warm/state", {"state": 0}, port=shim.port), 201)
        cases = [("GET", "initech_all", 200), ("POST", "acme_all", 201), ("GET", "revoked", 401),
                 ("GET", "initech_all", 200), ("GET", "acme_all", 403)]

        def send(method, token):
            if method == "POST":
                return post(state, {"state": {"kept": True}}, token=token, port=shim.port, timeout=30)
            return get(offsets, token=token, port=shim.port, timeout=30)

        queued = Concurrently([lambda m=method, t=token: send(m, t) for method, token, _ in cases],
                              together=False)
        stall_reads(shim, 1, lambda: queued.start(spacing=0.1))
        expect_own_answers([(f"{method} with {token}", status) for method, token, status in cases],
                           queued.join(timeout=30), want)
        eq(db_json("SELECT state FROM nilus.pipeline_state WHERE tenant = 'acme' "
                   "AND pipeline_name = 'sent-together'"), [{"state": {"kept": True}}],
           "the acknowledged write, committed")
    finally:
        shim.stop()


@test
def state_bad_bodies_change_nothing():
    path = "/tenants/acme/pipeline/orders-sync-state/state"
    with Unchanged():
        expect_error(post(path, {"run_id": "r-9"}), 400, "invalid_parameter", "state", mentions=["state"])
        expect_error(post(path, {"state": 1, "surprise": True}), 400, "invalid_parameter",
                     mentions=["surprise"])
        expect_error(post(path, {"state": 1, "is_success": "no"}), 400, "invalid_parameter", "is_success")
        expect_error(post(path, "{\"state\": "), 400, "bad_request")


# ---- offsets

def offsets_body(resource, connector, records):
    return {"resource_id": resource, "connector_name": connector, "offsets": records}


def db_latest_offsets(tenant, pipeline):
    return db_json(f"""SELECT DISTINCT ON (offset_key) offset_key, offset_val, connector_name,
                              (extract(epoch FROM record_insert_ts) * 1000000)::bigint AS ts
                         FROM nilus.cdc_offset WHERE tenant = {lit(tenant)} AND pipeline_name = {lit(pipeline)}
                        ORDER BY offset_key, record_insert_seq DESC""")


def check_latest_offsets(tenant, pipeline, token):
    body = ok_json(get(f"/tenants/{tenant}/pipeline/{seg(pipeline)}/offsets", token=token))
    eq(set(body), {"pipeline_name", "offsets"}, "offsets keys")
    eq(body["pipeline_name"], pipeline, "pipeline_name")
    for item in body["offsets"]:
        eq(set(item), {"offset_key", "offset_val", "connector_name", "record_insert_ts"}, "offset fields")
    got = sorted(((i["offset_key"], i["offset_val"], i["connector_name"], micros(i["record_insert_ts"]))
                  for i in body["offsets"]))
    want = sorted((r["offset_key"], r["offset_val"], r["connector_name"], r["ts"])
                  for r in db_latest_offsets(tenant, pipeline))
    eq(got, want, "latest offset per key")
    return body


@test
def offsets_empty_then_latest_per_key():
    path = "/tenants/acme/pipeline/pg-sales-cdc/offsets"
    body = ok_json(get(path, token="acme_runtime"))
    eq(body, {"pipeline_name": "pg-sales-cdc", "offsets": []}, "no offsets yet")
    records = [{"offset_key": '{"server":"sales"}', "offset_val": '{"lsn": 100}'},
               {"offset_key": '{"server":"sales","db":"x"}', "offset_val": '{"lsn": 7}'},
               {"offset_key": '{"server":"sales"}', "offset_val": '{"lsn": 101}'}]
    eq(ok_json(post(path, offsets_body("service:v1:pg-sales-cdc:public", "sales-conn", records),
                    token="acme_runtime"), 201), {"stored": 3}, "stored 3")
    body = check_latest_offsets("acme", "pg-sales-cdc", "acme_runtime")
    latest = {i["offset_key"]: i["offset_val"] for i in body["offsets"]}
    eq(latest, {'{"server":"sales"}': '{"lsn": 101}', '{"server":"sales","db":"x"}': '{"lsn": 7}'},
       "the last record of a key in a batch is its latest")
    records = [{"offset_key": '{"server":"sales","db":"x"}', "offset_val": '{"lsn": 8}'}]
    ok_json(post(path, offsets_body("service:v1:pg-sales-cdc:public", "sales-conn", records),
                 token="acme_runtime"), 201)
    latest = {i["offset_key"]: i["offset_val"] for i in
              check_latest_offsets("acme", "pg-sales-cdc", "acme_runtime")["offsets"]}
    eq(latest['{"server":"sales","db":"x"}'], '{"lsn": 8}', "a later batch wins")


@test
def offsets_retry_with_ids_stores_nothing_twice():
    path = "/tenants/acme/pipeline/retry-cdc/offsets"
    records = [{"offset_key": "k1", "offset_val": "v1", "id": str(uuid.uuid4())},
               {"offset_key": "k2", "offset_val": "v2", "id": str(uuid.uuid4())}]
    body = offsets_body("service:v1:retry-cdc:public", "retry-conn", records)
    eq(ok_json(post(path, body), 201), {"stored": 2}, "first post")
    with Unchanged():
        eq(ok_json(post(path, body), 201), {"stored": 0}, "retried post")
    ids = {r["id"] for r in db_json("SELECT id FROM nilus.cdc_offset WHERE tenant = 'acme' "
                                     "AND pipeline_name = 'retry-cdc'")}
    eq(ids, {r["id"] for r in records}, "client ids kept, stored once")
    records.append({"offset_key": "k3", "offset_val": "v3", "id": str(uuid.uuid4())})
    eq(ok_json(post(path, offsets_body("service:v1:retry-cdc:public", "retry-conn", records)), 201),
       {"stored": 1}, "a partly retried batch stores only the new record")


@test
def reused_id_with_other_content_is_409():
    rid = str(uuid.uuid4())
    path = "/tenants/acme/pipeline/conflict-cdc"
    off = lambda val: offsets_body("service:v1:conflict-cdc:public", "c-conn",
                                   [{"offset_key": "k", "offset_val": val, "id": rid}])
    eq(ok_json(post(path + "/offsets", off("v1")), 201), {"stored": 1}, "first record")
    hid = str(uuid.uuid4())
    hist = lambda data: history_body("service:v1:conflict-cdc:public", "c-conn", [data], [hid])
    eq(ok_json(post(path + "/schema-history", hist("ddl 1")), 201), {"stored": 1}, "first history record")
    with Unchanged():
        expect_error(post(path + "/offsets", off("v2")), 409, "conflict")
        expect_error(post(path + "/schema-history", hist("ddl 2")), 409, "conflict")


@test
def offsets_bad_batch_stores_nothing():
    path = "/tenants/acme/pipeline/atomic-cdc/offsets"
    good = {"offset_key": "k", "offset_val": "v"}
    res, conn = "service:v1:atomic-cdc:public", "atomic-conn"
    with Unchanged():
        expect_error(post(path, offsets_body(res, conn, [good, {"offset_val": "v"}, good])), 400,
                     "invalid_parameter", lambda p: p is not None and "offset_key" in p,
                     mentions=["offset_key"])
        expect_error(post(path, offsets_body(res, conn, [good, dict(good, id="nope")])), 400,
                     "invalid_parameter", lambda p: p is not None and "id" in p)
        expect_error(post(path, offsets_body(res, conn, [good, dict(good, offset_key=5)])), 400,
                     "invalid_parameter", lambda p: p is not None and "offset_key" in p)
        expect_error(post(path, offsets_body(res, conn, [good, dict(good, extra=1)])), 400,
                     "invalid_parameter", mentions=["extra"])
        expect_error(post(path, {"connector_name": conn, "offsets": [good]}), 400, "invalid_parameter",
                     "resource_id", mentions=["resource_id"])
        expect_error(post(path, {"resource_id": res, "offsets": [good]}), 400, "invalid_parameter",
                     "connector_name", mentions=["connector_name"])
        expect_error(post(path, {"resource_id": res, "connector_name": conn}), 400, "invalid_parameter",
                     "offsets", mentions=["offsets"])
        expect_error(post(path, offsets_body(res, conn, {"offset_key": "k"})), 400, "invalid_parameter",
                     "offsets")
        expect_error(post(path, dict(offsets_body(res, conn, [good]), bonus=True)), 400,
                     "invalid_parameter", mentions=["bonus"])
        expect_error(post(path, '{"resource_id": "x", "offsets": [}'), 400, "bad_request")
    eq(db_int("SELECT count(*) FROM nilus.cdc_offset WHERE pipeline_name = 'atomic-cdc'"), 0,
       "no record of a refused batch")


@test
def offsets_concurrent_batches_all_acknowledged_are_stored():
    pipeline, workers, batches = "concurrent-cdc", 6, 12
    acked, problems = [], []
    lock = threading.Lock()

    def worker(w):
        conn = http.client.HTTPConnection("127.0.0.1", SHIM.port, timeout=60)
        for b in range(batches):
            records = [{"offset_key": f"partition-{k}", "offset_val": json.dumps({"w": w, "b": b, "k": k}),
                        "id": str(uuid.uuid4())} for k in range(4)]
            body = offsets_body("service:v1:concurrent-cdc:public", f"conn-{w}", records)
            try:
                r = request("POST", url(f"/tenants/acme/pipeline/{pipeline}/offsets"),
                            token=T["acme_runtime"], body=body, conn=conn)
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", SHIM.port, timeout=60)
                with lock:
                    problems.append(repr(e))
                continue
            with lock:
                if r.status == 201 and r.body and json.loads(r.body) == {"stored": 4}:
                    acked.extend(rec["id"] for rec in records)
                else:
                    problems.append(repr(r))
        conn.close()

    at_once([lambda w=w: worker(w) for w in range(workers)])
    stored = {r["id"] for r in db_json(f"SELECT id FROM nilus.cdc_offset WHERE tenant = 'acme' "
                                        f"AND pipeline_name = {lit(pipeline)}")}
    missing = set(acked) - stored
    check(not missing, f"{len(missing)} acknowledged records are not committed")
    eq(len(stored), len(acked), "nothing stored beyond the acknowledged batches")
    check(not problems, f"{len(problems)} batches not acknowledged, e.g. {problems[:2]}")
    check_latest_offsets("acme", pipeline, "acme_runtime")


# ---- schema history

DDL_TEXT = ('{"source":{"server":"pg-orders"},"position":{"lsn":"0/16B3748"},'
            '"ddl":"CREATE TABLE \\"public\\".\\"Orders\\" (id int, note text DEFAULT \'é — 日本 😀\')",'
            '  "tableChanges" : [ ],\n\t"spaces":"  kept  "}')


def history_body(resource, connector, datas, ids=None):
    records = [{"history_data": d} for d in datas]
    for rec, rid in zip(records, ids or []):
        rec["id"] = rid
    return {"resource_id": resource, "connector_name": connector, "records": records}


@test
def schema_history_order_bytes_and_exists():
    base = "/tenants/acme/pipeline/pg-orders-hist/schema-history"
    eq(ok_json(get(base + "/exists", token="acme_runtime")), {"pipeline_name": "pg-orders-hist", "exists": False},
       "no history yet")
    eq(ok_json(get(base, token="acme_runtime")), {"pipeline_name": "pg-orders-hist", "records": []},
       "empty history")
    first = [DDL_TEXT.replace("Orders", f"Orders{i}") for i in range(5)]
    second = ['{"ddl": "ALTER TABLE a ADD b int"}', "  not even JSON \\ \" '  ", DDL_TEXT]
    ids = [str(uuid.uuid4()) for _ in first]
    res, conn = "service:v1:pg-orders:public", "pg-orders-connector"
    eq(ok_json(post(base, history_body(res, conn, first, ids), token="acme_runtime"), 201), {"stored": 5},
       "first batch")
    eq(ok_json(post(base, history_body(res, conn, second), token="acme_runtime"), 201), {"stored": 3},
       "second batch")
    body = ok_json(get(base, token="acme_runtime"))
    eq(body["pipeline_name"], "pg-orders-hist", "pipeline_name")
    for item in body["records"]:
        eq(set(item), {"id", "history_data", "record_insert_ts", "record_insert_seq"}, "record fields")
        micros(item["record_insert_ts"])
    eq([i["history_data"] for i in body["records"]], first + second, "order and bytes preserved")
    eq([i["id"] for i in body["records"][:5]], ids, "client ids kept")
    seqs = [i["record_insert_seq"] for i in body["records"]]
    eq(seqs, sorted(seqs), "record_insert_seq ascending")
    eq(len(set(seqs)), len(seqs), "record_insert_seq unique")
    rows = db_json("SELECT history_data_seq, history_data FROM nilus.cdc_schema_history "
                   "WHERE tenant = 'acme' AND pipeline_name = 'pg-orders-hist' ORDER BY record_insert_seq")
    eq([r["history_data_seq"] for r in rows], [0, 1, 2, 3, 4, 0, 1, 2], "history_data_seq = position in batch")
    eq([r["history_data"] for r in rows], first + second, "stored bytes")
    eq(ok_json(get(base + "/exists", token="acme_runtime"))["exists"], True, "exists after a POST")
    with Unchanged():
        eq(ok_json(post(base, history_body(res, conn, first, ids)), 201), {"stored": 0},
           "a retried batch with ids stores nothing")


@test
def schema_history_multi_mib_record_round_trips():
    base = "/tenants/acme/pipeline/big-hist/schema-history"
    rnd = random.Random(7)
    chunk = DDL_TEXT + "".join(chr(rnd.choice([0x41, 0x7a, 0xe9, 0x65e5, 0x1f600, 0x22, 0x5c, 0x0a]))
                               for _ in range(4000))
    big = chunk * (3 * 1024 * 1024 // len(chunk.encode()) + 1) + "END"
    check(len(big.encode("utf-8")) > 3 * 1024 * 1024, "the record is over 3 MiB")
    eq(ok_json(post(base, history_body("service:v1:big:public", "big-conn", ["small", big])), 201),
       {"stored": 2}, "stored")
    body = ok_json(get(base))
    eq(len(body["records"]), 2, "two records")
    check(body["records"][1]["history_data"] == big, "the multi-MiB record came back different")
    eq(db_scalar("SELECT md5(history_data) FROM nilus.cdc_schema_history WHERE tenant = 'acme' "
                 "AND pipeline_name = 'big-hist' AND history_data_seq = 1"),
       hashlib.md5(big.encode()).hexdigest(), "stored bytes of the big record")


@test
def schema_history_bad_batch_stores_nothing():
    base = "/tenants/acme/pipeline/atomic-hist/schema-history"
    res, conn = "service:v1:atomic-hist:public", "atomic-conn"
    with Unchanged():
        expect_error(post(base, {"resource_id": res, "connector_name": conn,
                                 "records": [{"history_data": "a"}, {"id": str(uuid.uuid4())}]}),
                     400, "invalid_parameter", lambda p: p is not None and "history_data" in p,
                     mentions=["history_data"])
        expect_error(post(base, {"resource_id": res, "connector_name": conn,
                                 "records": [{"history_data": "a"}, {"history_data": {"not": "text"}}]}),
                     400, "invalid_parameter", lambda p: p is not None and "history_data" in p)
        expect_error(post(base, {"resource_id": res, "connector_name": conn}), 400,
                     "invalid_parameter", "records", mentions=["records"])
        expect_error(post(base, {"connector_name": conn, "records": []}), 400, "invalid_parameter",
                     "resource_id")
    eq(ok_json(get(base + "/exists"))["exists"], False, "still no history")


# ---- CDC listings

OFFSET_ITEM = {"id", "resource_id", "pipeline_name", "connector_name", "offset_key", "offset_val",
               "record_insert_ts", "record_insert_seq"}
HISTORY_ITEM = {"id", "resource_id", "pipeline_name", "connector_name", "history_data",
                "history_data_seq", "record_insert_ts", "record_insert_seq"}


def cdc_ts_bounds():
    """Insert times of initech's offset batches, oldest first."""
    return [r["ts"] for r in db_json(
        "SELECT DISTINCT to_char(record_insert_ts AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS ts FROM nilus.cdc_offset "
        "WHERE tenant = 'initech' ORDER BY 1")]


def check_cdc_listing(route, table, key, item_fields, params, clause):
    body = ok_json(get(f"/tenants/initech/cdc/{route}", params, token="initech_all"))
    eq(set(body), {key, "limit", "offset", "total"}, f"{route} keys")
    limit, offset = int(params.get("limit", 50)), int(params.get("offset", 0))
    eq((body["limit"], body["offset"]), (limit, offset), f"{route} {params}: limit/offset")
    where = f"tenant = 'initech' AND ({clause})"
    eq(body["total"], db_int(f"SELECT count(*) FROM nilus.{table} WHERE {where}"),
       f"{route} {params}: total vs count(*)")
    extra = "offset_key, offset_val" if table == "cdc_offset" else "history_data, history_data_seq"
    rows = db_json(f"SELECT id, resource_id, pipeline_name, connector_name, {extra}, record_insert_seq, "
                   f"(extract(epoch FROM record_insert_ts) * 1000000)::bigint AS ts FROM nilus.{table} "
                   f"WHERE {where} ORDER BY record_insert_ts DESC, record_insert_seq DESC "
                   f"LIMIT {limit} OFFSET {offset}")
    eq([i["id"] for i in body[key]], [r["id"] for r in rows], f"{route} {params}: page, newest first")
    for item, row in zip(body[key], rows):
        eq(set(item), item_fields, f"{route} item fields")
        eq(micros(item["record_insert_ts"]), row["ts"], "record_insert_ts")
        for field in item_fields - {"record_insert_ts"}:
            eq(item[field], row[field], f"{route} item {field}")
    return body


def cdc_cases(with_key):
    ts = cdc_ts_bounds()
    check(len(ts) >= 10, "initech fixtures have offset batches at distinct times")
    lo, hi = ts[3], ts[8]
    name, resource, connector = FIX["cdc_pipes"][0]
    cases = [({}, "true"),
             ({"resource_id": resource}, f"resource_id = {lit(resource)}"),
             ({"connector_name": connector}, f"connector_name = {lit(connector)}"),
             ({"record_insert_ts_gte": lo}, f"record_insert_ts >= {lit(lo)}"),
             ({"record_insert_ts_lte": hi}, f"record_insert_ts <= {lit(hi)}"),
             ({"record_insert_ts_gte": lo, "record_insert_ts_lte": hi, "connector_name": connector},
              f"record_insert_ts BETWEEN {lit(lo)} AND {lit(hi)} AND connector_name = {lit(connector)}"),
             ({"limit": "3", "offset": "2"}, "true")]
    if with_key:
        key = json.dumps({"server": name, "partition": 1})
        cases.append(({"offset_key": key}, f"offset_key = {lit(key)}"))
        cases.append(({"offset_key": key, "resource_id": resource},
                      f"offset_key = {lit(key)} AND resource_id = {lit(resource)}"))
    return cases


@test
def cdc_offset_storage_filters():
    for params, clause in cdc_cases(with_key=True):
        check_cdc_listing("offset-storage", "cdc_offset", "offsets", OFFSET_ITEM,
                          dict(params, limit=params.get("limit", "1000")), clause)
    check_cdc_listing("offset-storage", "cdc_offset", "offsets", OFFSET_ITEM, {}, "true")


@test
def cdc_schema_history_filters():
    for params, clause in cdc_cases(with_key=False):
        check_cdc_listing("schema-history", "cdc_schema_history", "schema_history", HISTORY_ITEM,
                          dict(params, limit=params.get("limit", "1000")), clause)


@test
def cdc_listing_pagination_walk():
    for route, table, key in (("offset-storage", "cdc_offset", "offsets"),
                              ("schema-history", "cdc_schema_history", "schema_history")):
        expected = [r["id"] for r in db_json(
            f"SELECT id FROM nilus.{table} WHERE tenant = 'initech' "
            "ORDER BY record_insert_ts DESC, record_insert_seq DESC")]
        seen = []
        for offset in range(0, len(expected) + 4, 4):
            body = ok_json(get(f"/tenants/initech/cdc/{route}", {"limit": 4, "offset": offset},
                               token="initech_all"))
            eq(body["total"], len(expected), f"{route} total")
            seen += [i["id"] for i in body[key]]
        eq(seen, expected, f"{route}: pages walk every record once, newest first")


@test
def cdc_listing_bad_parameters():
    with Unchanged():
        for route in ("offset-storage", "schema-history"):
            path = f"/tenants/initech/cdc/{route}"
            expect_error(get(path, {"limit": "0"}, token="initech_all"), 400, "invalid_parameter", "limit")
            expect_error(get(path, {"offset": "-3"}, token="initech_all"), 400, "invalid_parameter", "offset")
            for name in ("record_insert_ts_gte", "record_insert_ts_lte"):
                expect_error(get(path, {name: "soon"}, token="initech_all"), 400, "invalid_parameter", name)
        expect_error(get("/tenants/initech/cdc/schema-history", {"offset_key": "k"}, token="initech_all"),
                     400, "invalid_parameter", "offset_key", mentions=["offset_key"])


# ---- service routes

@test
def health_info_storage_health():
    body = ok_json(get("/health", token="acme_read"))
    check(isinstance(body, dict) and body, f"health body: {short(body)}")
    info = ok_json(get("/info", token="acme_read"))
    version = db_scalar("SELECT extversion FROM pg_extension WHERE extname = 'nilus'")
    check(isinstance(info, dict), "info is an object")
    check(any("extension" in k and v == version for k, v in info.items()),
          f"info names the installed extension version {version}: {short(info)}")
    check(any(isinstance(v, str) and "nilus" in v for v in info.values()), f"info names the service: {short(info)}")
    storage = ok_json(get("/tenants/acme/storage/health", token="acme_runtime"))
    check(isinstance(storage, dict) and storage, f"storage health body: {short(storage)}")
    ok_json(get("/tenants/acme/storage/health", token="admin"))


@test
def keep_alive_serves_many_requests_on_one_connection():
    conn = http.client.HTTPConnection("127.0.0.1", SHIM.port, timeout=30)
    try:
        for _ in range(5):
            r = request("GET", url("/tenants/acme/pipelines", {"limit": 2}), token=T["acme_read"], conn=conn)
            ok_json(r)
            check((r.header("connection") or "").lower() != "close", "the shim closed a keep-alive connection")
    finally:
        conn.close()


# ---- auth

def every_api_request(tenant):
    """One request of each API route and method for a tenant, with valid bodies."""
    t = tenant
    run = {"run_id": str(uuid.uuid4()), "resource_id": R_ORDERS, "pipeline_name": "orders-sync",
           "started_at": iso(now_minus(minutes=1))}
    off = offsets_body(R_ORDERS, "c", [{"offset_key": "k", "offset_val": "v"}])
    hist = history_body(R_ORDERS, "c", ["h"])
    return [("GET", "/health", None, "/health"), ("GET", "/info", None, "/info"),
            ("GET", f"/tenants/{t}/pipelines", None, "/tenants/{}/pipelines"),
            ("GET", f"/tenants/{t}/pipelines/{seg(R_ORDERS)}/runs", None, "/tenants/{}/pipelines/{}/runs"),
            ("GET", f"/tenants/{t}/pipelines/{seg(R_ORDERS)}/stats", None, "/tenants/{}/pipelines/{}/stats"),
            ("GET", f"/tenants/{t}/stats", None, "/tenants/{}/stats"),
            ("GET", f"/tenants/{t}/pipelines/{seg(R_ORDERS)}/series", None, "/tenants/{}/pipelines/{}/series"),
            ("GET", f"/tenants/{t}/cdc/offset-storage", None, "/tenants/{}/cdc/offset-storage"),
            ("GET", f"/tenants/{t}/cdc/schema-history", None, "/tenants/{}/cdc/schema-history"),
            ("POST", f"/tenants/{t}/pipeline/runs", run, "/tenants/{}/pipeline/runs"),
            ("GET", f"/tenants/{t}/pipeline/p1/state", None, "/tenants/{}/pipeline/{}/state"),
            ("POST", f"/tenants/{t}/pipeline/p1/state", {"state": 1}, "/tenants/{}/pipeline/{}/state"),
            ("GET", f"/tenants/{t}/pipeline/p1/offsets", None, "/tenants/{}/pipeline/{}/offsets"),
            ("POST", f"/tenants/{t}/pipeline/p1/offsets", off, "/tenants/{}/pipeline/{}/offsets"),
            ("GET", f"/tenants/{t}/pipeline/p1/schema-history", None, "/tenants/{}/pipeline/{}/schema-history"),
            ("POST", f"/tenants/{t}/pipeline/p1/schema-history", hist, "/tenants/{}/pipeline/{}/schema-history"),
            ("GET", f"/tenants/{t}/pipeline/p1/schema-history/exists", None,
             "/tenants/{}/pipeline/{}/schema-history/exists"),
            ("GET", f"/tenants/{t}/storage/health", None, "/tenants/{}/storage/health")]


def send(method, path, body, token=None, headers=None):
    return request(method, url(path), token=token, body=body, headers=headers)


@test
def unauthorized_without_valid_token():
    cases = [("no header", {}), ("unknown token", {"Authorization": "Bearer nilus_" + "0" * 64}),
             ("malformed token", {"Authorization": "Bearer hello"}),
             ("empty bearer", {"Authorization": "Bearer "}),
             ("basic scheme", {"Authorization": "Basic YWRtaW46YWRtaW4="}),
             ("token without scheme", {"Authorization": T["acme_all"]}),
             ("revoked token", {"Authorization": "Bearer " + T["revoked"]}),
             ("expired token", {"Authorization": "Bearer " + T["expired"]})]
    with Unchanged():
        for what, headers in cases:
            for method, path, body, _ in every_api_request("acme"):
                r = send(method, path, body, headers=headers)
                expect_error(r, 401, "unauthorized", what=f"{what} on {method} {path}")


@test
def forbidden_other_tenant_and_missing_right():
    with Unchanged():
        for method, path, body, _ in every_api_request("globex"):
            if path in ("/health", "/info"):
                continue
            r = send(method, path, body, token=T["acme_all"])
            expect_error(r, 403, "forbidden", what=f"acme token on {method} {path}")
        for method, path, body, route in every_api_request("acme"):
            token = T["acme_runtime"] if route in READ_ROUTES else T["acme_read"]
            r = send(method, path, body, token=token)
            expect_error(r, 403, "forbidden", what=f"token without the right on {method} {path}")


@test
def tokens_with_the_right_are_served():
    for method, path, body, route in every_api_request("acme"):
        for label in (["acme_read"] if route in READ_ROUTES else ["acme_runtime"]) + ["acme_all", "admin"]:
            if method == "POST":
                body = json.loads(json.dumps(body))
                if "run_id" in body:
                    body["run_id"] = str(uuid.uuid4())
            r = send(method, path, body, token=T[label])
            want = 404 if path.endswith("/p1/state") and method == "GET" else None
            if want:
                expect_error(r, 404, "not_found")
            else:
                check(r.status in (200, 201), f"{label} on {method} {path}: {r!r}")
                ok_json(r, r.status)


@test
def tenant_isolation_through_http():
    shared = "shared-pipeline"
    ok_json(post(f"/tenants/globex/pipeline/{shared}/offsets",
                 offsets_body("service:v1:shared:public", "g-conn",
                              [{"offset_key": "k", "offset_val": "globex-secret"}]), token="globex_all"), 201)
    ok_json(post(f"/tenants/globex/pipeline/{shared}/state", {"state": "globex-state"}, token="globex_all"), 201)
    ok_json(post(f"/tenants/globex/pipeline/{shared}/schema-history",
                 history_body("service:v1:shared:public", "g-conn", ["globex-ddl"]), token="globex_all"), 201)
    eq(ok_json(get(f"/tenants/acme/pipeline/{shared}/offsets"))["offsets"], [], "acme sees no globex offsets")
    expect_error(get(f"/tenants/acme/pipeline/{shared}/state"), 404, "not_found")
    eq(ok_json(get(f"/tenants/acme/pipeline/{shared}/schema-history/exists"))["exists"], False,
       "acme sees no globex history")
    body = ok_json(get("/tenants/acme/pipelines", {"limit": 1000}))
    eq(body["total"], db_int("SELECT count(*) FROM nilus.pipeline_run WHERE tenant = 'acme'"),
       "acme total counts acme only")
    globex_ids = {r["run_id"] for r in db_json("SELECT run_id FROM nilus.pipeline_run WHERE tenant = 'globex'")}
    check(not globex_ids & {i["run_id"] for i in body["pipelines"]}, "acme listing shows globex runs")
    body = ok_json(get(f"/tenants/acme/cdc/offset-storage", {"limit": 1000}))
    check(all(i["offset_val"] != "globex-secret" for i in body["offsets"]), "acme sees globex offsets")
    eq(ok_json(get(f"/tenants/globex/pipeline/{shared}/offsets", token="admin"))["offsets"][0]["offset_val"],
       "globex-secret", "admin sees every tenant")
    with Unchanged():
        run = {"run_id": str(uuid.uuid4()), "resource_id": R_ORDERS, "pipeline_name": "x",
               "started_at": iso(now_minus(minutes=3))}
        expect_error(post("/tenants/globex/pipeline/runs", run), 403, "forbidden")
        expect_error(post(f"/tenants/globex/pipeline/{shared}/state", {"state": "evil"}), 403, "forbidden")
        expect_error(get(f"/tenants/globex/pipeline/{shared}/offsets"), 403, "forbidden")
        expect_error(get("/tenants/nosuchtenant/pipelines"), 403, "forbidden")
    body = ok_json(get("/tenants/nosuchtenant/pipelines", token="admin"))
    eq((body["pipelines"], body["total"]), ([], 0), "admin on an empty tenant")


@test
def revoked_token_refused_within_5_seconds():
    token = psql("SELECT nilus.create_token('acme', ARRAY['read'], 'soon-revoked')")
    ok_json(get("/info", token=token))
    psql("SELECT nilus.revoke_token('soon-revoked')")
    revoked_at = time.monotonic()
    while True:
        r = get("/info", token=token)
        if r.status == 401:
            break
        check(time.monotonic() - revoked_at < 5.0, f"revoked token still served after 5 s: {r!r}")
        time.sleep(0.2)
    expect_error(get("/info", token=token), 401, "unauthorized")


# ---- routing and request errors

@test
def unknown_routes_are_404():
    for path in ["/nilus-manager/api/v1/nope", "/nilus-manager/api/v1/tenants/acme",
                 "/nilus-manager/api/v1/tenants/acme/unknown", "/nilus-manager/nope",
                 "/nilus-manager/api/v2/health",
                 "/nilus-manager/api/v1/tenants/acme/pipeline/p/state/extra",
                 "/nilus-manager/api/v1/tenants/acme/pipelines/r/runs/x"]:
        expect_error(request("GET", path, token=T["admin"]), 404, "not_found")


@test
def wrong_method_is_405_with_allow():
    with Unchanged():
        for route, methods in API_ROUTES.items():
            path = url(route.replace("{}", "acme", 1).replace("{}", "p1"))
            for method in ("GET", "POST", "PUT", "DELETE", "PATCH"):
                if method in methods:
                    continue
                r = request(method, path, token=T["admin"], body={} if method != "GET" else None)
                expect_error(r, 405, "method_not_allowed")
                allow = {m.strip() for m in (r.header("allow") or "").split(",") if m.strip()}
                check(methods <= allow and method not in allow,
                      f"{method} {route}: Allow {r.header('allow')!r} should list {sorted(methods)}")


@test
def unknown_query_parameter_is_named():
    with Unchanged():
        for route in API_ROUTES:
            path = route.replace("{}", "acme", 1).replace("{}", "p1")
            if "GET" not in API_ROUTES[route]:
                continue
            expect_error(get(path, {"colour": "blue"}, token="admin"), 400, "invalid_parameter", "colour",
                         mentions=["colour"])
        err = expect_error(get("/tenants/acme/pipelines", {"dataos_resource_id": R_ORDERS}), 400,
                           "invalid_parameter", "dataos_resource_id")
        check(re.search(r"(?<!dataos_)resource_id", err["message"]),
              f"the message should suggest resource_id: {err['message']!r}")


@test
def payload_over_default_max_body_is_413():
    path = url("/tenants/acme/pipeline/huge/schema-history")
    size = 8 * 1024 * 1024 + 4096
    filler = b'{"resource_id":"r","connector_name":"c","records":[{"history_data":"' + b"x" * size + b'"}]}'
    head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {T['acme_runtime']}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(filler)}\r\nConnection: close\r\n\r\n").encode()
    with Unchanged():
        status, reply = raw(head, body=filler, timeout=30)
        eq(status, 413, f"body over 8 MiB ({short(reply[:200])})")
        expect_error(parse_reply(reply), 413, "payload_too_large")
    shim_still_serves()


def parse_reply(reply):
    head, _, body = reply.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", ""):
        body = dechunk(body)
    return Resp(int(lines[0].split()[1]), headers, body)


def dechunk(data):
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2:]
    return out


@test
def wrong_content_type_is_415():
    run = json.dumps({"run_id": str(uuid.uuid4()), "resource_id": R_ORDERS, "pipeline_name": "x",
                      "started_at": iso(now_minus(minutes=1))})
    with Unchanged():
        for ctype in ("text/plain", "application/x-www-form-urlencoded", "application/xml"):
            r = request("POST", url("/tenants/acme/pipeline/runs"), token=T["acme_all"], body=run,
                        headers={"Content-Type": ctype})
            expect_error(r, 415, "unsupported_media_type")
    r = request("POST", url("/tenants/acme/pipeline/runs"), token=T["acme_all"], body=run,
                headers={"Content-Type": "application/json; charset=utf-8"})
    eq(ok_json(r)["created"], True, "application/json; charset=utf-8 is JSON")


@test
def bad_percent_encoding_and_nul_are_400():
    base = url("/tenants/acme/pipelines")
    with Unchanged():
        for query in ("run_as_user=%zz", "run_as_user=%", "run_as_user=ab%4", "run_as_user=%00",
                      "run_as_user=%ff%fe"):
            r = request("GET", f"{base}?{query}", token=T["acme_all"])
            expect_error(r, 400, "invalid_parameter", "run_as_user")
        for path in (API + "/tenants/ac%zzme/pipelines", API + "/tenants/acme%/pipelines",
                     API + "/tenants/ac%00me/pipelines", API + "/tenants/%ff/pipelines"):
            status, reply = raw(f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {T['admin']}\r\n"
                                f"Connection: close\r\n\r\n".encode())
            check(status is not None and 400 <= status < 500, f"GET {path}: {short(reply[:200])}")
    shim_still_serves()


@test
def overlong_uri_and_header_flood_are_4xx():
    cases = {
        "overlong path": f"GET {API}/tenants/{'a' * 100000}/pipelines HTTP/1.1\r\nHost: x\r\n"
                         f"Connection: close\r\n\r\n",
        "overlong query": f"GET {API}/tenants/acme/pipelines?run_as_user={'b' * 100000} HTTP/1.1\r\n"
                          f"Host: x\r\nAuthorization: Bearer {T['acme_all']}\r\nConnection: close\r\n\r\n",
        "header flood": f"GET {API}/info HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {T['acme_all']}\r\n"
                        + "".join(f"X-Flood-{i}: {'v' * 40}\r\n" for i in range(3000)) + "Connection: close\r\n\r\n",
        "huge header": f"GET {API}/info HTTP/1.1\r\nHost: x\r\nX-Big: {'h' * 200000}\r\n"
                       f"Authorization: Bearer {T['acme_all']}\r\nConnection: close\r\n\r\n",
    }
    for what, data in cases.items():
        status, reply = raw(data.encode())
        check(status is not None and 400 <= status < 500, f"{what}: {short(reply[:200])}")
        shim_still_serves()


@test
def garbage_requests_leave_the_shim_alive():
    status, reply = raw(b"GET / HTTP/9.9\r\n\r\n", timeout=5)
    check(status in (400, 505), f"an unknown HTTP version: {short(reply[:200])}")
    for data in (b"\x00\x01\x02garbage\r\n\r\n", b"GET\r\n\r\n",
                 b"POST " + url("/tenants/acme/pipeline/runs").encode() + b" HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Length: -5\r\n\r\n",
                 b"GET " + url("/info").encode() + b" HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n"):
        status, reply = raw(data, timeout=5)
        check(status is None or 400 <= status < 500, f"{short(data)}: {short(reply[:200])}")
        shim_still_serves()


def until_closed(data, port=None, timeout=10.0):
    """Sends bytes as they are and reads until the server closes (None: still open
    after timeout seconds)."""
    with socket.create_connection(("127.0.0.1", port or SHIM.port), timeout=timeout) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        reply = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return reply
                reply += chunk
        except ConnectionResetError:
            return reply
        except socket.timeout:
            return None


def expect_closing_error(data, status, code, what):
    """One JSON error, then the connection closed: nothing after it is read as a request."""
    started = time.monotonic()
    reply = until_closed(data)
    check(reply is not None, f"{what}: the connection was still open after 10 s")
    check(time.monotonic() - started < 5, f"{what}: the answer took {time.monotonic() - started:.1f}s")
    eq(reply.count(b"HTTP/1.1 "), 1, f"{what}: responses in {short(reply[:300])}")
    expect_error(parse_reply(reply), status, code)


def post_head(path, token, extra):
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\n{extra}\r\n").encode()


@test
def hundreds_of_query_parameters_are_a_json_400():
    base = url("/tenants/acme/pipelines")
    for what, query, parameter in (
            ("470 repeats", "&".join(["run_as_user=a"] * 470), "run_as_user"),
            ("470 unknown", "&".join(f"x{i}=1" for i in range(470)), "x0"),
            ("4000 bare names", "&".join(["a"] * 4000), "a")):
        r = request("GET", f"{base}?{query}", token=T["acme_all"])
        expect_error(r, 400, "invalid_parameter", parameter)
    r = request("GET", f"{base}?" + "&" * 3000 + "limit=2", token=T["acme_all"])
    eq(len(ok_json(r)["pipelines"]), 2, "empty arguments are skipped")
    shim_still_serves()


def chunked(body):
    return b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)


@test
def request_smuggling_framing_is_refused_and_closed():
    path = url("/tenants/acme/pipeline/smuggle/state")
    token = T["acme_runtime"]
    body = b'{"state": 1}'
    second = f"GET {url('/info')} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
    length = f"Content-Length: {len(body)}\r\n"
    cases = [
        ("two Content-Length headers", length + f"Content-Length: {len(body) + len(second)}\r\n", body),
        ("a repeated Content-Length", length * 2, body),
        ("Content-Length with Transfer-Encoding",
         f"Content-Length: {len(chunked(body)) + len(second)}\r\nTransfer-Encoding: chunked\r\n", chunked(body)),
        ("two Transfer-Encoding headers", "Transfer-Encoding: chunked\r\n" * 2, chunked(body)),
        ("a space before the colon", f"Content-Length : {len(body)}\r\n", body),
    ]
    with Unchanged():
        for what, headers, payload in cases:
            expect_closing_error(post_head(path, token, headers) + payload + second, 400, "bad_request", what)
    shim_still_serves()


@test
def unknown_transfer_codings_are_501_at_once():
    path = url("/tenants/acme/pipeline/codings/state")
    token = T["acme_runtime"]
    body = b'{"state": 1}'
    with Unchanged():
        for coding in ("gzip, chunked", "identity", "chunked, chunked"):
            expect_closing_error(post_head(path, token, f"Transfer-Encoding: {coding}\r\n") + body,
                                 501, "not_implemented", f"Transfer-Encoding: {coding}")
        expect_closing_error(post_head(path, token, f"Transfer-Encoding: identity\r\n"
                                                    f"Content-Length: {len(body)}\r\n") + body,
                             400, "bad_request", "identity with Content-Length")
    status, reply = raw(post_head(path, token, "Transfer-Encoding: Chunked\r\nConnection: close\r\n")
                        + chunked(body))
    eq(status, 201, f"a plain chunked body still works ({short(reply[:200])})")


@test
def nul_in_target_and_unknown_expectation_are_refused():
    token = T["acme_all"]
    for target in (url("/info") + "\0/../x", url("/tenants/acme/pipelines") + "?limit=1\0&x=1",
                   url("/info") + "\0HTTP/1.1"):
        expect_closing_error(f"GET {target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                             f"\r\n".encode(), 400, "bad_request", f"NUL in {target!r}")
    path = url("/tenants/acme/pipeline/expect/state")
    body = b'{"state": 2}'
    with Unchanged():
        expect_closing_error(post_head(path, token, f"Expect: weird\r\nContent-Length: {len(body)}\r\n")
                             + body, 417, "expectation_failed", "Expect: weird")
    with socket.create_connection(("127.0.0.1", SHIM.port), timeout=10) as s:
        s.sendall(post_head(path, token, f"Expect: 100-continue\r\nContent-Length: {len(body)}\r\n"
                                         f"Connection: close\r\n"))
        interim = s.recv(65536)
        check(interim.startswith(b"HTTP/1.1 100"), f"Expect: 100-continue: {short(interim)}")
        s.sendall(body)
        reply = read_response(s)
    ok_json(parse_reply(reply), 201)


def split_replies(data):
    """Responses read back to back from one connection, by their Content-Length."""
    replies = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?i)\r\ncontent-length: *(\d+)", head + b"\r\n").group(1))
        replies.append(parse_reply(head + b"\r\n\r\n" + rest[:length]))
        data = rest[length:]
    return replies


@test
def pipelined_requests_are_answered_in_order():
    """Requests sent back to back on one connection are answered in their order, one a
    refused body (its body dropped, the connection kept), until one asks to close."""
    token = T["acme_all"]
    body = b'{"state": 1}'
    requests = [
        f"GET {url('/info')} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n".encode(),
        f"POST {url('/tenants/acme/pipeline/p1/state')} HTTP/1.1\r\nHost: x\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body,
        f"GET {url('/nope')} HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
        f"GET {url('/tenants/acme/pipelines')}?limit=1 HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {token}\r\nConnection: close\r\n\r\n".encode(),
        f"GET {url('/info')} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n".encode(),
    ]
    with Unchanged():
        reply = until_closed(b"".join(requests))
    check(reply is not None, "the connection was still open after Connection: close")
    replies = split_replies(reply)
    eq([r.status for r in replies], [200, 401, 404, 200], "statuses, in order")
    eq(len(ok_json(replies[3])["pipelines"]), 1, "the listing's answer is the fourth")
    eq(replies[3].header("connection"), "close", "the last answer says it closes")
    reply = until_closed(f"GET {url('/info')} HTTP/1.0\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
    check(reply is not None, "an HTTP/1.0 connection without keep-alive was still open")
    ok_json(parse_reply(reply))


@test
def protocol_errors_are_json_and_close():
    """What is not HTTP as RFC 9112 writes it is answered by the shim's own parser: the right
    status, the SPEC's JSON error, the connection closed, the shim alive."""
    info = url("/info")
    post = url("/tenants/acme/pipeline/runs")
    # A chunked body is judged after its head passed: it needs a token and a JSON type.
    chunked_head = (f"POST {post} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {T['acme_runtime']}\r\n"
                    f"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    cases = [
        ("a 40 KB header", f"GET {info} HTTP/1.1\r\nHost: x\r\nX-Big: {'h' * 40000}\r\n\r\n", 431),
        ("3000 headers", f"GET {info} HTTP/1.1\r\nHost: x\r\n"
                         + "".join(f"X-F{i}: v\r\n" for i in range(3000)) + "\r\n", 431),
        ("101 headers", f"GET {info} HTTP/1.1\r\nHost: x\r\n"
                        + "".join(f"X-F{i}: v\r\n" for i in range(100)) + "\r\n", 431),
        ("a 40 KB target", f"GET {info}?{'a' * 40000} HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        ("a 9 KB target", f"GET {info}?{'a' * 9000} HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        ("a header line without colon", f"GET {info} HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", 400),
        ("obs-fold", f"GET {info} HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n", 400),
        ("a bare CR", f"GET {info} HTTP/1.1\r\nHost: x\r\nX-A: 1\r2\r\n\r\n", 400),
        ("a control byte in a value", f"GET {info} HTTP/1.1\r\nHost: x\r\nX-A: \x01\r\n\r\n", 400),
        ("no Host", f"GET {info} HTTP/1.1\r\n\r\n", 400),
        ("two Hosts", f"GET {info} HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400),
        ("two spaces in the request line", f"GET  {info} HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("a space in the target", f"GET {info} x HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("a method that is not a token", f"G(T {info} HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("Content-Length: -1", f"POST {post} HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
        ("Content-Length: abc", f"POST {post} HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400),
        ("Content-Length: 1, 1", f"POST {post} HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 1\r\n\r\n", 400),
        ("Content-Length: 10^22", f"POST {post} HTTP/1.1\r\nHost: x\r\nContent-Length: {10 ** 22}\r\n\r\n", 413),
        ("HTTP/9.9", f"GET {info} HTTP/9.9\r\nHost: x\r\n\r\n", 505),
        ("HTTP/1.x", f"GET {info} HTTP/1.x\r\nHost: x\r\n\r\n", 400),
        ("a bad chunk size", chunked_head + "zz\r\nabc\r\n0\r\n\r\n", 400),
        ("a chunk without its CRLF", chunked_head + "3\r\nabcd\r\n0\r\n\r\n", 400),
        ("a chunk size line ending in a bare LF", chunked_head + "3\nabc\r\n0\r\n\r\n", 400),
        ("a 2^64 chunk", chunked_head + f"{'f' * 17}\r\n", 413),
    ]
    codes = {400: "bad_request", 413: "payload_too_large", 414: "uri_too_long",
             431: "header_fields_too_large", 505: "http_version_not_supported"}
    for what, data, status in cases:
        expect_closing_error(data.encode("latin-1"), status, codes[status], what)
    shim_still_serves()


# ---- docs, OpenAPI, metrics

def norm_template(path):
    return re.sub(r"\{[^}]+\}", "{}", path)


def openapi_doc():
    r = request("GET", "/nilus-manager/openapi.json")
    check(r.status == 200, f"openapi.json: {r!r}")
    check((r.header("content-type") or "").startswith("application/json"), "openapi.json Content-Type")
    return r.json


def openapi_operations(doc):
    """(normalized API path, METHOD) -> (operation, path-level parameters)."""
    prefix = ""
    servers = doc.get("servers") or []
    if servers:
        prefix = urllib.parse.urlparse(servers[0].get("url", "")).path.rstrip("/")
    ops = {}
    for path, item in doc.get("paths", {}).items():
        full = path if path.startswith("/nilus-manager") else prefix + path
        if not full.startswith(API):
            continue
        for method, op in item.items():
            if method.upper() in ("GET", "POST", "PUT", "DELETE", "PATCH"):
                ops[(norm_template(full[len(API):]), method.upper())] = (op, item.get("parameters", []))
    return ops


def resolve(doc, obj):
    while isinstance(obj, dict) and "$ref" in obj:
        node = doc
        for part in obj["$ref"].lstrip("#/").split("/"):
            node = node[part]
        obj = node
    return obj


def op_parameters(doc, op, shared):
    params = [resolve(doc, p) for p in list(shared) + list(op.get("parameters", []))]
    return {p["name"]: p for p in params if isinstance(p, dict) and "name" in p}


@test
def openapi_lists_every_route_parameter_and_error():
    doc = openapi_doc()
    check(str(doc.get("openapi", "")).startswith("3.1"), f"openapi version {doc.get('openapi')!r}")
    check(isinstance(doc.get("info"), dict) and doc["info"].get("title"), "info.title")
    ops = openapi_operations(doc)
    for route, methods in API_ROUTES.items():
        for method in methods:
            check((route, method) in ops, f"openapi.json lacks {method} {route}")
            op, shared = ops[(route, method)]
            params = op_parameters(doc, op, shared)
            path_params = {n for n, p in params.items() if p.get("in") == "path"}
            eq(len(path_params), route.count("{}"), f"{method} {route}: path parameters")
            query = {n for n, p in params.items() if p.get("in") == "query"}
            eq(query, API_QUERY.get(route, set()), f"{method} {route}: query parameters")
            codes = set(str(c) for c in op.get("responses", {}))
            success = "201" if method == "POST" and route != "/tenants/{}/pipeline/runs" else "200"
            want = {success, "400", "401", "403", "503", "504"}
            if method == "POST":
                want |= {"413", "415"}
                body = resolve(doc, op.get("requestBody", {}))
                check("application/json" in body.get("content", {}), f"POST {route}: JSON request body")
            if route.endswith("/state") and method == "GET":
                want.add("404")
            check(want <= codes, f"{method} {route}: responses {sorted(codes)} lack {sorted(want - codes)}")


def valid_value(name, schema):
    known = {"limit": "10", "offset": "0", "is_success": "true", "period": "7d", "bucket": "1d",
             "started_at": "2026-01-01"}
    if name in known:
        return known[name]
    kind, fmt = schema.get("type"), schema.get("format")
    if kind == "integer":
        return "1"
    if kind == "boolean":
        return "false"
    if fmt == "date-time" or name.endswith(("_gte", "_lte")):
        return "2026-01-01T00:00:00Z"
    return "x"


@test
def openapi_parameters_are_accepted_and_others_refused():
    doc = openapi_doc()
    for (route, method), (op, shared) in openapi_operations(doc).items():
        if method != "GET":
            continue
        path = route.replace("{}", "acme", 1).replace("{}", seg(R_ORDERS))
        params = op_parameters(doc, op, shared)
        for name, p in params.items():
            if p.get("in") != "query":
                continue
            r = get(path, {name: valid_value(name, resolve(doc, p.get("schema", {})))}, token="admin")
            check(r.status in (200, 404), f"documented {name} refused on GET {route}: {r!r}")
        expect_error(get(path, {"not_documented": "1"}, token="admin"), 400, "invalid_parameter",
                     "not_documented")


JSON_TYPES = {"string": str, "boolean": bool, "number": (int, float), "object": dict,
              "null": type(None), "integer": int, "array": list}


def fits(value, schema):
    """Whether value has one of the schema's JSON types (bool is no number)."""
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    return any(isinstance(value, JSON_TYPES[k]) and not (k in ("number", "integer") and isinstance(value, bool))
               for k in kinds)


@test
def openapi_run_schema_is_the_stored_run():
    doc = openapi_doc()
    schemas = doc["components"]["schemas"]
    run_schema, input_schema = schemas["Run"], schemas["RunInput"]
    fields = set(run_schema["properties"])
    eq(set(run_schema.get("required", [])), fields, "Run: every field is always present")
    started = now_minus(minutes=20)
    full = {"run_id": str(uuid.uuid4()), "resource_id": R_USERS, "pipeline_name": "users-sync",
            "run_as_user": "erin", "started_at": iso(started), "finished_at": iso(started + timedelta(seconds=9)),
            "is_success": False, "duration_sec": 8.5, "error": "boom", "records": {"loaded": 3},
            "metadata": {"k": "v"}}
    eq(set(full), set(input_schema["properties"]), "RunInput lists every field of a full post")
    stored = ok_json(post("/tenants/acme/pipeline/runs", full))
    eq(set(stored) - {"created"}, fields, "a stored run's fields are Run's")
    listed = ok_json(get(f"/tenants/acme/pipelines/{seg(R_USERS)}/runs", {"started_at": iso(started)}))["runs"]
    running = dict((k, full[k]) for k in input_schema["required"])
    running["run_id"] = str(uuid.uuid4())
    listed.append(ok_json(post("/tenants/acme/pipeline/runs", running)))
    for item in [stored] + listed:
        for name, value in item.items():
            if name != "created":
                check(fits(value, run_schema["properties"][name]),
                      f"run field {name}={value!r} does not fit {run_schema['properties'][name]}")
    with Unchanged():
        for name in input_schema["required"]:
            body = {k: v for k, v in full.items() if k != name}
            expect_error(post("/tenants/acme/pipeline/runs", body), 400, "invalid_parameter", name)
    for name in set(input_schema["properties"]) - set(input_schema["required"]):
        body = {k: v for k, v in full.items() if k != name}
        body["run_id"] = str(uuid.uuid4())
        ok_json(post("/tenants/acme/pipeline/runs", body))


@test
def openapi_rights_are_the_enforced_ones():
    ops = openapi_operations(openapi_doc())
    only = {"read": "acme_read", "runtime": "acme_runtime"}
    for method, path, body, route in every_api_request("acme"):
        right = ops[(route, method)][0].get("x-nilus-right")
        eq(right, "read" if route in READ_ROUTES else "runtime", f"{method} {route}: documented right")
        other = "runtime" if right == "read" else "read"
        expect_error(send(method, path, body, token=T[only[other]]), 403, "forbidden")
        if method == "POST" and "run_id" in body:
            body = dict(body, run_id=str(uuid.uuid4()))
        r = send(method, path, body, token=T[only[right]])
        check(r.status != 403, f"{method} {path} with the documented right {right}: {r!r}")


@test
def openapi_names_a_tenant_only_where_the_path_has_one():
    for (route, method), (op, _) in openapi_operations(openapi_doc()).items():
        says = "the path's tenant" in op.get("description", "")
        eq(says, route.startswith("/tenants/{}"), f"{method} {route}: the description names the path's tenant")
        if not route.startswith("/tenants/"):
            for label in ("acme_read", "globex_all", "admin"):
                r = send(method, route, None, token=T[label])
                eq(r.status, 200, f"{method} {route} with the token {label}")


@test
def openapi_defaults_and_bounds_are_the_enforced_ones():
    doc = openapi_doc()
    for (route, method), (op, shared) in openapi_operations(doc).items():
        path = route.replace("{}", "acme", 1).replace("{}", seg(R_ORDERS))
        params = op_parameters(doc, op, shared)
        if "limit" in params:
            schema = resolve(doc, params["limit"]["schema"])
            eq(ok_json(get(path))["limit"], schema["default"], f"{route}: default limit")
            for good in (schema["minimum"], schema["maximum"]):
                eq(ok_json(get(path, {"limit": good}))["limit"], good, f"{route}: limit {good}")
            for bad in (schema["minimum"] - 1, schema["maximum"] + 1):
                expect_error(get(path, {"limit": bad}), 400, "invalid_parameter", "limit")
            offset = resolve(doc, params["offset"]["schema"])
            eq(ok_json(get(path))["offset"], offset["default"], f"{route}: default offset")
            expect_error(get(path, {"offset": offset["minimum"] - 1}), 400, "invalid_parameter", "offset")
        if "period" in params:
            schema = resolve(doc, params["period"]["schema"])
            eq(ok_json(get(path))["period"], schema["default"], f"{route}: default period")
            longest = re.search(r"at most (\d+)d", params["period"]["description"])
            check(longest, f"{route}: period description names its longest window")
            ok_json(get(path, {"period": f"{longest.group(1)}d"}))
            expect_error(get(path, {"period": f"{int(longest.group(1)) + 1}d"}), 400,
                         "invalid_parameter", "period")


class AssetLinks(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and attrs.get("src"):
            self.urls.append(attrs["src"])
        if tag == "link" and attrs.get("href"):
            self.urls.append(attrs["href"])
        if tag == "img" and attrs.get("src"):
            self.urls.append(attrs["src"])


@test
def docs_pages_are_served_offline():
    for page in ("/nilus-manager/docs", "/nilus-manager/redoc"):
        r = request("GET", page)
        check(r.status == 200, f"{page}: {r!r}")
        check((r.header("content-type") or "").startswith("text/html"), f"{page} Content-Type")
        text = r.body.decode("utf-8")
        parser = AssetLinks()
        parser.feed(text)
        check(any(u.endswith(".js") for u in parser.urls), f"{page} loads no script")
        for link in parser.urls:
            check(not re.match(r"(?i)^(https?:)?//", link), f"{page} loads {link} from the network")
            asset = urllib.parse.urljoin("http://h" + page, link)
            asset_path = urllib.parse.urlparse(asset).path
            ar = request("GET", asset_path)
            check(ar.status == 200 and len(ar.body) > 1000, f"{page}: asset {asset_path}: {ar!r}")
        check(not re.search(r"(?i)unpkg\.com|jsdelivr|cdnjs|googleapis", text), f"{page} references a CDN")
        check("openapi.json" in text, f"{page} does not load openapi.json")


@test
def entry_paths_redirect_to_the_docs():
    """/, /nilus-manager, /nilus-manager/ and /nilus-manager/docs/ answer 302 with a
    Location that resolves to /nilus-manager/docs (relative, so that it survives a
    proxy that moves the prefix), an empty body, for GET and HEAD; other methods 405."""
    base = f"http://127.0.0.1:{SHIM.port}"
    for path in ("/", "/nilus-manager", "/nilus-manager/", "/nilus-manager/docs/"):
        for method in ("GET", "HEAD"):
            r = request(method, path)
            eq(r.status, 302, f"{method} {path}: status")
            location = r.header("location") or ""
            check(not re.match(r"(?i)^[a-z]+:|^//", location), f"{method} {path}: Location {location!r} is not relative")
            eq(urllib.parse.urljoin(base + path, location), base + "/nilus-manager/docs",
               f"{method} {path}: Location {location!r} resolved")
            eq((r.body, r.header("content-length")), (b"", "0"), f"{method} {path}: body")
        target = urllib.parse.urlparse(urllib.parse.urljoin(base + path, request("GET", path).header("location"))).path
        r = request("GET", target)
        check(r.status == 200 and (r.header("content-type") or "").startswith("text/html"),
              f"{path} redirects to {target}, which answers {r!r}")
        r = request("POST", path, body={})
        eq((r.status, r.header("allow")), (405, "GET, HEAD"), f"POST {path}")
    eq(request("GET", "/nilus-manager/docs").status, 200, "the docs themselves are no redirect")


@test
def docs_path_traversal_refused():
    paths = ["/nilus-manager/docs/../../etc/passwd", "/nilus-manager/docs/%2e%2e/%2e%2e/etc/passwd",
             "/nilus-manager/docs/..%2f..%2f..%2fetc%2fpasswd", "/nilus-manager/docs/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
             "/nilus-manager/docs/%252e%252e%252fetc%252fpasswd", "/nilus-manager/docs/..%5c..%5cetc%5cpasswd",
             "/nilus-manager/docs/....//....//etc/passwd", "/nilus-manager/docs//etc/passwd",
             "/nilus-manager/docs/%2fetc%2fpasswd", "/nilus-manager/docs/..", "/nilus-manager/docs/.",
             "/nilus-manager/docs/../../../../../../../../etc/shadow",
             "/nilus-manager/docs/swagger-ui.css%00.js", "/nilus-manager/redoc/../../etc/passwd"]
    for path in paths:
        status, reply = raw(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        check(status is not None and 400 <= status < 500, f"GET {path}: {short(reply[:200])}")
        check(b"root:" not in reply, f"GET {path} leaked a system file")
    shim_still_serves()


def metrics_text(port=None):
    r = request("GET", "/metrics", port=port or SHIM.metrics_port)
    check(r.status == 200, f"/metrics: {r!r}")
    check((r.header("content-type") or "").startswith("text/plain"), f"/metrics Content-Type {r.header('content-type')}")
    return r.body.decode("utf-8")


SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)")


def samples(text):
    for line in text.splitlines():
        m = SAMPLE.match(line)
        if m and not line.startswith("#"):
            labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
            yield m.group(1), labels, float(m.group(4))


def info_requests(text):
    return sum(v for name, labels, v in samples(text)
               if name.endswith("requests_total") and labels.get("status", labels.get("code")) == "200"
               and any(val.endswith("/info") or val == "info" for val in labels.values()))


@test
def metrics_pass_promtool_and_count_requests():
    before = info_requests(metrics_text())
    for _ in range(5):
        ok_json(get("/info"))
    text = metrics_text()
    eq(info_requests(text) - before, 5, "requests_total for /info 200 counts each request")
    done = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    check(done.returncode == 0, f"promtool check metrics: {short(done.stdout + done.stderr)}")
    names = {name for name, _, _ in samples(text)}
    check(any(n.endswith("_bucket") and "request" in n for n in names), "a request latency histogram")
    check(any(n.endswith("_bucket") and ("db" in n or "database" in n) for n in names),
          "a database round-trip histogram")
    check(any("build_info" in n for n in names), "build info")
    check(any(("db" in n or "database" in n) and "error" in n for n in names), "database errors")
    pool = " ".join(f"{n}{l}" for n, l, _ in samples(text) if "pool" in n or "conn" in n)
    check("in_use" in pool or "inuse" in pool or "in-use" in pool, "pool in use gauge")
    check("idle" in pool, "pool idle gauge")
    routed = [l for n, l, _ in samples(text) if n.endswith("_bucket") and "request" in n]
    check(any("route" in l for l in routed), "latency histogram per route")


RETENTION_COLUMNS = {"rows_removed_total": "nilus_retention_rows_removed_total",
                     "last_rows_removed": "nilus_retention_last_rows_removed",
                     "pruned_at": "nilus_retention_last_prune_timestamp_seconds",
                     "interval_seconds": "nilus_retention_interval_seconds"}


def retention_in_sql():
    """nilus.retention_metrics() as /metrics should show it: {(family, kind): value}, NULLs left out."""
    rows = db_json("SELECT kind, rows_removed_total, last_rows_removed, "
                   "extract(epoch FROM last_pruned_at)::float8 AS pruned_at, interval_seconds "
                   "FROM nilus.retention_metrics()")
    return {(family, row["kind"]): float(row[column]) for row in rows
            for column, family in RETENTION_COLUMNS.items() if row[column] is not None}


def retention_in_metrics(text):
    return {(name, labels.get("kind")): value for name, labels, value in samples(text)
            if name in RETENTION_COLUMNS.values()}


def same_figures(shown, expected, what):
    eq(sorted(shown), sorted(expected), f"{what}: the retention samples")
    for key, value in expected.items():
        check(abs(shown[key] - value) < 1e-3, f"{what}: {key} is {shown[key]}, nilus.retention_metrics() says {value}")


@test
def metrics_show_what_retention_removed():
    """The retention families, with nilus.retention_metrics()'s figures, before and after
    CALL nilus.apply_retention() removes a tenant's old runs (on a Citus cluster: the
    coordinator's apply, the batches and their progress on the tenant's worker)."""
    text = metrics_text()
    for family, kind in (("nilus_retention_rows_removed_total", "counter"),
                         ("nilus_retention_last_rows_removed", "gauge"),
                         ("nilus_retention_last_prune_timestamp_seconds", "gauge"),
                         ("nilus_retention_interval_seconds", "gauge")):
        check(f"# TYPE {family} {kind}\n" in text and f"# HELP {family} " in text, f"HELP and TYPE of {family}")
    same_figures(retention_in_metrics(text), retention_in_sql(), "before a prune")
    before = retention_in_metrics(text).get(("nilus_retention_rows_removed_total", "runs"), 0)
    psql("SELECT nilus.store_run('metrics-ret', jsonb_build_object('run_id', gen_random_uuid(), 'resource_id', 'r', "
         "'pipeline_name', 'p', 'started_at', now() - interval '400 days' - i * interval '1 hour')) "
         "FROM generate_series(1, 4) i")
    psql("SELECT nilus.set_retention('metrics-ret', runs => '30 days')")
    try:
        psql("CALL nilus.apply_retention()")
        shown = retention_in_metrics(metrics_text())
        same_figures(shown, retention_in_sql(), "after a prune")
    finally:
        psql("SELECT nilus.clear_retention('metrics-ret')")
    eq(shown[("nilus_retention_rows_removed_total", "runs")] - before, 4, "runs removed, counted")
    eq(shown[("nilus_retention_last_rows_removed", "runs")], 4, "runs removed by the last apply")
    pruned = shown[("nilus_retention_last_prune_timestamp_seconds", "runs")]
    check(abs(time.time() - pruned) < 60, f"the last prune's time {pruned} is not now ({time.time()})")


def new_log_lines(shim, action):
    before = len(shim.log_path.read_text(errors="replace").splitlines())
    action()
    time.sleep(0.2)
    return shim.log_path.read_text(errors="replace").splitlines()[before:]


@test
def access_log_has_one_line_per_request():
    def three_requests():
        ok_json(get("/tenants/acme/pipeline/log-probe/offsets"))
        expect_error(get("/tenants/acme/pipeline/log-probe/state"), 404, "not_found")
        expect_error(get("/tenants/globex/pipeline/log-probe/offsets"), 403, "forbidden")
    lines = [l for l in new_log_lines(SHIM, three_requests) if re.search(r"\bGET\b", l)]
    eq(len(lines), 3, f"access log lines for 3 requests ({short(lines)})")
    # Each request may meet another loop, and loops write their lines independently:
    # each expected line must be there once, in whichever order.
    for route, status in (("/acme/pipeline/log-probe/offsets", "200"), ("/state", "404"),
                          ("/globex/pipeline/log-probe/offsets", "403")):
        found = [l for l in lines if route in l and re.search(rf"\b{status}\b", l)]
        check(len(found) == 1, f"one log line with {route} {status} expected: {short(lines)}")
        check(re.search(r"\d(\.\d+)?\s*(ms|s)\b", found[0]), f"log line {found[0]!r} lacks a duration")


GENERATED_ID = re.compile(r"[0-9a-f]{32}")


def log_line_of(lines, request_id):
    found = [l for l in lines if f"id={request_id} " in l + " "]
    check(len(found) == 1, f"{len(found)} log lines carry the id {request_id}: {short(lines)}")
    return found[0]


@test
def access_log_shows_the_real_path_query_and_request_id():
    """Text lines: the path and query as sent (not the route's template), the status,
    the body's bytes, the request id (the client's, or one of ours echoed in
    X-Request-Id on every answer, errors included), the client and the tenant."""
    own = f"probe-{uuid.uuid4()}"
    path = f"/tenants/acme/pipelines/{seg(R_ORDERS)}/runs"
    query = "limit=2&is_success=false"
    answers = {}

    def requests():
        answers["own"] = request("GET", f"{API}{path}?{query}", token=T["acme_all"],
                                 headers={"X-Request-Id": own})
        answers["ours"] = get("/tenants/acme/pipelines", {"limit": 1})
        answers["other"] = get("/tenants/acme/pipelines", {"limit": 1})
        answers["404"] = request("GET", "/no/such/route?x=1")
        answers["401"] = request("GET", url("/tenants/acme/pipelines"))
        answers["405"] = request("DELETE", url("/tenants/acme/pipelines"), token=T["acme_all"])
        answers["400"] = get("/tenants/acme/pipelines", {"limit": "many"})
        answers["414"] = request("GET", url("/health") + "?" + "x" * 9000)
    lines = new_log_lines(SHIM, requests)
    eq(answers["own"].header("x-request-id"), own, "the client's X-Request-Id is echoed")
    line = log_line_of(lines, own)
    check(f" GET {API}{path}?{query} 200 " in line, f"the line shows the path and query as sent: {line!r}")
    check(f" {len(answers['own'].body)}B " in line, f"the line shows the body's bytes: {line!r}")
    check("client=127.0.0.1" in line and "tenant=acme" in line, f"client and tenant: {line!r}")
    ids = {k: r.header("x-request-id") for k, r in answers.items()}
    for name in ("ours", "other", "404", "401", "405", "400", "414"):
        check(GENERATED_ID.fullmatch(ids[name] or ""), f"the {name} answer's X-Request-Id {ids[name]!r}")
        status = answers[name].status if name not in ("ours", "other") else 200
        check(f" {status} " in log_line_of(lines, ids[name]), f"the {name} line lacks its status")
    check(ids["ours"] != ids["other"], "two requests got the same id")
    check(" /no/such/route?x=REDACTED 404 " in log_line_of(lines, ids["404"]), "the unmatched path's line")


@test
def access_log_redacts_what_could_be_a_secret():
    """The token is in the Authorization header and never logged; a query parameter
    the route does not declare (where a client may put a secret) is logged as
    REDACTED, a declared one as sent."""
    secret = f"s3cr3t{uuid.uuid4().hex}"
    answers = []

    def requests():
        for query in (f"limit=1&access_token={secret}", f"api_key={secret}&limit=1", secret,
                      f"password=x{secret}&token={secret}"):
            answers.append(request("GET", f"{url('/tenants/acme/pipelines')}?{query}", token=T["acme_all"]))
        answers.append(request("GET", f"/nowhere?token={secret}"))
    lines = new_log_lines(SHIM, requests)
    for r in answers:
        check(r.status in (400, 404), f"a query with an unknown parameter: {r!r}")
    text = SHIM.log_path.read_text(errors="replace")
    check(secret not in text, "a secret of the query string reached the log")
    check(T["acme_all"] not in text, "a bearer token reached the log")
    got = [log_line_of(lines, r.header("x-request-id")) for r in answers]
    for line, shown in zip(got, ("?limit=1&access_token=REDACTED ", "?api_key=REDACTED&limit=1 ", "?REDACTED ",
                                 "?password=REDACTED&token=REDACTED ", "/nowhere?token=REDACTED ")):
        check(shown in line, f"{line!r} does not show {shown!r}")


@test
def hostile_request_ids_are_replaced():
    """An X-Request-Id that is too long or holds anything but letters, digits and
    -_.:+/=@ is replaced by one of ours, in the answer and in the log; it never
    reaches the log as sent."""
    hostile = [b"x" * 129, b'abc"def', b"abc def", b"abc\tdef", b"abc\\def", b"ab'c", b"id\x7f",
               b"caf\xc3\xa9", b"a;b", b"{\"json\":1}", b"%0d%0aX-Injected: 1", b"<script>"]
    malformed = {b"id\x7f"}  # a control byte in a field value: the parser refuses the request
    accepted = [b"a", b"A" * 128, b"req-1_2.3:4+5/6=7@8"]
    answers = {}

    def requests():
        for value in hostile + accepted:
            status, reply = raw(b"GET " + url("/health").encode() + b" HTTP/1.1\r\nHost: x\r\n"
                                b"Authorization: Bearer " + T["acme_read"].encode() + b"\r\n"
                                b"X-Request-Id: " + value + b"\r\nConnection: close\r\n\r\n")
            check(status == (400 if value in malformed else 200),
                  f"X-Request-Id {value!r}: {short(reply[:200])}")
            answers[value] = parse_reply(reply).header("x-request-id")
    lines = new_log_lines(SHIM, requests)
    text = "\n".join(lines)
    for value in hostile:
        echoed = answers[value] or ""
        check(GENERATED_ID.fullmatch(echoed), f"X-Request-Id {value!r} came back as {echoed!r}")
        log_line_of(lines, echoed)
        check(value.decode("latin-1") not in text, f"X-Request-Id {value!r} reached the log")
    for value in accepted:
        eq(answers[value], value.decode(), "a sane X-Request-Id is kept")
        log_line_of(lines, value.decode())


@test
def protocol_errors_echo_the_request_id():
    """The connection layer's own refusals carry X-Request-Id too: the client's when
    the head was parsed as far as that field, else one of ours; each is one log line
    `- - <status>` with that id."""
    tag = uuid.uuid4().hex[:8]
    get_line = f"GET {url('/health')} HTTP/1.1\r\nHost: x\r\n"
    cases = {  # name: (request, status, whether the client's id comes back)
        "two lengths": (f"POST {url('/health')} HTTP/1.1\r\nHost: x\r\nX-Request-Id: {tag}-a\r\n"
                        "Content-Length: 1\r\nContent-Length: 1\r\n\r\n", 400, True),
        "gzip": (f"POST {url('/health')} HTTP/1.1\r\nHost: x\r\nX-Request-Id: {tag}-b\r\n"
                 "Transfer-Encoding: gzip, chunked\r\n\r\n", 501, True),
        "fold after": (get_line + f"X-Request-Id: {tag}-c\r\nX-A: 1\r\n folded\r\n\r\n", 400, True),
        "expect": (get_line + f"X-Request-Id: {tag}-d\r\nExpect: later\r\n\r\n", 417, True),
        "fold before": (get_line + f"X-A: 1\r\n folded\r\nX-Request-Id: {tag}-e\r\n\r\n", 400, False),
        "version": (f"GET {url('/health')} HTTP/9.9\r\nHost: x\r\nX-Request-Id: {tag}-f\r\n\r\n", 505, False),
        "bad field": (get_line + f"X-Request-Id: {tag}-g\r\nX-B: a\x01b\r\n\r\n", 400, True),
    }
    replies = {}

    def requests():
        for name, (head, _, _) in cases.items():
            replies[name] = raw(head.encode())[1]
    lines = new_log_lines(SHIM, requests)
    for name, (head, status, echoed) in cases.items():
        reply = parse_reply(replies[name])
        eq(reply.status, status, f"{name}: {short(replies[name][:200])}")
        sent = re.search(r"X-Request-Id: (\S+)", head).group(1)
        got = reply.header("x-request-id") or ""
        if echoed:
            eq(got, sent, f"{name}: the client's X-Request-Id is echoed")
        else:
            check(GENERATED_ID.fullmatch(got), f"{name}: X-Request-Id {got!r} is not one of ours")
        line = log_line_of(lines, got)
        check(f" - - {status} " in line and "client=127.0.0.1" in line, f"{name}: {line!r}")


@test
def json_access_log_lines_parse():
    """--log-format json (here NILUS_LOG_FORMAT=json): every access log line is one
    JSON object with the documented fields, hostile paths and ids included."""
    shim = Shim("json-log", env={"NILUS_LOG_FORMAT": "json"})
    shim.start()
    try:
        def requests():
            request("GET", f"{url('/tenants/acme/pipelines')}?limit=1&token=x", token=T["acme_all"],
                    headers={"X-Request-Id": "json-probe-1"}, port=shim.port)
            request("GET", url("/tenants/acme/pipelines") + "?limit=1", token=T["acme_all"],
                    headers={"X-Request-Id": "json-probe-2"}, port=shim.port)
            # Bytes outside ASCII are the parser's 400 (protocol_errors_echo_the_request_id).
            raw(b'GET /a"b\\c%22/%ff{} HTTP/1.1\r\nHost: x\r\nX-Request-Id: "q"\r\nConnection: close\r\n\r\n',
                port=shim.port)
            request("HEAD", "/nilus-manager/docs", port=shim.port)
        lines = [l for l in new_log_lines(shim, requests) if not l.startswith("nilus-manager")]
    finally:
        shim.stop()
    check(len(lines) == 4, f"4 access log lines expected: {short(lines)}")
    entries = []
    for line in lines:
        try:
            entries.append(json.loads(line))
        except ValueError:
            raise Failure(f"not a JSON line: {line!r}")
    fields = {"time": str, "request_id": str, "method": str, "path": str, "query": (str, type(None)),
              "status": int, "bytes": int, "duration_ms": (int, float), "client": (str, type(None)),
              "tenant": (str, type(None)), "aborted": bool}
    for entry in entries:
        eq(set(entry), set(fields), "the fields of a JSON line")
        for name, kind in fields.items():
            check(isinstance(entry[name], kind), f"{name} of {entry}")
        check(datetime.fromisoformat(entry["time"].replace("Z", "+00:00")).tzinfo is not None,
              f"time {entry['time']!r} is not RFC 3339")
    # The four requests may meet different loops, whose lines need not keep their order.
    def entry(what, pick):
        found = [e for e in entries if pick(e)]
        check(len(found) == 1, f"one line for {what} expected: {entries}")
        return found[0]
    first = entry("json-probe-1", lambda e: e["request_id"] == "json-probe-1")
    second = entry("json-probe-2", lambda e: e["request_id"] == "json-probe-2")
    hostile = entry("the hostile request", lambda e: e["path"].startswith("/a"))
    head = entry("the HEAD request", lambda e: e["method"] == "HEAD")
    eq((first["request_id"], first["method"], first["path"], first["query"], first["status"],
        first["tenant"], first["client"]),
       ("json-probe-1", "GET", API + "/tenants/acme/pipelines", "limit=1&token=REDACTED", 400, "acme",
        "127.0.0.1"), "the first line")
    eq((second["status"], second["query"]), (200, "limit=1"), "the second line")
    check(second["bytes"] > 50, f"the second line's bytes: {second}")
    check(GENERATED_ID.fullmatch(hostile["request_id"]), f"the hostile id was kept: {hostile}")
    eq((hostile["status"], hostile["tenant"]), (404, None), "the hostile path's line")
    check(hostile["path"].startswith('/a"b\\c%22/'), f"the hostile path as logged: {hostile['path']!r}")
    eq((head["method"], head["status"], head["bytes"], head["query"]), ("HEAD", 200, 0, None), "the HEAD line")


@test
def readiness_requires_matching_extension_version():
    def readiness_becomes(status):
        deadline = time.monotonic() + 6
        while request("GET", "/readiness", port=SHIM.metrics_port).status != status:
            check(time.monotonic() < deadline, f"/readiness did not turn {status}")
            time.sleep(0.2)
    def ready_gauge():
        return [v for name, _, v in samples(metrics_text()) if name == "nilus_manager_ready"]
    version = db_scalar("SELECT extversion FROM pg_extension WHERE extname = 'nilus'")
    psql("UPDATE pg_extension SET extversion = '0.0.1-other' WHERE extname = 'nilus'")
    try:
        readiness_becomes(503)
        eq(ready_gauge(), [0.0], "nilus_manager_ready while the versions differ")
    finally:
        psql(f"UPDATE pg_extension SET extversion = {lit(version)} WHERE extname = 'nilus'")
    readiness_becomes(200)
    eq(ready_gauge(), [1.0], "nilus_manager_ready once they match")


MONITORING_FILES = [REPO / "contrib" / "grafana" / "nilus-manager.json",
                    REPO / "contrib" / "prometheus" / "nilus-manager-rules.yml"]


@test
def monitoring_files_use_exported_metrics():
    """The Grafana dashboard and the alerting rules query only series /metrics has."""
    ok_json(get("/info"))       # so that every family has samples
    text = metrics_text()
    # A retention family has no sample for a kind no policy limits: declared is enough.
    exported = {name for name, _, _ in samples(text)} | set(re.findall(r"^# TYPE (nilus_retention_\w+)", text, re.M))
    for path in MONITORING_FILES:
        used = set(re.findall(r"\b(nilus_(?:manager|retention)_[a-z_]+)", path.read_text()))
        check(used, f"{path.name} queries no nilus_manager series")
        eq(sorted(used - exported), [], f"series {path.name} queries that /metrics does not export")


@test
def metrics_listener_probes():
    r = request("GET", "/health", port=SHIM.metrics_port)
    eq(r.status, 200, "metrics /health")
    r = request("GET", "/readiness", port=SHIM.metrics_port)
    eq(r.status, 200, "metrics /readiness")
    r = request("GET", "/metrics", port=SHIM.port)
    check(r.status == 404, f"/metrics is not on the API listener: {r!r}")


# ---- a second shim: environment variables and a small --max-body

@test
def env_configured_shim_enforces_small_max_body():
    small = Shim("small-body", via_env=True)
    os.environ["NILUS_MAX_BODY"] = "1024"
    try:
        small.start()
    finally:
        del os.environ["NILUS_MAX_BODY"]
    try:
        path = url("/tenants/acme/pipeline/small/state")
        fits = json.dumps({"state": "x" * 900})
        too_big = json.dumps({"state": "x" * 1100})
        with Unchanged():
            r = request("POST", path, token=T["acme_all"], body=too_big, port=small.port)
            expect_error(r, 413, "payload_too_large")
            head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {T['acme_all']}\r\n"
                    f"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
            chunks = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in
                              [too_big[i:i + 300].encode() for i in range(0, len(too_big), 300)]) + b"0\r\n\r\n"
            status, reply = raw(head.encode(), port=small.port, body=chunks)
            eq(status, 413, f"a chunked body over --max-body ({short(reply[:200])})")
        r = request("POST", path, token=T["acme_all"], body=fits, port=small.port)
        ok_json(r, 201)
        eq(small.stop(), 0, "exit status after SIGTERM")
    finally:
        small.stop()


def still_open(sock):
    """True while the server has not closed sock (a silent connection)."""
    try:
        return select.select([sock], [], [], 0)[0] == [] or sock.recv(1, socket.MSG_PEEK) != b""
    except ConnectionResetError:
        return False


def closed_within(sock, seconds):
    """Waits for the server to close sock; the seconds it took, or None."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if not still_open(sock):
            return time.monotonic() - started
        time.sleep(0.05)
    return None


def trickle_until_answered(sock, piece):
    """Sends piece(i) every 0.5 s until the server answers; the answer up to the close, or None
    when none came within 6 s."""
    for i in range(12):
        try:
            sock.sendall(piece(i))
        except (BrokenPipeError, ConnectionResetError):
            pass
        if select.select([sock], [], [], 0.5)[0]:
            reply = b""
            try:
                while chunk := sock.recv(65536):
                    reply += chunk
            except ConnectionResetError:
                pass
            return reply
    return None


def connect(shim):
    s = socket.create_connection(("127.0.0.1", shim.port), timeout=10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    return s


@test
def connection_flood_makes_room_for_new_clients_idle_first():
    # One loop: a loop makes room among its own connections (README), which this test counts.
    os.environ.update(NILUS_MAX_CONNECTIONS="40", NILUS_MAX_CONNECTIONS_PER_CLIENT="0", NILUS_LOOPS="1")
    flood = Shim("flood", via_env=True)
    try:
        flood.start()
    finally:
        for variable in ("NILUS_MAX_CONNECTIONS", "NILUS_MAX_CONNECTIONS_PER_CLIENT", "NILUS_LOOPS"):
            del os.environ[variable]
    silent, idle = [], []
    try:
        silent = [connect(flood) for _ in range(30)]
        for _ in range(10):
            conn = http.client.HTTPConnection("127.0.0.1", flood.port, timeout=10)
            ok_json(get("/info", conn=conn, port=flood.port))
            idle.append(conn)
        time.sleep(0.3)
        ok_json(get("/info", port=flood.port))
        time.sleep(0.3)
        eq(sum(not still_open(c.sock) for c in idle), 1, "idle keep-alive connections closed for "
                                                        "the 41st connection")
        eq(sum(not still_open(s) for s in silent), 0, "connections still sending a first head closed "
                                                      "while an idle one was left")
        silent += [connect(flood) for _ in range(100)]
        for _ in range(3):
            ok_json(get("/info", port=flood.port, timeout=5))
        eq(flood.stop(), 0, "exit status after SIGTERM")
    finally:
        for c in silent:
            c.close()
        for c in idle:
            c.close()
        flood.stop()


@test
def slow_heads_and_bodies_are_cut_at_their_deadline():
    slow = Shim("slow", extra=["--header-timeout", "2", "--body-timeout", "2",
                               "--max-connections-per-client", "6"])
    slow.start()
    try:
        drip = connect(slow)
        drip.sendall(f"GET {url('/info')} HTTP/1.1\r\nHost: x\r\n".encode())
        reply = trickle_until_answered(drip, lambda i: f"X-Drip-{i}: 1\r\n".encode())
        check(reply is not None, "a head sent one line every 0.5 s was still being read after 6 s")
        expect_error(parse_reply(reply), 408, "request_timeout")
        check(GENERATED_ID.fullmatch(parse_reply(reply).header("x-request-id") or ""),
              "the 408 of a slow head has no request id of ours")
        path = url("/tenants/acme/pipeline/slow-body/state")
        with Unchanged():
            body = connect(slow)
            body.sendall(post_head(path, T["acme_runtime"], "X-Request-Id: slow-body-1\r\n"
                                   "Content-Length: 100\r\n") + b'{"state": ')
            reply = trickle_until_answered(body, lambda i: b" ")
            check(reply is not None, "a body sent a byte every 0.5 s was still being read after 6 s")
            expect_error(parse_reply(reply), 408, "request_timeout")
            eq(parse_reply(reply).header("x-request-id"), "slow-body-1",
               "the 408 of a slow body echoes the request id")
        idle = http.client.HTTPConnection("127.0.0.1", slow.port, timeout=10)
        ok_json(get("/info", conn=idle, port=slow.port))
        check(closed_within(idle.sock, 5) is not None, "an idle keep-alive connection outlived "
                                                       "--header-timeout")
        # Two loops accept at once, so which of seven connections is the seventh is theirs to
        # say: one of them, and only one, is closed.
        seven = [connect(slow) for _ in range(7)]
        refused = wait_until("a connection closed of 7 from one address with --max-connections-per-client 6",
                             lambda: [c for c in seven if not still_open(c)], 2)
        eq(len(refused), 1, "connections closed of 7 from one address with --max-connections-per-client 6")
        for c in seven + [drip, body]:
            c.close()
        deadline = time.monotonic() + 10
        while True:  # the shim counts the closed ones out as it sees them close
            try:
                ok_json(get("/info", port=slow.port))
                break
            except OSError as e:
                check(time.monotonic() < deadline, f"no connection 10 s after the others closed: {e}")
                time.sleep(0.1)
    finally:
        slow.stop()


@test
def liveness_fails_while_the_api_loop_is_stuck():
    """The access log goes to a pipe nobody reads: once it is full, the loop blocks writing."""
    stuck = Shim("stuck", extra=["--loops", "2"])
    argv, env = stuck.command()
    stuck.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    drained = threading.Event()
    try:
        stuck.wait_ready()
        eq(request("GET", "/health", port=stuck.metrics_port).status, 200, "/health while turning")
        for _ in range(20000):
            try:
                request("GET", url("/nope" + "x" * 200), port=stuck.port, timeout=1)
            except OSError:
                break
        r = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            r = request("GET", "/health", port=stuck.metrics_port, timeout=5)
            if r.status == 503:
                break
            time.sleep(0.5)
        expect_error(r, 503, "stalled")
        threading.Thread(target=lambda: (stuck.proc.stderr.read(), drained.set()), daemon=True).start()
        deadline = time.monotonic() + 10
        while request("GET", "/health", port=stuck.metrics_port, timeout=5).status != 200:
            check(time.monotonic() < deadline, "/health still 503 after the loop could go on")
            time.sleep(0.2)
    finally:
        stuck.proc.send_signal(signal.SIGTERM)
        if not drained.is_set():
            threading.Thread(target=stuck.proc.stderr.read, daemon=True).start()
        try:
            stuck.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            stuck.proc.kill()
            stuck.proc.wait()


def tls_context(cafile, version):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile)
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # the client offers old versions: the server must refuse
    ctx.minimum_version = ctx.maximum_version = version
    return ctx


@test
def tls_serves_1_2_and_1_3_only():
    cert, key = TMP / "cert.pem", TMP / "key.pem"
    made = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                           "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
                           "-keyout", str(key), "-out", str(cert)], capture_output=True, text=True)
    check(made.returncode == 0, f"openssl req: {short(made.stderr)}")
    tls = Shim("tls", extra=["--tls-cert", str(cert), "--tls-key", str(key), "--loops", "2"])
    tls.start()
    try:
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            conn = http.client.HTTPSConnection("127.0.0.1", tls.port, timeout=10,
                                               context=tls_context(cert, version))
            info = ok_json(get("/info", conn=conn))
            check(any(isinstance(v, str) and "nilus" in v for v in info.values()), f"/info: {short(info)}")
            eq(conn.sock.version(), version.name.replace("_", "."), "negotiated version")
            conn.close()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            old = (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1)
        for version in old:
            conn = http.client.HTTPSConnection("127.0.0.1", tls.port, timeout=10,
                                               context=tls_context(cert, version))
            try:
                r = get("/info", conn=conn)
                raise Failure(f"{version.name} was accepted: {r!r}")
            except ssl.SSLError:
                pass
            finally:
                conn.close()
        # Connections spread over both loops: every one has the certificate.
        for _ in range(16):
            conn = http.client.HTTPSConnection("127.0.0.1", tls.port, timeout=10,
                                               context=tls_context(cert, ssl.TLSVersion.TLSv1_3))
            ok_json(get("/info", conn=conn))
            conn.close()
        status, reply = raw(f"GET {url('/info')} HTTP/1.1\r\nHost: x\r\n\r\n".encode(), port=tls.port)
        eq(status, None, f"plain HTTP on the TLS port ({short(reply[:100])})")
    finally:
        tls.stop()
    for flags in (["--tls-cert", str(cert)], ["--tls-cert", str(cert), "--tls-key", str(TMP / "none.pem")]):
        done = subprocess.run([BIN, "--dsn", dsn(), "--listen", f"127.0.0.1:{free_port()}",
                               "--metrics-listen", f"127.0.0.1:{free_port()}", *flags],
                              capture_output=True, text=True, timeout=5)
        check(done.returncode != 0 and "tls-" in done.stderr, f"{flags}: {short(done.stderr)}")


@test
def sigterm_finishes_the_request_in_flight():
    shim = Shim("graceful")
    shim.start()
    try:
        path = url("/tenants/acme/pipeline/graceful-stop/state")
        body = json.dumps({"state": {"note": "sent around a SIGTERM", "pad": "p" * 2000}}).encode()
        head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {T['acme_runtime']}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n")
        with socket.create_connection(("127.0.0.1", shim.port), timeout=20) as s:
            s.sendall(head.encode() + body[:1000])
            time.sleep(0.3)
            shim.proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            s.sendall(body[1000:])
            reply = read_response(s)
        r = parse_reply(reply) if reply else None
        check(r is not None and r.status == 201, f"the request in flight at SIGTERM: {short(reply[:200])}")
        eq(db_int("SELECT count(*) FROM nilus.pipeline_state WHERE tenant = 'acme' "
                  "AND pipeline_name = 'graceful-stop'"), 1, "the request in flight committed")
        try:
            code = shim.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            code = "still running"
        eq(code, 0, "exit status after SIGTERM")
    finally:
        shim.stop()


@test
def occupied_listen_port_is_an_error():
    """A second instance on a port in use must fail, not share the port unnoticed."""
    other = Shim("port-taken")
    other.port = SHIM.port
    argv, env = other.command()
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=5)
    except subprocess.TimeoutExpired:
        raise Failure(f"a second shim started on the API port {SHIM.port} in use")
    check(done.returncode != 0, "a second shim on a port in use exited 0")
    shim_still_serves()


def command_line(pid):
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").replace("\0", " ")


@test
def secrets_stay_off_the_command_line():
    """The password reaches the shim from --dsn-file, NILUS_DSN_FILE, NILUS_DSN or libpq's
    password file, never through argv; one given in --dsn anyway works, is warned about
    on stderr, and is blanked from the process's command line."""
    check(ROLE_PASSWORD not in command_line(SHIM.proc.pid), "the suite's shim has the password on argv")
    for name, kwargs in (("dsn-file-env", {"via_env": True}), ("passfile", {"dsn": "passfile"}),
                         ("dsn-env", {"dsn": "plain", "via_env": True}), ("dsn-argv", {"dsn": "plain"})):
        shim = Shim(name, **kwargs)
        shim.start()
        try:
            ok_json(get("/tenants/acme/pipelines", {"limit": 1}, port=shim.port))
            check(ROLE_PASSWORD not in command_line(shim.proc.pid),
                  f"{name}: the password is on the command line: {command_line(shim.proc.pid)}")
            warned = re.search(r"warning: --dsn holds a password.*(PGPASSFILE|--dsn-file)",
                               shim.log_path.read_text(errors="replace"))
            eq(bool(warned), name == "dsn-argv", f"{name}: a warning about a password on the command line")
        finally:
            shim.stop()
    for flags, says in ((["--dsn-file", str(TMP / "no-such-dsn")], "No such file"),
                        (["--dsn-file", str(secret_file("empty-dsn", "\n"))], "connection string"),
                        (["--dsn-file", str(secret_file("dsn", dsn())), "--dsn", dsn(password=False)],
                         "either a DSN")):
        done = subprocess.run([BIN, "--listen", f"127.0.0.1:{free_port()}", "--metrics-listen", "none",
                               *flags], capture_output=True, text=True, timeout=5)
        check(done.returncode == 2 and "--dsn-file" in done.stderr and says in done.stderr,
              f"{flags}: exit {done.returncode}: {short(done.stderr)}")


@test
def bad_flags_are_refused():
    for flag, value in (("--threads", "0"), ("--max-body", "lots"), ("--listen", "nowhere"),
                        ("--metrics-listen", "127.0.0.1:99999"), ("--threads", "-2"),
                        ("--max-connections", "0"), ("--max-connections-per-client", "x"),
                        ("--header-timeout", "0"), ("--body-timeout", "1e3"),
                        ("--request-timeout", "0"), ("--request-timeout", "2.5s"),
                        ("--log-format", "xml"), ("--log-format", "JSON"),
                        ("--loops", "0"), ("--loops", "two"), ("--loops", "257"), ("--loops", "-1")):
        try:
            done = subprocess.run([BIN, "--dsn", dsn(), "--listen", f"127.0.0.1:{free_port()}",
                                   "--metrics-listen", f"127.0.0.1:{free_port()}", flag, value],
                                  capture_output=True, text=True, timeout=5)
        except subprocess.TimeoutExpired:
            raise Failure(f"{flag} {value} was accepted")
        check(done.returncode != 0, f"{flag} {value}: exit status 0")
        check(flag.lstrip("-") in done.stderr, f"{flag} {value}: the error does not name the flag: "
                                              f"{short(done.stderr)}")


# ---- event loops (--loops)

def loop_cpu(pid):
    """Nanoseconds on a CPU of each API loop thread (named nilus-loop-N), from
    /proc/<pid>/task/<tid>/schedstat."""
    spent = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            nanoseconds = int((task / "schedstat").read_text().split()[0])
        except OSError:
            continue
        if name.startswith("nilus-loop-"):
            spent[name] = nanoseconds
    return spent


@test
def every_loop_serves_and_metrics_count_every_request():
    """The suite's shim runs --loops 2: 40 connections at once, 5 requests each on
    keep-alive, all answered with their own body; the kernel spreads the connections
    over both loops (each loop's CPU time is at least a tenth of the busiest one's, where
    a loop that only woke up idle would have next to none: of 40 connections, 8 or more
    go to each loop but once in 20000 runs), and /metrics counts every request of both."""
    offsets = f"/tenants/initech/pipeline/{seg(FIX['cdc_pipes'][0][0])}/offsets"
    want = ok_json(get(offsets, token="initech_all"))
    pid = SHIM.proc.pid
    cpu_before = loop_cpu(pid)
    eq(sorted(cpu_before), [f"nilus-loop-{i}" for i in range(LOOPS)], "the loop threads")
    before = metrics_text()

    def five():
        conn = http.client.HTTPConnection("127.0.0.1", SHIM.port, timeout=30)
        try:
            return [get(offsets, token="initech_all", conn=conn) for _ in range(5)]
        finally:
            conn.close()

    for answers in at_once([five] * 40):
        check(isinstance(answers, list), f"a connection failed: {answers!r}")
        for r in answers:
            eq(ok_json(r), want, "each request's own body")
    spent = {name: ns - cpu_before[name] for name, ns in loop_cpu(pid).items()}
    check(min(spent.values()) * 10 >= max(spent.values()) > 0,
          f"a loop served next to nothing: CPU ns {spent}")

    def offsets_answered(text):
        return sum(v for name, labels, v in samples(text) if name == "nilus_manager_http_requests_total"
                   and labels.get("route", "").endswith("/offsets") and labels.get("method") == "GET"
                   and labels.get("status") == "200")
    eq(offsets_answered(metrics_text()) - offsets_answered(before), 200,
       "requests_total counts the 200 requests of both loops")


@test
def a_large_history_post_holds_up_no_other_request():
    """Issue 16: on one loop, small requests on other connections are answered while an
    8 MiB schema-history POST's body is still arriving, and after its last byte before its
    answer (it is checked on a worker thread and stored meanwhile); it commits whole.
    While its statement waits (here for a lock), the reads sent meanwhile, several at once,
    are answered, though the loop has one data connection: the POST's call has a
    connection of its own. The same body cut short is a 400 that stores nothing."""
    shim = Shim("large-body", extra=["--loops", "1", "--threads", "1"])
    shim.start()
    offsets = f"/tenants/initech/pipeline/{seg(FIX['cdc_pipes'][0][0])}/offsets"
    path = url("/tenants/acme/pipeline/eight-mib/schema-history")
    records = [json.dumps({"ddl": f"CREATE TABLE t{i} (id int)", "pad": "y" * 1040000}) for i in range(8)]
    data = json.dumps(history_body("service:v1:eight-mib:public", "big-conn", records)).encode()
    check(7.9 * MIB < len(data) <= 8 * MIB, f"the body is {len(data)} bytes, about 8 MiB")

    def head(body):
        return post_head(path, T["acme_runtime"], f"Content-Length: {len(body)}\r\nConnection: close\r\n")
    small = [http.client.HTTPConnection("127.0.0.1", shim.port, timeout=30) for _ in range(4)]

    def small_round():
        # At once: reads that find a connection busy may be pipelined on it.
        for r in at_once([lambda conn=conn: get(offsets, token="initech_all", conn=conn)
                          for conn in small]):
            check(isinstance(r, Resp), f"a small read: {r!r}")
            eq(ok_json(r), want, "a small read")

    def post_is_running():
        # Its statement, waiting for the lock: on one server, or through a Citus coordinator
        # for the worker where the lock also holds it.
        return db_int("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'nilus-manager' "
                      "AND state = 'active' AND query LIKE '%store_schema_history%'") >= 1
    try:
        want = ok_json(get(offsets, token="initech_all", port=shim.port))
        with Unchanged():
            cut = data[:-1]
            status, reply = raw(head(cut), port=shim.port, body=cut, timeout=60)
            expect_error(parse_reply(reply), 400, "bad_request", mentions=("not valid JSON",))
        with socket.create_connection(("127.0.0.1", shim.port), timeout=60) as big:
            big.sendall(head(data) + data[:-65536])
            for _ in range(3):
                small_round()
            check(not select.select([big], [], [], 0)[0], "the POST was answered before its body was in")
            with HeldLock("cdc_schema_history"):
                big.sendall(data[-65536:])
                rounds = 0
                while not select.select([big], [], [], 0)[0] and not post_is_running():
                    for _ in range(5):
                        small_round()
                    rounds += 5
                for _ in range(3):
                    small_round()
                check(not select.select([big], [], [], 0)[0],
                      "the POST was answered while its table was locked")
            reply = b""
            while chunk := big.recv(65536):
                reply += chunk
        eq(ok_json(parse_reply(reply), 201), {"stored": 8}, "the 8 MiB POST")
        eq(db_int("SELECT count(*) FROM nilus.cdc_schema_history WHERE tenant = 'acme' "
                  "AND pipeline_name = 'eight-mib'"), 8, "its 8 records, committed")
        eq(db_scalar("SELECT md5(history_data) FROM nilus.cdc_schema_history WHERE tenant = 'acme' "
                     "AND pipeline_name = 'eight-mib' AND history_data_seq = 7"),
           hashlib.md5(records[7].encode()).hexdigest(), "the last record's bytes")
        if VERBOSE:
            print(f"8 MiB POST: {rounds} rounds of 4 small reads between its last byte and its wait",
                  file=sys.stderr)
    finally:
        for conn in small:
            conn.close()
        shim.stop()


# ---- the database going away

def pg_ctl(action):
    version, cluster = os.environ.get("PGCLUSTER", "15/regress").split("/")
    done = subprocess.run(["pg_ctlcluster", version, cluster, action, *(["-m", "fast"] if action == "stop" else [])],
                          capture_output=True, text=True)
    check(done.returncode == 0, f"pg_ctlcluster {action}: {short(done.stderr)}")


@test
def database_outage_is_503_then_recovers():
    ok_json(get("/info"))
    run = {"run_id": str(uuid.uuid4()), "resource_id": R_ORDERS, "pipeline_name": "orders-sync",
           "started_at": iso(now_minus(minutes=2))}
    pg_ctl("stop")
    try:
        for _ in range(2):
            expect_error(get("/info"), 503, "unavailable")
            expect_error(get("/tenants/acme/pipelines"), 503, "unavailable")
        expect_error(post("/tenants/acme/pipeline/runs", run), 503, "unavailable")
        eq(request("GET", "/readiness", port=SHIM.metrics_port).status, 503, "readiness while down")
        eq(request("GET", "/health", port=SHIM.metrics_port).status, 200, "liveness while down")
        check(SHIM.alive(), "the shim died with the database")
    finally:
        pg_ctl("start")
    deadline = time.monotonic() + 30
    while True:
        r = get("/info")
        if r.status == 200:
            break
        check(time.monotonic() < deadline, f"no recovery 30 s after the database came back: {r!r}")
        time.sleep(0.25)
    ok_json(get("/tenants/acme/pipelines"))
    eq(request("GET", "/readiness", port=SHIM.metrics_port).status, 200, "readiness after recovery")
    eq(db_run("acme", run["run_id"]), None, "a 503 POST stored nothing")
    eq(ok_json(post("/tenants/acme/pipeline/runs", run))["created"], True, "writes work again")


@test
def sigterm_exits_zero():
    eq(SHIM.stop(), 0, "exit status after SIGTERM")


# ---------------------------------------------------------------- main

def shim_still_running(test):
    """Every test but the one that stops it needs the shim up."""
    if not SHIM.alive() and test is not sigterm_exits_zero:
        raise Failure(f"the shim is not running: {SHIM.log_tail()}")


def start(existing):
    global SHIM
    setup_database()
    make_tokens()
    load_run_fixtures()
    load_cdc_fixtures()
    SHIM = RunningShim(existing) if existing else Shim("shim", extra=["--loops", str(LOOPS)])
    SHIM.start()
    return ()


def stop():
    if SHIM:
        SHIM.stop()


def main(argv):
    global VERBOSE
    VERBOSE, values, words = parse_argv(argv, valued=["--existing"])
    existing = values.get("--existing")
    selected = chosen(TESTS, words, always=[] if existing else [sigterm_exits_zero])
    return run_suite(selected, lambda: start(existing), stop, logs=TMP, verbose=VERBOSE,
                     before=shim_still_running)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
