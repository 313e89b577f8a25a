#!/usr/bin/env python3
"""The fault suite (`make check-faults`): nilus-manager and PostgreSQL under the
faults of issue 14, over real sockets against the real shim and a real cluster.

- PostgreSQL stopped fast and immediately under a write load, the shim killed
  with SIGKILL and started again, a lock held on the tables the calls need:
  during each fault the shim answers 503 or 504 (never 500, never a hang),
  recovers without a restart (but for SIGKILL), and every write it
  acknowledged is stored (acknowledged ids counted against stored rows).
- Health during a held lock: API /health and /info and /readiness answer.
- 1,000 slow connections (and 200 silent ones) from other addresses: other
  clients are still served.
(Clients that do not read a large answer are a case of the HTTP suite, in
`make test`.)

Run inside `pg_virtualenv -t` with the extension installed (`make install`);
test/faults/run.sh does both.  Reuses the HTTP suite's fixtures and client:
    python3 test/faults/run.py [-v] [substring ...]
It prints one line per failing case and ends with `N passed, M failed`.
"""

import collections
import importlib.util
import os
import resource
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "test" / "lib"))
from suite import Failure, check, chosen, parse_argv, registry, run_suite, short  # noqa: E402

_spec = importlib.util.spec_from_file_location("http_suite", REPO / "test" / "http" / "run.py")
h = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(h)

API_PATH = h.API
RUNS_PIPELINE = "fault-writes"
CDC_PIPELINE = "fault-cdc"
TIMEOUT = 2                 # --request-timeout of the shims that face a held lock

CASES, case = registry()


# ---------------------------------------------------------------- the pieces

def pg_ctl(action, mode=None):
    version, cluster = os.environ.get("PGCLUSTER", "15/regress").split("/")
    done = subprocess.run(["pg_ctlcluster", version, cluster, action] + (["-m", mode] if mode else []),
                          capture_output=True, text=True)
    check(done.returncode == 0, f"pg_ctlcluster {action}: {short(done.stderr)}")


class Answers:
    """What the shim answered, with when each call was sent and answered; thread-safe."""

    def __init__(self):
        self.lock = threading.Lock()
        self.all = []               # (sent, answered, status or the OSError's name)

    def record(self, call):
        """Runs call() -> Resp; returns it, or None when the connection failed."""
        sent = time.monotonic()
        try:
            r = call()
            outcome = r.status
        except OSError as e:
            r, outcome = None, type(e).__name__
        with self.lock:
            self.all.append((sent, time.monotonic(), outcome))
        return r

    def during(self, start, end):
        """Statuses of the calls sent and answered within [start, end]."""
        with self.lock:
            return [o for s, e, o in self.all if s >= start and e <= end]

    def longest(self, start, end):
        with self.lock:
            return max((e - s for s, e, _ in self.all if s >= start and e <= end), default=0)


class Clients:
    """Threads that repeat a call until stopped; with clients: ..."""

    def __init__(self, count, call):
        self.answers = Answers()
        self.running = True
        self.threads = [threading.Thread(target=self.loop, args=(i, call)) for i in range(count)]

    def loop(self, i, call):
        n = i
        while self.running:
            if self.answers.record(lambda: call(n)) is None:
                time.sleep(0.05)
            n += len(self.threads)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.running = False
        for t in self.threads:
            t.join(60)


class Writers(Clients):
    """POSTs of runs and offset batches, each with fresh ids; keeps the ids the shim
    acknowledged (2xx)."""

    def __init__(self, shim, count=4):
        self.shim = shim
        self.acked_runs = []
        self.acked_offsets = []
        super().__init__(count, self.write)

    def write(self, n):
        if n % 2:
            run_id = str(uuid.uuid4())
            body = {"run_id": run_id, "resource_id": "workflow:v1:fault-writes:public",
                    "pipeline_name": RUNS_PIPELINE, "started_at": h.iso(h.datetime.now(h.UTC))}
            r = h.post("/tenants/acme/pipeline/runs", body, port=self.shim.port, timeout=30)
            if r.status == 200:
                self.acked_runs.append(run_id)
            return r
        ids = [str(uuid.uuid4()) for _ in range(3)]
        body = {"resource_id": "service:v1:fault-cdc:public", "connector_name": "fault-connector",
                "offsets": [{"offset_key": f"k{i}", "offset_val": f'{{"lsn": {n}}}', "id": ids[i]}
                            for i in range(3)]}
        r = h.post(f"/tenants/acme/pipeline/{CDC_PIPELINE}/offsets", body, port=self.shim.port,
                   timeout=30)
        if r.status == 201:
            self.acked_offsets.extend(ids)
        return r

    def acknowledged(self):
        return len(self.acked_runs) + len(self.acked_offsets)


def check_every_acknowledged_write_stored(writers):
    runs = set(h.psql(f"SELECT run_id FROM nilus.pipeline_run WHERE tenant = 'acme' "
                      f"AND pipeline_name = {h.lit(RUNS_PIPELINE)}").split())
    offsets = set(h.psql(f"SELECT id FROM nilus.cdc_offset WHERE tenant = 'acme' "
                         f"AND pipeline_name = {h.lit(CDC_PIPELINE)}").split())
    lost_runs = set(writers.acked_runs) - runs
    lost_offsets = set(writers.acked_offsets) - offsets
    check(writers.acknowledged() > 0, "no write was acknowledged at all")
    check(not lost_runs and not lost_offsets,
            f"acknowledged but not stored: {len(lost_runs)} of {len(writers.acked_runs)} runs, "
            f"{len(lost_offsets)} of {len(writers.acked_offsets)} offsets")
    return writers.acknowledged()


def wait_for_writes(writers, after, within, what):
    """Fails unless a write is acknowledged in the `within` seconds after `after`."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if any(o in (200, 201) for o in writers.answers.during(after, time.monotonic())):
            return time.monotonic() - after
        time.sleep(0.1)
    raise Failure(f"no write acknowledged within {within} s after {what}: "
                    f"{collections.Counter(writers.answers.during(after, time.monotonic()))}")


def outage_under_writes(mode):
    shim = h.Shim(f"stop-{mode}")
    shim.start()
    pid = shim.proc.pid
    try:
        with Writers(shim) as writers:
            wait_for_writes(writers, time.monotonic(), 10, "the start")
            before = writers.acknowledged()
            pg_ctl("stop", mode)
            down = time.monotonic()
            try:
                time.sleep(2)
                ready = h.request("GET", "/readiness", port=shim.metrics_port, timeout=5).status
                alive = h.request("GET", "/health", port=shim.metrics_port, timeout=5).status
                time.sleep(0.5)
                during = writers.answers.during(down + 0.5, time.monotonic())
            finally:
                pg_ctl("start")
            up = time.monotonic()
            recovered = wait_for_writes(writers, up, 30, f"PostgreSQL came back ({mode} stop)")
            time.sleep(1)
        h.eq(ready, 503, "/readiness while the database is down")
        h.eq(alive, 200, "the metrics /health while the database is down")
        check(during and set(during) <= {503},
                f"writes while the database was down: {collections.Counter(during)} (want 503 only)")
        check(shim.alive() and shim.proc.pid == pid, "the shim did not survive the outage")
        statuses = collections.Counter(o for _, _, o in writers.answers.all)
        check(set(statuses) <= {200, 201, 503}, f"statuses: {statuses}")
        stored = check_every_acknowledged_write_stored(writers)
        return (f"{mode} stop: {before} acknowledged before, {len(during)} writes 503 while down, "
                f"recovered {recovered:.1f} s after start, {stored} acknowledged, all stored")
    finally:
        shim.stop()


# ---------------------------------------------------------------- cases

@case
def postgres_fast_stop_under_writes():
    return outage_under_writes("fast")


@case
def postgres_immediate_stop_under_writes():
    return outage_under_writes("immediate")


@case
def shim_killed_with_sigkill_under_writes():
    shim = h.Shim("killed")
    shim.start()
    try:
        with Writers(shim) as writers:
            wait_for_writes(writers, time.monotonic(), 10, "the start")
            time.sleep(1)
            shim.proc.kill()
            shim.proc.wait()
            time.sleep(1)
            shim.start()
            wait_for_writes(writers, time.monotonic(), 20, "the restart")
            time.sleep(1)
        statuses = collections.Counter(o for _, _, o in writers.answers.all)
        check(all(o in (200, 201) or isinstance(o, str) for o in statuses), f"statuses: {statuses}")
        stored = check_every_acknowledged_write_stored(writers)
        failed = sum(n for o, n in statuses.items() if isinstance(o, str))
        return f"SIGKILL: {failed} writes cut off, {stored} acknowledged, all stored"
    finally:
        shim.stop()


def probe_while(shim, seconds):
    """Polls API /health, /info and /readiness for `seconds`; returns (what, status, seconds)
    of each poll."""
    polls = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for what, call in (("API /health", lambda: h.get("/health", port=shim.port, timeout=10)),
                           ("API /info", lambda: h.get("/info", port=shim.port, timeout=10)),
                           ("/readiness", lambda: h.request("GET", "/readiness",
                                                            port=shim.metrics_port, timeout=10))):
            started = time.monotonic()
            try:
                status = call().status
            except OSError as e:
                status = type(e).__name__
            polls.append((what, status, time.monotonic() - started))
        time.sleep(0.2)
    return polls


@case
def held_lock_under_writes_gives_504_and_probes_answer():
    shim = h.Shim("lock", extra=["--request-timeout", str(TIMEOUT)])
    shim.start()
    listing = h.url("/tenants/acme/pipelines", {"run_as_user": "alice", "resource_id": h.R_ORDERS})
    read = lambda n: h.request("GET", listing, token=h.T["acme_all"], port=shim.port, timeout=30)
    try:
        with Writers(shim) as writers, Clients(4, read) as readers:
            wait_for_writes(writers, time.monotonic(), 10, "the start")
            with h.HeldLock("pipeline_run", "cdc_offset", "run_rollup_tenant"):
                locked = time.monotonic()
                polls = probe_while(shim, 3 * TIMEOUT)
                released = time.monotonic()
            recovered = wait_for_writes(writers, released, 10, "the lock was released")
            time.sleep(0.5)
            after = readers.answers.during(released + recovered, time.monotonic())
        inside = writers.answers.during(locked, released) + readers.answers.during(locked, released)
        longest = max(writers.answers.longest(locked, released),
                      readers.answers.longest(locked, released))
        check(inside and set(inside) <= {504},
                f"calls during the held lock: {collections.Counter(inside)} (want 504 only)")
        check(longest <= TIMEOUT + 1, f"a call during the lock took {longest:.1f} s "
                                        f"(--request-timeout {TIMEOUT})")
        slow = [p for p in polls if p[1] != 200 or p[2] > 1]
        check(not slow, f"probes during the lock not 200 within 1 s: {slow[:5]}")
        check(after and set(after) == {200}, f"reads after the lock: {collections.Counter(after)}")
        stored = check_every_acknowledged_write_stored(writers)
        return (f"held lock: {len(inside)} calls 504 within {longest:.1f} s, {len(polls)} probes "
                f"200, writes again {recovered:.1f} s after release, {stored} acknowledged, all stored")
    finally:
        shim.stop()


def raise_file_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    check(hard >= 1400, f"the file limit ({hard}) is below the 1,200 connections of the case")


@case
def slow_connections_leave_room_for_others():
    """Issue 14, item 1: 1,000 connections from one address that send a header line every
    5 s, and 200 from another that send nothing; a client from a third address is served
    within 5 s throughout.  Expected to pass once harden-http's limits land."""
    raise_file_limit()
    shim = h.Shim("slow")
    shim.start()
    slow, silent = [], []
    try:
        head = f"GET {API_PATH}/info HTTP/1.1\r\nHost: x\r\n".encode()
        for _ in range(1000):
            s = socket.create_connection(("127.0.0.1", shim.port), timeout=5,
                                         source_address=("127.0.0.2", 0))
            s.sendall(head)
            slow.append(s)
        for _ in range(200):
            silent.append(socket.create_connection(("127.0.0.1", shim.port), timeout=5,
                                                   source_address=("127.0.0.3", 0)))
        served = []
        deadline = time.monotonic() + 20
        next_line = time.monotonic() + 5
        while time.monotonic() < deadline:
            if time.monotonic() >= next_line:
                for s in slow:
                    try:
                        s.sendall(b"X-Slow: 1\r\n")
                    except OSError:
                        pass
                next_line = time.monotonic() + 5
            started = time.monotonic()
            try:
                status = h.get("/info", port=shim.port, timeout=5).status
            except OSError as e:
                status = type(e).__name__
            served.append((status, round(time.monotonic() - started, 1)))
            time.sleep(0.5)
        bad = [x for x in served if x[0] != 200 or x[1] > 5]
        check(not bad, f"{len(bad)} of {len(served)} requests of another client not served "
                         f"within 5 s during 1,200 slow connections: {bad[:5]}")
        check(shim.alive(), "the shim died")
        return f"1,000 slow + 200 silent connections: {len(served)} requests of another client served"
    finally:
        h.reset(slow + silent)
        shim.stop()


# ---------------------------------------------------------------- main

def setup():
    h.setup_database()
    h.make_tokens()
    return ()


def main(argv):
    verbose, _, words = parse_argv(argv)
    return run_suite(chosen(CASES, words), setup, logs=h.TMP, verbose=verbose)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
